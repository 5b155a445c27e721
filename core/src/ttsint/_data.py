"""The data that flows between blocks (``Utterance``, ``Chunk``) and what a block may ask of its build.

A leaf module: it imports nothing from ttsint, so every other module can depend on it without cycles.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

__all__ = ["Utterance", "Chunk", "BuildContext", "SEGMENT_KEY"]

Utterance = dict[str, Any]
"""Named arrays of one utterance, without a batch dimension (``symbols`` int64 [N], ...): torch tensors
or NumPy arrays, as the block that receives them declares in ``Block.arrays``."""

SEGMENT_KEY = "segment"
"""The utterance's place among the segments of its text (a 0-d int64 array, 0 for the first), put there
by ``Voice.stream``. A later segment is readied while earlier ones play: no listener waits on its first
chunk."""

@dataclass(frozen=True, eq=False)
class Chunk:
    """A run of consecutive frames, time first ([T, C]; a waveform is [samples, 1]).

    ``frames`` is a 2-D torch.Tensor or numpy.ndarray; containers convert it to the kind the next block
    declares (``Block.arrays``).
    """

    frames: Any
    start: int

    def __post_init__(self) -> None:
        if getattr(self.frames, "ndim", None) != 2:
            shape = getattr(self.frames, "shape", None)
            got = f"shape {tuple(shape)}" if shape is not None else type(self.frames).__name__
            raise ValueError(f"Chunk.frames must be 2-D [T, C], got {got}")
        if self.start < 0:
            raise ValueError(f"Chunk.start must be >= 0, got {self.start}")

    @property
    def end(self) -> int:
        """Index one past the chunk's last frame in the utterance."""
        return self.start + int(self.frames.shape[0])

    def __len__(self) -> int:
        return int(self.frames.shape[0])


class BuildContext(Protocol):
    """What ``Block.from_config`` may use while a stack is built: the addon, its networks, nested builds.

    The builder (``ttsint._stack``) provides the implementation; blocks depend only on this shape.
    """

    addon: Any
    """The ``ttsint.Addon`` being built, or None for a stack built without one."""
    device: Any
    """The torch.device this block's settings ask for (the CPU by default); reading it imports torch."""
    path: str
    """This block's config path, e.g. ``stack[0].streamable_block``."""

    def build(self, spec: Any, key: str, kind: type | None = None) -> Any:
        """Build a nested spec found under ``key`` (e.g. "sequence_block" or "stack[1]")."""
        ...

    def network(self, role: str, name: str | None = None) -> Any:
        """The addon's ``ttsint.Network`` called ``name``, else its only one of ``role``, on its runtime."""
        ...

    def networks(self, role: str) -> list[Any]:
        """All of the addon's networks of ``role``, in config order, each on its runtime."""
        ...

    def bind(self, network: Any) -> Any:
        """``network`` on the runtime and device that the voice, the blocks and the addon choose for it.

        A block that takes an addon's network any other way runs it on torch on the CPU, whatever the
        config says; ``network``, ``networks`` and ``bind`` are the ways to take one.
        """
        ...

    def error(self, message: str, hint: str | None = None, key: str | None = None) -> Exception:
        """A ConfigError at this block's path (or at one of its keys), for ``from_config`` to raise."""
        ...

"""Vocoders turn mel frames into a waveform [samples, 1], checked against the addon's analysis.

``NetworkVocoder`` shows the room left for neural vocoders: it runs an addon network of role
"vocoder" over context windows and keeps the samples of each window's central frames.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from ttsint import (
    BuildContext,
    Chunk,
    Network,
    ParameterError,
    StreamableBlock,
    StreamError,
    Utterance,
    WindowedNetworkBlock,
    concat_chunks,
    cut,
    walk,
)

if TYPE_CHECKING:
    import torch

__all__ = ["Vocoder", "NetworkVocoder", "mel_input"]


class Vocoder(StreamableBlock):
    """Base of the mel-to-waveform blocks: ``hop_length`` samples per mel frame of ``n_mels`` bins.

    ``addon_keys`` are parameters an addon declares at its top level; ``from_config`` fills them from
    the addon and rejects a config value that disagrees with it, naming both.
    """

    consumes = "mel"
    produces = "waveform"
    addon_keys: ClassVar[tuple[str, ...]] = ("sample_rate", "hop_length", "n_mels")
    context_params = ("sample_rate", "hop_length", "n_mels")

    def __init__(self, sample_rate: int, hop_length: int, n_mels: int) -> None:
        for name, value in (("sample_rate", sample_rate), ("hop_length", hop_length), ("n_mels", n_mels)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ParameterError(name, f"must be a positive integer, got {value!r}")
        self.sample_rate = sample_rate
        self.hop_length = hop_length
        self.n_mels = n_mels

    @property
    def hop(self) -> int:
        """Samples per mel frame."""
        return self.hop_length

    @classmethod
    def addon_params(cls, params: dict[str, Any], ctx: BuildContext) -> dict[str, Any]:
        """``params`` completed from the addon's top-level keys; a ConfigError where they disagree."""
        params = dict(params)
        config = ctx.addon.config if ctx.addon is not None else {}
        for key in cls.addon_keys:
            if key not in config:
                continue
            if key in params and params[key] != config[key]:
                raise ctx.error(
                    f"{cls.type_name} has {key}={params[key]!r}, but the addon "
                    f"{ctx.addon.name!r} declares {key}={config[key]!r}",
                    f"a vocoder must use the addon's analysis: remove {key!r} from this block "
                    "or make the two agree",
                    key=key,
                )
            params[key] = config[key]
        missing = [k for k in cls.context_params if k not in params]
        if missing:
            raise ctx.error(
                f"{cls.type_name} needs {', '.join(missing)}, which come from the addon, and there is none"
                if ctx.addon is None
                else f"{cls.type_name} needs {', '.join(missing)}, which the addon does not declare",
                "give them in the block's config",
                key=missing[0],
            )
        return params

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> Vocoder:
        return cls(**cls.addon_params(params, ctx))

    def _upstream(self, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        """Upstream chunks, checked to be mel frames of this vocoder's width."""
        where = getattr(self, "config_path", self.type_name)
        if upstream is None:
            raise StreamError(
                f"{where}: {self.type_name} turns mel frames into audio; put it after a block "
                "that makes them (e.g. Decoder)"
            )
        for chunk in upstream:
            if chunk.frames.shape[1] != self.n_mels:
                raise StreamError(
                    f"{where}: {self.type_name} expects {self.n_mels} mel bins per frame, got "
                    f"{chunk.frames.shape[1]} in frames {chunk.start}-{chunk.end - 1}"
                )
            yield chunk

    def vocode(self, mel: torch.Tensor) -> torch.Tensor:
        """A whole utterance's mel [T, n_mels] to samples [T * hop_length, 1]."""
        return concat_chunks(self.stream({}, iter([Chunk(frames=mel, start=0)])))

    def describe(self) -> str:
        return (f"{self.type_name} (sample_rate={self.sample_rate}, hop_length={self.hop_length}, "
                f"n_mels={self.n_mels})")


class NetworkVocoder(WindowedNetworkBlock, Vocoder):
    """Runs the addon's network of role "vocoder" (mel [T, n_mels] in, [T * hop] samples out) in windows.

    With ``context_frames`` at least the network's receptive field (the default), the streamed waveform
    equals the whole-utterance one.
    """

    produces = "waveform"
    network_role = "vocoder"
    context_params = ("network", "sample_rate", "hop_length", "n_mels")

    def __init__(
        self,
        network: Network,
        sample_rate: int,
        hop_length: int,
        n_mels: int,
        chunk_frames: int = 32,
        first_chunk_frames: int | None = 8,
        context_frames: int | None = None,
        exact: bool = True,
        chunk_growth: float | None = None,
    ) -> None:
        Vocoder.__init__(self, sample_rate, hop_length, n_mels)
        WindowedNetworkBlock.__init__(self, network, chunk_frames, first_chunk_frames, context_frames, exact,
                                      chunk_growth)

    @property
    def output_rate(self) -> int:  # type: ignore[override]
        return self.hop_length

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> NetworkVocoder:
        return super().from_config(cls.addon_params({"network": None, **params}, ctx), ctx)

    def upstream_frames(self, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        return self._upstream(upstream)

    def to_frames(self, output: torch.Tensor) -> torch.Tensor:
        return output.reshape(-1, 1)

    def describe(self) -> str:
        return WindowedNetworkBlock.describe(self)


class _Passthrough(StreamableBlock):
    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        if upstream is None:
            raise StreamError("nothing feeds the vocoder")
        yield from upstream


def mel_input(block: StreamableBlock) -> StreamableBlock | None:
    """A block that streams what the last Vocoder inside ``block`` consumes, or None if there is no vocoder.

    Built blocks keep no per-utterance state, so the returned tree reuses them as they are.
    """
    vocoders = [node for node in walk(block) if isinstance(node.block, Vocoder)]
    if not vocoders:
        return None
    before = cut(block, vocoders[-1].path)
    return before if isinstance(before, StreamableBlock) else _Passthrough()

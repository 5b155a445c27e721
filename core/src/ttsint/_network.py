"""Exported networks: loaded from .pt2 or .pt files, run by tensor name, ordered by their inputs."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from ._errors import AddonError, ConfigError
from ._integrity import GraphSignature, check_digest, check_signature, graph_signature
from ._runtimes import Executable, Runtime
from ._safety import check_archive, confined_file
from ._torch_runtime import TorchRuntime

__all__ = ["Network", "network_levels", "load_network"]


def _ones_mask(net: Network, tensors: Mapping[str, torch.Tensor], batched: bool) -> torch.Tensor:
    """All-ones float mask over the positions of the first other input, batched ([1, T] when it is not)."""
    first = next((tensors[n] for n in net.inputs if n != "mask" and n in tensors), None)
    if first is None:
        raise AddonError(f"network {net.name!r} needs a 'mask' but has no other input to size it from")
    shape = first.shape[:2] if batched else (1, first.shape[0])
    return torch.ones(shape, dtype=torch.float32, device=first.device)


@dataclass
class Network:
    """One exported network with named inputs and outputs, from .pt2 (torch.export) or .pt (TorchScript).

    The input name ``mask`` is reserved: a float mask over positions (1 real, 0 padding). When the
    caller gives none, ``run`` passes all ones, which is what unpadded input means.
    """

    name: str
    role: str
    inputs: list[str]
    outputs: list[str]
    path: Path
    module: Any
    receptive_field: int | None = None
    config: dict[str, Any] = field(default_factory=dict)
    signature: GraphSignature | None = field(default=None, repr=False)
    program: Any = field(default=None, repr=False)
    """The torch.export ExportedProgram the module came from (None for TorchScript); runtimes convert it."""
    executable: Executable | None = field(default=None, repr=False, compare=False)
    """What runs it: set when a block binds the network to a runtime; torch on the CPU until then."""

    def run(self, tensors: Mapping[str, torch.Tensor], *, batched: bool = False) -> dict[str, torch.Tensor]:
        """Call the network with tensors picked by input name; unbatched tensors get a batch of one.

        Inputs on another device than the runtime's are moved there; outputs stay on the runtime's device.
        """
        # Runs once per chunk for decoders and vocoders, so it does each input's work in one pass.
        inputs = self.inputs
        missing = [n for n in inputs if n not in tensors and n != "mask"]
        if missing:
            if "mask" in inputs and "mask" not in tensors:
                _ones_mask(self, tensors, batched)  # its error first, as when the mask was made up front
            raise AddonError(f"network {self.name!r} needs input(s) {missing}; available: {sorted(tensors)}")
        executable = self.executable or self._default_executable()
        device = executable.tensor_device
        wants = self.signature.input_dtypes if self.signature is not None else (None,) * len(inputs)
        args: dict[str, torch.Tensor] = {}
        for n, want in zip(inputs, wants, strict=True):
            t = tensors.get(n)
            if t is None:  # the mask nobody gave: all ones, made with its batch dimension
                t = _ones_mask(self, tensors, batched)
            elif not batched:
                t = t.unsqueeze(0)
            if want is not None and t.dtype != want:
                raise AddonError(f"network {self.name!r} takes {n!r} as {want}, but was given {t.dtype}")
            args[n] = t if t.device == device else t.to(device)
        out = executable(args)
        return out if batched else {n: t.squeeze(0) for n, t in out.items()}

    def bind(self, executable: Executable) -> Network:
        """This network run by ``executable`` (what a runtime's ``load`` returned for it)."""
        return dataclasses.replace(self, executable=executable)

    @property
    def runtime(self) -> Runtime:
        """The runtime that runs this network."""
        return (self.executable or self._default_executable()).runtime

    def _default_executable(self) -> Executable:
        if self.executable is None:
            self.executable = TorchRuntime("cpu").load(self)
        return self.executable

    def input_specs(self) -> dict[str, tuple[tuple[int | None, ...], torch.dtype]] | None:
        """Each input's shape (None for a dynamic dimension) and dtype, read from a torch.export graph.

        Fixed-shape backends use it to compile ahead of the first utterance; None when the format
        does not record shapes (TorchScript).
        """
        graph = getattr(self.module, "graph", None)
        placeholders = [n for n in getattr(graph, "nodes", []) if n.op == "placeholder"]
        vals = [n.meta.get("val") for n in placeholders]
        if len(vals) != len(self.inputs) or any(v is None or not hasattr(v, "shape") for v in vals):
            return None
        return {name: (tuple(d if isinstance(d, int) else None for d in v.shape), v.dtype)
                for name, v in zip(self.inputs, vals, strict=True)}

    def __repr__(self) -> str:
        rf = f", receptive_field={self.receptive_field}" if self.receptive_field is not None else ""
        return f"Network({self.name!r}, role={self.role!r}, {self.inputs} -> {self.outputs}{rf})"


def network_levels(networks: Sequence[Network]) -> list[list[Network]]:
    """Group networks so each level reads only tensors made by earlier levels (or given from outside).

    Networks within a level are independent of each other and may run in parallel; ValueError on a cycle.
    """
    producers = {out: net.name for net in networks for out in net.outputs}
    levels: list[list[Network]] = []
    done: set[str] = set()
    pending = list(networks)
    while pending:
        ready = [n for n in pending if all(producers.get(i, n.name) in done | {n.name} for i in n.inputs)]
        if not ready:
            raise ValueError(f"encoder networks {[n.name for n in pending]} depend on each other in a cycle")
        levels.append(ready)
        done.update(n.name for n in ready)
        pending = [n for n in pending if n not in ready]
    return levels


def load_network(name: str, spec: dict[str, Any], directory: Path, source: str) -> Network:
    """Load one entry of an addon's ``networks`` table; errors name ``networks.NAME.*`` in ``source``.

    The file is read once; its digest and contents are checked, then exactly those bytes go to torch.
    """
    at = f"networks.{name}"
    file = confined_file(directory, spec["file"], f"{at}.file", source=source)
    if file.suffix not in (".pt2", ".pt"):
        raise ConfigError(f"{at}.file", f"unsupported network format {file.suffix!r}",
                          "export with torch.export (.pt2) or TorchScript (.pt)", source=source)
    try:
        data = file.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{at}.file", f"cannot read {file}: {exc.strerror}", source=source) from None
    check_digest(spec.get("sha256"), data, file.name, f"{at}.sha256", source)
    check_archive(data, file.suffix, f"{source}: {at}.file: {file.name}")
    try:
        # Weights loaded in a caller's inference mode would be inference tensors, which no runtime can
        # re-export or trace later, in any thread; an addon's networks are the same whoever loads them.
        with torch.inference_mode(False):
            if file.suffix == ".pt2":
                program = torch.export.load(io.BytesIO(data))
                module = program.module()
            else:
                program = module = torch.jit.load(io.BytesIO(data), map_location="cpu")
    except Exception as exc:
        raise AddonError(f"{source}: {at}.file: cannot load {file.name}: "
                         f"{type(exc).__name__}: {exc}") from exc
    signature = graph_signature(program)
    if signature is not None:
        check_signature(signature, spec["inputs"], spec["outputs"], file.name, at, source)
    return Network(name=name, role=spec["role"], inputs=list(spec["inputs"]), outputs=list(spec["outputs"]),
                   path=file, module=module, receptive_field=spec.get("receptive_field"), config=dict(spec),
                   signature=signature, program=program if file.suffix == ".pt2" else None)

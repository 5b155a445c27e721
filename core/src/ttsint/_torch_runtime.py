"""The ``torch`` runtime: the addon's exported program itself, on ``cpu``, ``cuda[:n]`` or ``mps``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import torch

from ._arrays import is_torch, to_numpy, to_torch
from ._runtimes import Executable, ExportedNetwork, Runtime

__all__ = ["TorchRuntime", "TorchExecutable"]


class TorchExecutable(Executable):
    """A torch module on the runtime's device, called under ``torch.inference_mode``.

    Torch tensors in, torch tensors out; NumPy arrays in (from a block that declares ``arrays = "numpy"``),
    NumPy arrays out.
    """

    _MASKS_KEPT = 64
    """Shapes of all-ones masks kept (the windows of a streaming block come in a few)."""

    def __init__(self, network: ExportedNetwork, runtime: Runtime, module: Any) -> None:
        super().__init__(network, runtime)
        self.module = module
        self._on_cpu = runtime.device.type == "cpu"
        # A mask made once serves every call of its shape, unless the program may write to its inputs
        # (a TorchScript module cannot say that it does not).
        program = getattr(network, "program", None)
        self._masks: dict[tuple[int, ...], torch.Tensor] | None = (
            {} if program is not None and not program.graph_signature.user_inputs_to_mutate else None)

    def ones_mask(self, shape: tuple[int, ...], like: Any) -> Any:
        masks = self._masks
        if masks is None:
            return torch.ones(shape, dtype=torch.float32, device=self.runtime.device)
        mask = masks.get(shape)
        if mask is None:
            if len(masks) >= self._MASKS_KEPT:
                masks.clear()
            with torch.inference_mode(False):  # an ordinary tensor, whatever mode the first caller is in
                mask = masks[shape] = torch.ones(shape, dtype=torch.float32, device=self.runtime.device)
        return mask

    def execute(self, tensors: Mapping[str, Any]) -> Sequence[Any]:
        args = [tensors[n] for n in self.network.inputs]
        numpy = False
        for i, a in enumerate(args):
            if type(a) is np.ndarray and self._on_cpu and a.flags.writeable:
                args[i] = torch.from_numpy(a)  # what to_torch does, without asking what it need not
                numpy = True
            elif not is_torch(a):
                args[i] = to_torch(a, self.runtime.device)
                numpy = True
        with torch.inference_mode():
            out = self.module(*args)
        if not numpy:
            return out
        return [o.numpy() if type(o) is torch.Tensor and o.is_cpu and not o.requires_grad else to_numpy(o)
                for o in (out if isinstance(out, tuple | list) else (out,))]


class TorchRuntime(Runtime):
    """Runs the torch.export program (or a TorchScript file) with torch, on the configured device."""

    name = "torch"
    device_types = ("cpu", "cuda", "mps")

    @classmethod
    def check_device(cls, device: Any) -> torch.device:
        return torch.device(str(super().check_device(device)))

    def load(self, network: ExportedNetwork) -> TorchExecutable:
        if self.device.type == "cpu":
            return TorchExecutable(network, self, network.module)  # the module the addon loaded, shared
        program = getattr(network, "program", None)
        if program is not None:
            # Moves weights and the devices recorded in the graph (tensors it creates), not just parameters.
            from torch.export.passes import move_to_device_pass

            return TorchExecutable(network, self, move_to_device_pass(program, self.device).module())
        return TorchExecutable(network, self, torch.jit.load(str(network.path), map_location=self.device))

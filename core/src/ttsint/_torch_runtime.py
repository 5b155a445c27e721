"""The ``torch`` runtime: the addon's exported program itself, on ``cpu``, ``cuda[:n]`` or ``mps``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ._arrays import is_torch, to_numpy, to_torch
from ._runtimes import Executable, ExportedNetwork, Runtime

__all__ = ["TorchRuntime", "TorchExecutable"]


class TorchExecutable(Executable):
    """A torch module on the runtime's device, called under ``torch.inference_mode``.

    Torch tensors in, torch tensors out; NumPy arrays in (from a block that declares ``arrays = "numpy"``),
    NumPy arrays out.
    """

    def __init__(self, network: ExportedNetwork, runtime: Runtime, module: Any) -> None:
        super().__init__(network, runtime)
        self.module = module

    def execute(self, tensors: Mapping[str, Any]) -> Sequence[Any]:
        args = [tensors[n] for n in self.network.inputs]
        numpy = not all(is_torch(a) for a in args)
        if numpy:
            args = [to_torch(a, self.runtime.device) for a in args]
        with torch.inference_mode():
            out = self.module(*args)
        if not numpy:
            return out
        return [to_numpy(o) for o in (out if isinstance(out, tuple | list) else (out,))]


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

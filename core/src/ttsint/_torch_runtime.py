"""The ``torch`` runtime: the addon's exported program itself, on ``cpu``, ``cuda[:n]`` or ``mps``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import torch

from ._runtimes import Executable, ExportedNetwork, Runtime

__all__ = ["TorchRuntime", "TorchExecutable"]


class TorchExecutable(Executable):
    """A torch module on the runtime's device, called under ``torch.inference_mode``."""

    def __init__(self, network: ExportedNetwork, runtime: Runtime, module: Any) -> None:
        super().__init__(network, runtime)
        self.module = module

    def execute(self, tensors: Mapping[str, torch.Tensor]) -> Sequence[torch.Tensor]:
        with torch.inference_mode():
            return self.module(*[tensors[n] for n in self.network.inputs])


class TorchRuntime(Runtime):
    """Runs the torch.export program (or a TorchScript file) with torch, on the configured device."""

    name = "torch"
    device_types = ("cpu", "cuda", "mps")

    def load(self, network: ExportedNetwork) -> TorchExecutable:
        if self.device.type == "cpu":
            return TorchExecutable(network, self, network.module)  # the module the addon loaded, shared
        program = getattr(network, "program", None)
        if program is not None:
            # Moves weights and the devices recorded in the graph (tensors it creates), not just parameters.
            from torch.export.passes import move_to_device_pass

            return TorchExecutable(network, self, move_to_device_pass(program, self.device).module())
        return TorchExecutable(network, self, torch.jit.load(str(network.path), map_location=self.device))

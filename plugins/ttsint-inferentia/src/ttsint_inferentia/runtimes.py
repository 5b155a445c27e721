"""Fixed-shape runtimes: ``cpu-static`` (torch.export with static shapes) and ``neuron`` (torch_neuronx).

Each compiles a network once per input shape, caches the result on disk, and is meant for blocks that
pad their inputs to a few fixed shapes (NeuronEncoders, NeuronDecoder).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from ttsint import Network, Runtime, artifact_digest, default_cache_dir, write_atomic

from .shapes import PerShapeExecutable, Signature, format_signature, signature

__all__ = ["StaticRuntime", "CpuStaticRuntime", "NeuronRuntime", "StaticExecutable", "Signature", "signature",
           "format_signature"]


class StaticExecutable(PerShapeExecutable):
    """One network on a fixed-shape runtime: a module per input signature, from memory, disk, or compiled now.

    Artifacts are keyed by the network file's SHA-256, the input shapes and dtypes, the runtime and its
    toolchain version, so another process with the same cache directory compiles nothing.
    """

    runtime: StaticRuntime

    def execute(self, tensors: Mapping[str, torch.Tensor]) -> Any:
        args = tuple(tensors[n] for n in self.network.inputs)
        module = self.program(signature(args), lambda: self._load_or_compile(args))
        with torch.inference_mode():
            return module(*args)

    def artifact_path(self, args: Sequence[torch.Tensor]) -> Path:
        """Where the compiled artifact for these inputs lives in the cache directory."""
        runtime = self.runtime
        sig = signature(args)
        digest = artifact_digest(self.network.path, inputs=sig, backend=runtime.name,
                                 toolchain=runtime.toolchain())
        shape = "x".join(map(str, sig[0][0])) if sig else "none"
        return runtime.cache_dir / f"{self.network.path.stem}-{shape}-{runtime.name}-{digest}{runtime.suffix}"

    def _load_or_compile(self, args: tuple[torch.Tensor, ...]) -> tuple[Any, bool]:
        """(module, compiled): read back from the cache directory, else compiled now and saved there."""
        path = self.artifact_path(args)
        if path.is_file():
            try:
                return self.runtime.load_artifact(path), False
            except Exception:
                pass  # a truncated or foreign file: compile again and replace it
        compiled = self.runtime.compile(self.network, args)
        write_atomic(path, lambda tmp: self.runtime.save_artifact(compiled, tmp))
        return self.runtime.runnable(compiled), True


class StaticRuntime(Runtime):
    """Base of the runtimes that compile one program per input shape; ``cache_dir`` holds the programs.

    Artifacts are read back only through ``torch.export.load`` or ``torch.jit.load``, never by
    unpickling, so a cache directory cannot run code it was not meant to.
    """

    fixed_shapes = True
    suffix: ClassVar[str] = ".pt"

    def __init__(self, device: str | torch.device = "cpu", cache_dir: str | Path | None = None) -> None:
        super().__init__(device)
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()

    def toolchain(self) -> str:
        """Part of the cache key: artifacts from another toolchain version are not reused."""
        return f"torch-{torch.__version__}"

    def load(self, network: Network) -> StaticExecutable:
        return StaticExecutable(network, self)

    def compile(self, network: Network, example_inputs: tuple[torch.Tensor, ...]) -> Any:
        """Return something ``save_artifact`` can write, compiled for exactly these input shapes."""
        raise NotImplementedError(f"{type(self).__name__} must implement compile(network, example_inputs)")

    def save_artifact(self, compiled: Any, path: Path) -> None:
        torch.jit.save(compiled, str(path))

    def load_artifact(self, path: Path) -> Any:
        return torch.jit.load(str(path), map_location="cpu")

    def runnable(self, compiled: Any) -> Any:
        """The callable form of what ``compile`` returned (the same object unless overridden)."""
        return compiled


class CpuStaticRuntime(StaticRuntime):
    """Re-exports each network with torch.export and static shapes, one program per shape, run on the CPU.

    It behaves like an accelerator that only runs compiled shapes, so fixed-shape blocks can be tested
    and measured on any machine.
    """

    name = "cpu-static"
    suffix = ".pt2"

    def compile(self, network: Network, example_inputs: tuple[torch.Tensor, ...]) -> Any:
        # inference_mode is per thread: a caller's tensors may be inference tensors, which export cannot
        # trace outside that mode. Normal copies made with the mode off trace the same in any thread.
        with torch.inference_mode(False), torch.no_grad():
            args = tuple(t.clone() for t in example_inputs)
            return torch.export.export(network.module, args)

    def save_artifact(self, compiled: Any, path: Path) -> None:
        torch.export.save(compiled, str(path))

    def load_artifact(self, path: Path) -> Any:
        return torch.export.load(str(path)).module()

    def runnable(self, compiled: Any) -> Any:
        return compiled.module()


class NeuronRuntime(StaticRuntime):
    """Compiles each shape with ``torch_neuronx.trace`` for AWS Inferentia/Trainium NeuronCores.

    Tensors stay in host memory (``device = "neuron"`` or the default); torch_neuronx moves them.
    """

    name = "neuron"
    device_types = ("neuron",)

    def __init__(self, device: str | torch.device = "neuron", cache_dir: str | Path | None = None) -> None:
        self.neuronx = _import_neuronx()
        super().__init__(device, cache_dir)

    @classmethod
    def devices(cls) -> list[str]:
        return ["neuron"] if _import_neuronx() is not None else []

    @classmethod
    def check_device(cls, device: str | torch.device) -> torch.device:
        if str(device) not in ("neuron", "cpu"):
            raise ValueError(f"runtime 'neuron' runs on NeuronCores (device \"neuron\"), not {str(device)!r}")
        if _import_neuronx() is None:
            raise ValueError("runtime 'neuron' needs torch_neuronx, which cannot be imported here "
                             "(pip install ttsint-inferentia[neuron] on an Inferentia host, or use "
                             "runtime \"cpu-static\")")
        return torch.device("cpu")

    @property
    def device_name(self) -> str:
        return "neuron"

    def toolchain(self) -> str:
        return f"{super().toolchain()}-neuronx-{getattr(self.neuronx, '__version__', 'unknown')}"

    def compile(self, network: Network, example_inputs: tuple[torch.Tensor, ...]) -> Any:
        with torch.no_grad():
            return self.neuronx.trace(network.module, example_inputs)

    def load_artifact(self, path: Path) -> Any:
        # Importing torch_neuronx (done in __init__) registers the Neuron ops the saved graph calls.
        return torch.jit.load(str(path))


def _import_neuronx() -> Any:
    try:
        return importlib.import_module("torch_neuronx")
    except ImportError:
        return None

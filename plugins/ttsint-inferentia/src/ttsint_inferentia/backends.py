"""Backends compile a network for fixed input shapes: ``cpu-static``, or ``neuron`` on Inferentia."""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import torch
from ttsint import StreamError

__all__ = ["Backend", "CpuStaticBackend", "NeuronBackend", "ShapeError", "StaticModule", "get_backend",
           "BACKENDS"]

Signature = tuple[tuple[tuple[int, ...], str], ...]
"""(shape, dtype) of each positional input a module was compiled for."""


def signature(inputs: Sequence[torch.Tensor]) -> Signature:
    return tuple((tuple(int(d) for d in t.shape), str(t.dtype).removeprefix("torch.")) for t in inputs)


def format_signature(sig: Signature) -> str:
    return ", ".join(f"{dtype}[{'x'.join(map(str, shape))}]" for shape, dtype in sig)


class ShapeError(StreamError):
    """A compiled module was called with shapes it was not compiled for."""


class StaticModule:
    """A compiled module plus the one input signature it accepts; any other shape is refused up front.

    Neuron refuses other shapes itself, with a backend-specific message; the check is made here so
    every backend refuses them the same clear way.
    """

    def __init__(self, module: Any, name: str, sig: Signature, backend: str) -> None:
        self.module = module
        self.name = name
        self.signature = sig
        self.backend = backend

    def __call__(self, *args: torch.Tensor) -> Any:
        got = signature(args)
        if got != self.signature:
            raise ShapeError(
                f"network {self.name!r} was compiled by the {self.backend} backend for inputs "
                f"({format_signature(self.signature)}) and cannot run ({format_signature(got)}); "
                "fixed-shape backends only run the shapes they were compiled for: pad to a compiled bucket"
            )
        return self.module(*args)

    def __repr__(self) -> str:
        return f"StaticModule({self.name!r}, {self.backend}, ({format_signature(self.signature)}))"


class Backend:
    """Compiles a module for one set of example inputs, and saves and loads the result.

    Artifacts are read back only through ``torch.export.load`` or ``torch.jit.load``, never by
    unpickling, so a cache directory cannot run code it was not meant to.
    """

    name: ClassVar[str] = "backend"
    suffix: ClassVar[str] = ".pt"

    def version(self) -> str:
        """Part of the cache key: artifacts from another toolchain version are not reused."""
        return f"torch-{torch.__version__}"

    def compile(self, module: Any, example_inputs: tuple[torch.Tensor, ...]) -> Any:
        """Return something ``save`` can write, compiled for exactly these input shapes."""
        raise NotImplementedError(f"{type(self).__name__} must implement compile(module, example_inputs)")

    def save(self, compiled: Any, path: Path) -> None:
        torch.jit.save(compiled, str(path))

    def load(self, path: Path) -> Any:
        """Return a callable module from a saved artifact."""
        return torch.jit.load(str(path), map_location="cpu")

    def runnable(self, compiled: Any) -> Any:
        """The callable form of what ``compile`` returned (the same object unless overridden)."""
        return compiled


class CpuStaticBackend(Backend):
    """Re-exports the network with torch.export and static shapes, one program per bucket, run on the CPU."""

    name = "cpu-static"
    suffix = ".pt2"

    def compile(self, module: Any, example_inputs: tuple[torch.Tensor, ...]) -> Any:
        with torch.no_grad():
            return torch.export.export(module, example_inputs)

    def save(self, compiled: Any, path: Path) -> None:
        torch.export.save(compiled, str(path))

    def load(self, path: Path) -> Any:
        return torch.export.load(str(path)).module()

    def runnable(self, compiled: Any) -> Any:
        return compiled.module()


class NeuronBackend(Backend):
    """Compiles each bucket with ``torch_neuronx.trace`` for AWS Inferentia/Trainium NeuronCores."""

    name = "neuron"

    def __init__(self) -> None:
        self.neuronx = _import_neuronx()
        if self.neuronx is None:
            raise ValueError("backend 'neuron' needs torch_neuronx, which cannot be imported here "
                             "(pip install ttsint-inferentia[neuron] on an Inferentia host, "
                             "or use 'cpu-static')")

    def version(self) -> str:
        return f"{super().version()}-neuronx-{getattr(self.neuronx, '__version__', 'unknown')}"

    def compile(self, module: Any, example_inputs: tuple[torch.Tensor, ...]) -> Any:
        with torch.no_grad():
            return self.neuronx.trace(module, example_inputs)

    def load(self, path: Path) -> Any:
        # Importing torch_neuronx (done in __init__) registers the Neuron ops the saved graph calls.
        return torch.jit.load(str(path))


BACKENDS: dict[str, type[Backend]] = {"cpu-static": CpuStaticBackend, "neuron": NeuronBackend}


def _import_neuronx() -> Any:
    try:
        return importlib.import_module("torch_neuronx")
    except ImportError:
        return None


def get_backend(name: str | Backend) -> Backend:
    """A backend by name; "auto" is ``neuron`` when torch_neuronx imports, else ``cpu-static``."""
    if isinstance(name, Backend):
        return name
    if name == "auto":
        name = "neuron" if _import_neuronx() is not None else "cpu-static"
    if name not in BACKENDS:
        raise ValueError(f"unknown backend {name!r}; choose from {', '.join([*BACKENDS, 'auto'])}")
    return BACKENDS[name]()

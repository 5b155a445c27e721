"""The ``onnxruntime`` runtime: each network converted to ONNX at first use, cached, run by ONNX Runtime."""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import onnxruntime as ort
import torch
from ttsint import Executable, Network, Runtime, default_cache_dir, write_atomic

from .convert import convert, onnx_path

__all__ = ["OnnxRuntime", "OnnxExecutable"]

_CONVERT_LOCK = threading.Lock()  # the exporter is not re-entrant; conversions in one process take turns


class OnnxExecutable(Executable):
    """One ONNX Runtime session; tensors cross as NumPy arrays in host memory."""

    def __init__(self, network: Network, runtime: OnnxRuntime, session: ort.InferenceSession) -> None:
        super().__init__(network, runtime)
        self.session = session

    @property
    def tensor_device(self) -> torch.device:
        return torch.device("cpu")  # the session copies host arrays to the GPU itself under CUDA

    def execute(self, tensors: Mapping[str, torch.Tensor]) -> Sequence[torch.Tensor]:
        feed = {n: np.ascontiguousarray(tensors[n].detach().numpy()) for n in self.network.inputs}
        return [torch.from_numpy(a) for a in self.session.run(self.network.outputs, feed)]


class OnnxRuntime(Runtime):
    """ONNX Runtime's CPU provider, or its CUDA provider for ``device = "cuda[:n]"`` (onnxruntime-gpu).

    ``threads`` sets the threads one network call may use (ONNX Runtime's default: one per core);
    ``cache_dir`` holds the converted graphs (default ``$TTSINT_CACHE_DIR``, else
    ``~/.cache/ttsint/compiled``).
    """

    name = "onnxruntime"
    device_types = ("cpu", "cuda")

    def __init__(self, device: str | torch.device = "cpu", threads: int | None = None,
                 cache_dir: str | Path | None = None) -> None:
        super().__init__(device)
        if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        self.threads = threads
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()

    @classmethod
    def devices(cls) -> list[str]:
        found = super().devices()
        if "CUDAExecutionProvider" not in ort.get_available_providers():
            found = [d for d in found if not d.startswith("cuda")]
        return found

    @classmethod
    def check_device(cls, device: str | torch.device) -> torch.device:
        dev = super().check_device(device)
        if dev.type == "cuda" and "CUDAExecutionProvider" not in ort.get_available_providers():
            raise ValueError(f"device {str(dev)!r}: this onnxruntime has no CUDA provider "
                             f"(providers: {', '.join(ort.get_available_providers())}); "
                             "pip install ttsint-onnx[gpu] (onnxruntime-gpu) or use device = \"cpu\"")
        return dev

    def options(self) -> dict[str, Any]:
        return {"threads": self.threads} if self.threads is not None else {}

    def session_options(self) -> ort.SessionOptions:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        options.log_severity_level = 3  # errors only: ORT warns about every node it leaves on the CPU
        return options

    def providers(self) -> list[Any]:
        if self.device.type == "cuda":
            return [("CUDAExecutionProvider", {"device_id": self.device.index or 0}), "CPUExecutionProvider"]
        return ["CPUExecutionProvider"]

    def load(self, network: Network) -> OnnxExecutable:
        """Open the cached ONNX file, converting the network first when there is none or it is unreadable."""
        path = onnx_path(network, self.cache_dir)
        if path.is_file():
            try:
                session = ort.InferenceSession(str(path), self.session_options(), providers=self.providers())
            except Exception:
                pass  # truncated or foreign: convert again and replace it
            else:
                executable = OnnxExecutable(network, self, session)
                executable.stats.add(cache_hits=1)
                return executable
        with _CONVERT_LOCK:
            write_atomic(path, lambda tmp: convert(network, tmp))
        session = ort.InferenceSession(str(path), self.session_options(), providers=self.providers())
        executable = OnnxExecutable(network, self, session)
        executable.stats.add(conversions=1)
        return executable

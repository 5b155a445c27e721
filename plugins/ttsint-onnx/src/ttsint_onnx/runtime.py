"""The ``onnxruntime`` runtime: a network's shipped ONNX form, or its torch.export program converted to
ONNX at first use and cached; either is checked (digest, inspection) and run by ONNX Runtime.

Opening a shipped or cached ONNX file never deserializes the torch program (``torch.export.load``
takes seconds per network), which is what makes a cold ``ttsint synth`` fast.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import onnxruntime as ort
from ttsint import Executable, Network, Runtime, check_archive, cpu_device, default_cache_dir, write_atomic

from .convert import onnx_path

if TYPE_CHECKING:
    import torch

__all__ = ["OnnxRuntime", "OnnxExecutable"]

_CONVERT_LOCK = threading.Lock()  # the exporter is not re-entrant; conversions in one process take turns


class OnnxExecutable(Executable):
    """One ONNX Runtime session; tensors cross as NumPy arrays in host memory."""

    def __init__(self, network: Network, runtime: OnnxRuntime, session: ort.InferenceSession | None) -> None:
        super().__init__(network, runtime)
        self.session = session
        self._opening: threading.Thread | None = None
        self._error: Exception | None = None

    @classmethod
    def opening(cls, network: Network, runtime: OnnxRuntime,
                open_session: Callable[[], ort.InferenceSession]) -> OnnxExecutable:
        """An executable whose session ``open_session`` makes on a thread of its own: ONNX Runtime builds
        sessions without holding the GIL, so a voice's networks open at once while its other blocks build
        (``wait``, and the first call, wait for it; a failure is raised there)."""
        executable = cls(network, runtime, None)

        def open_now() -> None:
            try:
                executable.session = open_session()
            except Exception as exc:
                executable._error = exc

        thread = threading.Thread(target=open_now, name=f"ttsint-onnx-{network.name}", daemon=True)
        executable._opening = thread
        thread.start()
        return executable

    def wait(self) -> None:
        if self._opening is not None:
            self._opening.join()
        if self._error is not None:
            raise self._error

    @property
    def tensor_device(self) -> torch.device:
        # The session copies host arrays to the GPU itself under CUDA; the CPU is named without torch.
        return cpu_device()

    def execute(self, tensors: Mapping[str, Any]) -> Sequence[Any]:
        """NumPy arrays in, NumPy arrays out; torch tensors in, torch tensors out (sharing memory)."""
        if self.session is None:
            self.wait()
        feed, as_torch = {}, False
        for n in self.network.inputs:
            t = tensors[n]
            if not isinstance(t, np.ndarray):
                t, as_torch = t.detach().cpu().numpy(), True
            feed[n] = np.ascontiguousarray(t)
        out = self.session.run(self.network.outputs, feed)
        if not as_torch:
            return out
        import torch

        return [torch.from_numpy(a) for a in out]


class OnnxRuntime(Runtime):
    """ONNX Runtime's CPU provider, or its CUDA provider for ``device = "cuda[:n]"`` (onnxruntime-gpu).

    ``threads`` sets the threads one network call may use (ONNX Runtime's default: one per core);
    ``spinning`` lets a call's idle threads spin waiting for work (ONNX Runtime's default, off here: a
    voice runs its look-ahead beside the stream it plays, and spinning threads take the cores both need;
    benchmarks/RESULTS.md, Piper throughput); ``cache_dir`` holds the converted graphs (default
    ``$TTSINT_CACHE_DIR``, else ``~/.cache/ttsint/compiled``).
    """

    name = "onnxruntime"
    device_types = ("cpu", "cuda")

    def __init__(self, device: str | torch.device = "cpu", threads: int | None = None,
                 cache_dir: str | Path | None = None, spinning: bool = False) -> None:
        super().__init__(device)
        if threads is not None and (not isinstance(threads, int) or isinstance(threads, bool) or threads < 1):
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        if not isinstance(spinning, bool):
            raise ValueError(f"spinning must be true or false, got {spinning!r}")
        self.threads = threads
        self.spinning = spinning
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
        options: dict[str, Any] = {"threads": self.threads} if self.threads is not None else {}
        return {**options, "spinning": True} if self.spinning else options

    def session_options(self) -> ort.SessionOptions:
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.inter_op_num_threads = 1
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if self.spinning else "0")
        options.log_severity_level = 3  # errors only: ORT warns about every node it leaves on the CPU
        return options

    def providers(self) -> list[Any]:
        if self.device.type == "cuda":
            return [("CUDAExecutionProvider", {"device_id": self.device.index or 0}), "CPUExecutionProvider"]
        return ["CPUExecutionProvider"]

    def load(self, network: Network) -> OnnxExecutable:
        """Open the network's shipped ONNX form if it has one; else its cached conversion, converting the
        torch.export program first when there is none or it is unreadable. Every file is digest-checked
        (a shipped form against the addon's ``onnx_sha256``) and inspected before ONNX Runtime reads it."""
        shipped = getattr(network, "onnx", None)
        if shipped is not None:
            executable = OnnxExecutable.opening(network, self, lambda: self._session(shipped.read()))
            executable.stats.add(shipped=1)
            return executable
        path = onnx_path(network, self.cache_dir)
        if path.is_file():
            try:
                data = path.read_bytes()
                check_archive(data, ".onnx", f"cached {path}")
                session = self._session(data)
            except Exception:  # OSError, ArchiveError, or one of ORT's own error types
                pass  # truncated or foreign: convert again and replace it
            else:
                executable = OnnxExecutable(network, self, session)
                executable.stats.add(cache_hits=1)
                return executable
        from .convert import convert

        with _CONVERT_LOCK:
            write_atomic(path, lambda tmp: convert(network, tmp))
        data = path.read_bytes()
        check_archive(data, ".onnx", f"converted {path}")
        executable = OnnxExecutable(network, self, self._session(data))
        executable.stats.add(conversions=1)
        return executable

    def _session(self, model: bytes) -> ort.InferenceSession:
        """A session on the model's bytes (the very bytes checked), so no file is read twice."""
        return ort.InferenceSession(model, self.session_options(), providers=self.providers())

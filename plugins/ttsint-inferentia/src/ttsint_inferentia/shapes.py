"""What every fixed-shape runtime shares: one compiled program per input signature, made once, counted.

Torch-free, so the ONNX form (``onnx-static``) runs a Piper voice without importing torch.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ttsint import Executable

__all__ = ["Signature", "signature", "format_signature", "PerShapeExecutable"]

Signature = tuple[tuple[tuple[int, ...], str], ...]
"""(shape, dtype) of each positional input a program was compiled for."""


def signature(inputs: Sequence[Any]) -> Signature:
    """The (shape, dtype) of each array, torch or NumPy (``int64[1x32]`` either way)."""
    return tuple((tuple(int(d) for d in t.shape), str(t.dtype).removeprefix("torch.")) for t in inputs)


def format_signature(sig: Signature) -> str:
    return ", ".join(f"{dtype}[{'x'.join(map(str, shape))}]" for shape, dtype in sig)


class PerShapeExecutable(Executable):
    """A network that runs only shapes compiled for it: one program per input signature, made on first use.

    A compile blocks only calls of its own shape. Each compile is counted with its time (``compiles``,
    ``compile_ms`` in the report, which ``ttsint synth --stats`` prints), as is each program read back from
    a cache (``cache_hits``, ``load_ms``).
    """

    def __init__(self, network: Any, runtime: Any) -> None:
        super().__init__(network, runtime)
        self._modules: dict[Signature, Any] = {}
        self._shape_locks: dict[Signature, threading.Lock] = {}
        self._lock = threading.Lock()  # guards the two dicts above; never held while compiling

    def program(self, sig: Signature, make: Callable[[], tuple[Any, bool]]) -> Any:
        """The program for ``sig``; ``make`` returns (program, compiled) and runs once per signature."""
        module = self._modules.get(sig)  # a shape already made is a lookup without a lock
        if module is not None:
            return module
        with self._lock:
            shape_lock = self._shape_locks.setdefault(sig, threading.Lock())
        with shape_lock:
            module = self._modules.get(sig)
            if module is None:
                begin = time.perf_counter()
                module, compiled = make()
                ms = 1000 * (time.perf_counter() - begin)
                self.stats.add(**({"compiles": 1, "compile_ms": ms} if compiled else {"cache_hits": 1,
                                                                                      "load_ms": ms}))
                with self._lock:
                    self._modules[sig] = module
        return module

    def close(self) -> None:
        """Forget the programs held in memory (an on-disk cache stays for the next process)."""
        with self._lock:
            self._modules.clear()
            self._shape_locks.clear()

    @property
    def shapes(self) -> list[str]:
        """The input signatures compiled or loaded so far, e.g. ``int64[1x32], float32[1x32]``."""
        return [format_signature(s) for s in self._modules]

    def report(self) -> dict[str, Any]:
        report = super().report()
        report["shapes"] = len(self._modules)
        for key in ("compile_ms", "load_ms"):
            if key in report:
                report[key] = round(float(report[key]))  # whole ms: --stats shows 12610, not 1.261e+04
        return report

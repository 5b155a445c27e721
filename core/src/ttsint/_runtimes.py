"""Runtimes execute exported networks: ``torch`` in core, others (``onnxruntime``, ``neuron``) from plugins.

A runtime is chosen by config, per network in the addon, per block, or for a whole voice, and the most
specific setting wins. It loads each network from the addon's exported program, runs it on named
tensors, and reports its device and its figures.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

import numpy as np

from ._arrays import cpu_device, is_torch
from ._errors import AddonError, ConfigError, InvalidValue, PluginError, TTSIntError
from ._stats import RunStats

if TYPE_CHECKING:
    import torch

    from ._registry import Registry

__all__ = [
    "DEFAULT_RUNTIME",
    "ExportedNetwork",
    "Executable",
    "Runtime",
    "RuntimePool",
    "RuntimeSetting",
    "device_present",
    "parse_runtime",
]

DEFAULT_RUNTIME = "torch"


class ExportedNetwork(Protocol):
    """What a runtime may read of an addon's network (``ttsint.Network`` has it all)."""

    name: str
    inputs: list[str]
    outputs: list[str]
    path: Path
    """The network file; cached artifacts are keyed by its SHA-256."""
    module: Any
    """The torch module loaded from the file (a torch.export program's ``.module()``, or TorchScript)."""
    program: Any
    """The torch.export ExportedProgram, or None for TorchScript."""


def device_present(device: torch.device) -> bool:
    """Whether torch can place tensors on ``device`` on this machine (the CPU: always, without torch)."""
    if device.type == "cpu":
        return True
    import torch

    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        return count > 0 and (device.index is None or device.index < count)
    if device.type == "mps":
        return bool(getattr(torch.backends, "mps", None)) and torch.backends.mps.is_available()
    return False


class Executable:
    """One network loaded by a runtime: named, batched tensors in, named tensors out, with counted calls.

    Subclasses implement ``execute``; ``__call__`` checks the outputs and keeps the figures.
    """

    def __init__(self, network: ExportedNetwork, runtime: Runtime) -> None:
        self.network = network
        self.runtime = runtime
        self.stats = RunStats()

    @property
    def tensor_device(self) -> torch.device:
        """Where input tensors must be (and outputs come back); the runtime's device unless overridden."""
        return self.runtime.device

    def execute(self, tensors: Mapping[str, torch.Tensor]) -> Sequence[torch.Tensor]:
        """Run on batched tensors (exactly the network's inputs); return its outputs in declared order."""
        raise NotImplementedError(f"{type(self).__name__} must implement execute(tensors)")

    def __call__(self, tensors: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        begin = time.perf_counter()
        out = self.execute(tensors)
        if not isinstance(out, (tuple, list)):  # one tensor (torch or NumPy)
            out = (out,)
        out = tuple(out)
        self.stats.add(calls=1, seconds=time.perf_counter() - begin)
        outputs = self.network.outputs
        if len(out) != len(outputs):
            raise AddonError(f"network {self.network.name!r} returned {len(out)} tensors, config declares "
                             f"{len(outputs)} outputs {outputs} (runtime {self.runtime.name!r})")
        return dict(zip(outputs, out, strict=True))

    def ones_mask(self, shape: tuple[int, ...], like: Any) -> Any:
        """The all-ones float32 ``mask`` of ``shape`` for a call that gives none, ``like`` its other inputs:
        of their kind (NumPy, or a tensor where this network takes tensors). A runtime may answer with one
        it keeps per shape; what it answers is handed on unchecked."""
        if is_torch(like):
            import torch

            return torch.ones(shape, dtype=torch.float32, device=self.tensor_device)
        return np.ones(shape, dtype=np.float32)

    def wait(self) -> None:
        """Return once this network can run, raising what preparing it raised. A runtime may prepare its
        networks in the background (ONNX Runtime opens its sessions on threads, several at once);
        ``RuntimePool.wait`` joins them all. Ready at once by default."""

    def close(self) -> None:
        """Release what this network holds on its runtime (compiled programs, sessions); none by default."""

    def report(self) -> dict[str, Any]:
        """The runtime, its device, calls, milliseconds spent, and whatever else the runtime counts."""
        counts = self.stats.snapshot()
        extra = {k: v for k, v in counts.items() if k not in ("calls", "seconds")}
        return {"runtime": self.runtime.name, "device": self.runtime.device_name,
                "calls": int(counts.get("calls", 0)), "ms": 1000 * counts.get("seconds", 0.0),
                **{k: int(v) if float(v).is_integer() else v for k, v in extra.items()}}


class Runtime:
    """Executes exported networks on one device; plugins register subclasses by hook.

    Constructor keywords other than ``device`` are the runtime's options (e.g. ``threads``), given in
    config as ``runtime = {type = "NAME", option = value}``.
    """

    name: ClassVar[str] = "runtime"
    device_types: ClassVar[tuple[str, ...]] = ("cpu",)
    """The kinds of torch device this runtime can run on."""
    fixed_shapes: ClassVar[bool] = False
    """True when it compiles one program per input shape: only blocks that pad to fixed shapes may use it."""

    def __init__(self, device: str | torch.device = "cpu") -> None:
        self.device = self.check_device(device)

    @classmethod
    def devices(cls) -> list[str]:
        """The devices this runtime can use on this machine."""
        found = ["cpu"] if "cpu" in cls.device_types else []
        if not set(cls.device_types) - {"cpu"}:
            return found
        import torch

        for kind in cls.device_types:
            if kind == "cuda" and device_present(torch.device("cuda")):
                found += [f"cuda:{i}" for i in range(torch.cuda.device_count())]
            elif kind not in ("cuda", "cpu") and device_present(torch.device(kind)):
                found.append(kind)
        return found

    @classmethod
    def check_device(cls, device: str | torch.device) -> torch.device:
        """``device`` as a torch.device; ValueError when this runtime cannot run there, or it is not here.

        The CPU is named without importing torch (a ``ttsint._arrays.Device`` that compares equal to
        ``torch.device("cpu")``) while torch is not loaded, so an ONNX-only voice loads no torch.
        """
        if str(device) == "cpu":
            if "cpu" not in cls.device_types:
                raise ValueError(f"runtime {cls.name!r} runs on {', '.join(cls.device_types)}, not 'cpu'")
            return cpu_device()
        import torch

        try:
            dev = torch.device(device)
        except (RuntimeError, TypeError, ValueError):
            raise ValueError(f"{device!r} is not a device name (e.g. cpu, cuda, cuda:1, mps)") from None
        if dev.type not in cls.device_types:
            raise ValueError(f"runtime {cls.name!r} runs on {', '.join(cls.device_types)}, not {str(dev)!r}")
        if not device_present(dev):
            raise ValueError(f"device {str(dev)!r} is not available on this machine "
                             f"({_absent_reason(dev)}); runtime {cls.name!r} can use: "
                             f"{', '.join(cls.devices()) or 'none'}")
        return dev

    @property
    def device_name(self) -> str:
        """The device as reports show it (a runtime whose tensors stay on the host may name its chip)."""
        return str(self.device)

    def load(self, network: ExportedNetwork) -> Executable:
        """Prepare ``network`` to run here, from its exported program (``network.program``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement load(network)")

    def options(self) -> dict[str, Any]:
        """The options this runtime was built with, for ``describe`` and reports."""
        return {}

    def describe(self) -> str:
        opts = "".join(f", {k}={v}" for k, v in self.options().items())
        return f"{self.name} on {self.device_name}{opts}"

    def close(self) -> None:
        """Release sessions, pools or device memory; the default holds none."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.describe()}>"


def _absent_reason(dev: torch.device) -> str:
    import torch

    if dev.type == "cuda":
        if not torch.cuda.is_available():
            return "torch.cuda.is_available() is False: no GPU, no driver, or a CPU-only torch build"
        return f"torch sees {torch.cuda.device_count()} CUDA device(s)"
    if dev.type == "mps":
        return "torch.backends.mps.is_available() is False: MPS needs Apple silicon and macOS"
    return f"torch cannot place tensors on {dev.type!r} here"


def _load_error(runtime: str, network: ExportedNetwork, exc: Exception) -> PluginError:
    return PluginError(f"runtime {runtime!r} cannot load network {network.name!r} ({network.path.name}): "
                       f"{type(exc).__name__}: {exc}")


def parse_runtime(value: Any, path: str) -> tuple[str, dict[str, Any]]:
    """A ``runtime`` setting, a name or a table ``{type = NAME, option = value}``, as (name, options)."""
    from ._schema import RUNTIME, RUNTIME_HINT, show, validate, words  # msgspec: once a runtime is named

    try:
        validate(value, RUNTIME, error=InvalidValue)
    except InvalidValue:  # said of the whole setting: a table's only fault can be its type
        raise ConfigError(path, f"expected {words(RUNTIME)}, got {show(value)}", RUNTIME_HINT) from None
    if isinstance(value, str):
        return value, {}
    return value["type"], {k: v for k, v in value.items() if k != "type"}


@dataclass(frozen=True)
class RuntimeSetting:
    """A ``runtime`` and/or ``device`` given at one level (network, block, voice), and where, for errors."""

    runtime: Any = None
    device: str | None = None
    runtime_at: str = "runtime"
    device_at: str = "device"
    source: str | None = None

    def error(self, key: str, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(self.runtime_at if key == "runtime" else self.device_at, message, hint,
                           source=self.source)


@dataclass
class Binding:
    """Which runtime one block runs one network on: what ``ttsint check`` and ``--stats`` show."""

    block_path: str
    network: ExportedNetwork
    executable: Executable


class RuntimePool:
    """The runtimes of one built stack: one Runtime per (name, options, device), each network loaded once
    per runtime, and every (block, network) binding made, in build order."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.bindings: list[Binding] = []
        self._runtimes: dict[str, Runtime] = {}
        self._executables: dict[tuple[str, int], Executable] = {}
        self._lock = threading.Lock()

    def executable(self, network: ExportedNetwork, settings: Sequence[RuntimeSetting], *, block_path: str,
                   default: str = DEFAULT_RUNTIME, fixed_shapes: bool = False) -> Executable:
        """Load ``network`` on the runtime its settings choose (the last one giving a value wins).

        ``fixed_shapes`` says the block pads its inputs to a few fixed shapes; other blocks are refused
        a runtime that compiles per shape, with a ConfigError at the setting that chose it.
        """
        runtime_from = next((s for s in reversed(settings) if s.runtime is not None), None)
        device_from = next((s for s in reversed(settings) if s.device is not None), None)
        runtime_value = runtime_from.runtime if runtime_from else default
        try:
            name, options = parse_runtime(runtime_value, "runtime")
        except ConfigError as exc:
            raise (runtime_from or RuntimeSetting()).error("runtime", exc.message, exc.hint) from None
        cls = self._runtime_class(name, runtime_from)
        if cls.fixed_shapes and not fixed_shapes:
            where = runtime_from or RuntimeSetting(runtime_at=block_path)
            raise where.error("runtime", f"runtime {name!r} compiles one program per input shape, and the "
                              f"block at {block_path} runs network {network.name!r} on shapes that vary",
                              "use it with a block that pads to fixed shapes (NeuronEncoders, "
                              "NeuronDecoder), or choose another runtime for this block")
        device = device_from.device if device_from else "cpu"
        try:
            cls.check_device(device)
        except ValueError as exc:
            # Blame the device setting when there is one, else the setting that chose the runtime.
            if device_from is not None:
                raise device_from.error("device", str(exc)) from None
            raise (runtime_from or RuntimeSetting()).error("runtime", str(exc)) from None
        runtime = self._runtime(cls, name, options, device, runtime_from)
        with self._lock:
            key = (self._key(name, options, device), id(network))
            found = self._executables.get(key)
        if found is None:
            try:
                found = runtime.load(network)
            except TTSIntError:
                raise
            except Exception as exc:
                raise _load_error(name, network, exc) from exc
            with self._lock:
                found = self._executables.setdefault(key, found)
        self.bindings.append(Binding(block_path, network, found))
        return found

    def wait(self) -> None:
        """Return once every network loaded here can run (``Executable.wait``); raise the first error, as
        ``executable`` raises it. A Voice is built only when its networks are ready."""
        with self._lock:
            executables = list(self._executables.values())
        for executable in executables:
            try:
                executable.wait()
            except TTSIntError:
                raise
            except Exception as exc:
                raise _load_error(executable.runtime.name, executable.network, exc) from exc

    def _runtime_class(self, name: str, setting: RuntimeSetting | None) -> type[Runtime]:
        where = setting or RuntimeSetting()
        try:
            reg = self.registry.find(self.registry.runtimes, name, what="runtime", path=where.runtime_at)
            cls = reg.load()
        except ConfigError as exc:
            raise ConfigError(exc.path, exc.message, exc.hint, source=where.source) from None
        except PluginError as exc:
            raise where.error("runtime", str(exc), "reinstall or fix that plugin") from exc
        if not (isinstance(cls, type) and issubclass(cls, Runtime)):
            raise where.error("runtime", f"{name!r} from {reg.distribution} is not a ttsint Runtime: {cls!r}")
        return cls

    def _runtime(self, cls: type[Runtime], name: str, options: dict[str, Any], device: str,
                 setting: RuntimeSetting | None) -> Runtime:
        from ._instantiate import check_parameters

        key = self._key(name, options, device)
        with self._lock:
            if key in self._runtimes:
                return self._runtimes[key]
        where = setting or RuntimeSetting()
        try:
            check_parameters(cls, {**options, "device": device}, where.runtime_at, f"runtime {name!r}")
            runtime = cls(device=device, **options)
        except ConfigError as exc:
            raise ConfigError(exc.path, exc.message, exc.hint, source=where.source) from None
        except (TypeError, ValueError) as exc:
            raise where.error("runtime", f"runtime {name!r}: {exc}") from exc
        runtime.name = name
        with self._lock:
            return self._runtimes.setdefault(key, runtime)

    @staticmethod
    def _key(name: str, options: Mapping[str, Any], device: str) -> str:
        if str(device) != "cpu":
            import torch

            device = str(torch.device(device))
        return json.dumps([name, dict(options), str(device)], sort_keys=True, default=str)

    @property
    def runtimes(self) -> list[Runtime]:
        return list(self._runtimes.values())

    def close(self) -> None:
        """Close every loaded network, then every runtime."""
        with self._lock:
            executables = list(self._executables.values())
            self._executables.clear()
        for executable in executables:
            executable.close()
        for runtime in self.runtimes:
            runtime.close()

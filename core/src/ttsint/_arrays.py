"""The few array operations core needs, written once for NumPy arrays and torch tensors alike.

A block declares which kind it takes (``Block.arrays``: "torch" or "numpy"); containers convert at
the boundary between blocks of different kinds. Everything here tells a torch tensor from its type's
module, so NumPy data never imports torch; torch is imported only to make a tensor.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

__all__ = ["ARRAY_KINDS", "is_torch", "kind_of", "to_numpy", "to_torch", "to_kind", "concat", "zeros",
           "dtype_name", "is_floating", "all_finite", "first_nonfinite_row", "numel", "batch", "unbatch",
           "convert_mapping", "cpu_device", "Device"]

ARRAY_KINDS = ("torch", "numpy", "any")


def is_torch(x: Any) -> bool:
    """Whether ``x`` is a torch tensor, decided without importing torch."""
    kind = type(x)
    return kind is not np.ndarray and kind.__module__.startswith("torch")  # runs several times a chunk


def kind_of(x: Any) -> str:
    """ "torch" for a torch tensor, "numpy" for anything else (arrays, lists, numbers)."""
    return "torch" if is_torch(x) else "numpy"


def to_numpy(x: Any) -> np.ndarray:
    """``x`` (a torch tensor on any device, a NumPy array, or anything ``numpy.asarray`` takes) as NumPy.

    A CPU tensor shares its memory with the array; one that needs grad is detached first.
    """
    if is_torch(x):
        return x.detach().cpu().numpy()
    return np.asarray(x)


def to_torch(x: Any, device: Any = None) -> Any:
    """``x`` as a torch tensor (sharing a NumPy array's memory when it can), on ``device`` if given."""
    import torch

    if not is_torch(x):
        array = np.asarray(x)
        if not array.flags.writeable:  # torch warns on read-only memory; a copy is what it would need
            array = array.copy()
        x = torch.from_numpy(array)
    if device is not None:
        if getattr(device, "type", None) == "cpu" and getattr(device, "index", None) is None and x.is_cpu:
            return x  # already there: no device made or compared (this runs for each network input)
        device = device if isinstance(device, torch.device) else torch.device(str(device))
        if x.device != device:
            x = x.to(device)
    return x


def to_kind(x: Any, kind: str | None, device: Any = None) -> Any:
    """``x`` as ``kind`` ("torch" on ``device``, or "numpy"); None leaves it as it is."""
    if kind == "numpy":
        return x if isinstance(x, np.ndarray) else to_numpy(x)
    if kind == "torch":
        if is_torch(x) and (device is None or x.device == device):
            return x
        return to_torch(x, device)
    return x


def concat(parts: Sequence[Any], axis: int = 0) -> Any:
    """Join arrays along ``axis``; a torch result when any part is a tensor (NumPy parts converted)."""
    if not parts:
        raise ValueError("nothing to concatenate")
    if any(is_torch(p) for p in parts):
        import torch

        tensors = [p if is_torch(p) else torch.from_numpy(np.asarray(p)) for p in parts]
        return tensors[0] if len(tensors) == 1 else torch.cat(tensors, dim=axis)
    return parts[0] if len(parts) == 1 else np.concatenate(parts, axis=axis)


def zeros(shape: Sequence[int], like: Any) -> Any:
    """Zeros of ``shape`` with the kind, dtype (and device) of ``like``."""
    if is_torch(like):
        return like.new_zeros(tuple(shape))
    return np.zeros(tuple(shape), dtype=np.asarray(like).dtype)


_DTYPE_NAMES: dict[Any, str] = {}


def dtype_name(x: Any) -> str:
    """The element type's name, the same for both kinds: "float32", "int64", "bool", ..."""
    dtype = x.dtype
    try:
        return _DTYPE_NAMES[dtype]
    except (KeyError, TypeError):
        name = str(dtype).removeprefix("torch.")
        try:
            _DTYPE_NAMES[dtype] = name
        except TypeError:
            pass
        return name


def is_floating(x: Any) -> bool:
    """Whether ``x`` holds floating-point values."""
    if isinstance(x, np.ndarray):  # runs on every chunk (the output guard): the dtype's kind is enough
        return x.dtype.kind == "f"
    if is_torch(x):
        return bool(x.is_floating_point())
    return np.issubdtype(np.asarray(x).dtype, np.floating)


def all_finite(x: Any) -> bool:
    """Whether every value of ``x`` is finite (one sum first: finite exactly when all values are, unless
    finite values overflow it, and only then the full check)."""
    if type(x) is np.ndarray:
        size = x.size
        if 0 < size <= _SUMMED_IN_PYTHON and x.dtype.char in "fd":
            # A few frames of mel, checked on every chunk: summed as Python floats (no overflow from float32,
            # no warnings), from a C-ordered copy if it is strided. Cheaper than NumPy's ufunc machinery once
            # a real network's call has pushed it out of the CPU's caches (~25 us, or ~40 us with the copy,
            # against ~60 us; benchmarks/RESULTS.md, "Per-chunk overhead, session 8").
            flat = x if x.flags.c_contiguous else x.copy()
            if math.isfinite(sum(flat.data.cast("B").cast(x.dtype.char))):
                return True
            return bool(np.isfinite(x).all())
        if size <= _DIRECT_CHECK:  # the direct check costs less than entering errstate
            return bool(np.isfinite(x).all())
    elif is_torch(x):
        if math.isfinite(x.sum().item()):
            return True
        import torch

        return bool(torch.isfinite(x).all())
    elif np.size(x) <= _DIRECT_CHECK:
        return bool(np.isfinite(x).all())
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(x.sum()):
            return True
    return bool(np.isfinite(x).all())


_SUMMED_IN_PYTHON = 1024
"""C-contiguous float arrays of at most this many values are summed in Python floats."""
_DIRECT_CHECK = 16384
"""Arrays of at most this many values are checked value by value (no sum first): faster at that size."""


def first_nonfinite_row(x: Any) -> int:
    """The index of the first row of a 2-D ``x`` holding a NaN or an infinity (0 if there is none)."""
    rows = ~np.isfinite(to_numpy(x)).all(axis=tuple(range(1, x.ndim)) or None)
    found = np.flatnonzero(rows)
    return int(found[0]) if len(found) else 0


def numel(x: Any) -> int:
    """How many values ``x`` holds."""
    return int(x.numel()) if is_torch(x) else int(np.size(x))


def batch(x: Any) -> Any:
    """``x`` with a leading batch dimension of one."""
    if isinstance(x, np.ndarray):
        return x[None]  # the same view as numpy.expand_dims(x, 0), without its axis bookkeeping
    return x.unsqueeze(0) if is_torch(x) else np.expand_dims(x, 0)


def unbatch(x: Any) -> Any:
    """``x`` without its leading batch dimension when that is one (as ``torch.squeeze(0)``)."""
    if isinstance(x, np.ndarray) or not is_torch(x):
        return x[0] if x.ndim and x.shape[0] == 1 else x
    return x.squeeze(0)


def convert_mapping(values: Mapping[str, Any], kind: str | None, device: Any = None) -> Any:
    """``values`` with each array as ``kind`` (the same dict when nothing changes)."""
    if kind is None:
        return values
    out = None
    for k, v in values.items():
        c = to_kind(v, kind, device)
        if c is not v:
            if out is None:
                out = dict(values)
            out[k] = c
    return values if out is None else out


class Device:
    """A device named without torch ("cpu"): what a runtime whose arrays stay on the host reports
    before anything imports torch. It compares equal to a torch.device or a string of the same name."""

    __slots__ = ("type", "index")

    def __init__(self, name: str) -> None:
        kind, _, index = str(name).partition(":")
        self.type = kind
        self.index = int(index) if index else None

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        return f"device(type={self.type!r}{'' if self.index is None else f', index={self.index}'})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Device | str) or type(other).__module__.startswith("torch"):
            return str(self) == str(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(str(self))


def cpu_device() -> Any:
    """The CPU as a torch.device when torch is loaded, else as a ``Device`` (so naming it loads nothing)."""
    torch = sys.modules.get("torch")
    # A torch another thread is still importing (a server loads voices in parallel) must not be
    # used: torch.device on a half-imported torch waits for that import, which may wait for us.
    if torch is not None and hasattr(torch, "device") and not _importing(torch):
        return torch.device("cpu")
    return Device("cpu")


def _importing(module: Any) -> bool:
    """Is ``module`` still being imported (by this thread or another)?"""
    return bool(getattr(getattr(module, "__spec__", None), "_initializing", False))

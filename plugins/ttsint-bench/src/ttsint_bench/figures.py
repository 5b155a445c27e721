"""What a benchmark run records: figures (each a ratio against a same-run baseline), items, machine."""

from __future__ import annotations

import os
import platform
import statistics
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

__all__ = ["Figure", "Item", "interleaved_samples", "interleaved_seconds", "machine_info", "median_seconds"]


@dataclass
class Figure:
    """One measured value beside the baseline it is divided by; ``met`` says whether ``target`` holds."""

    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    target: str | None = None  # e.g. "<= 1.05", read against the ratio (or the value, see target_of)
    params: dict[str, Any] = field(default_factory=dict)
    target_of: str = "ratio"

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else float("inf")

    @property
    def met(self) -> bool | None:
        if self.target is None:
            return None
        op, bound = self.target.split()
        x = self.ratio if self.target_of == "ratio" else self.value
        return x <= float(bound) if op == "<=" else x >= float(bound)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met}


@dataclass
class Item:
    """One entry of the suite: its figures, notes on how to read them, or why it was skipped."""

    id: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    seconds: float = 0.0

    def add(
        self,
        name: str,
        value: float,
        unit: str,
        baseline: str,
        baseline_value: float,
        target: str | None = None,
        target_of: str = "ratio",
        **params: Any,
    ) -> Figure:
        figure = Figure(name, float(value), unit, baseline, float(baseline_value), target, params, target_of)
        self.figures.append(figure)
        return figure

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "skipped": self.skipped,
            "seconds": self.seconds,
            "notes": self.notes,
            "figures": [f.to_json() for f in self.figures],
        }


def machine_info() -> dict[str, Any]:
    """Where the figures were measured: cores, load, torch and Python versions."""
    return {
        "cpus": os.cpu_count(),
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "processor": platform.processor() or platform.machine(),
        "load_average": list(os.getloadavg()) if hasattr(os, "getloadavg") else None,
        "time_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }


def median_seconds(fn: Callable[[], Any], repeats: int, warmup: int = 1) -> float:
    """Median wall time of ``fn`` over ``repeats`` calls, after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(max(1, repeats)):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def interleaved_samples(
    fns: dict[str, Callable[[], Any]],
    repeats: int,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, list[float]]:
    """Each function's time in every repeat, calling them in turn so that load changes hit all of them alike.

    Sample ``i`` of every function comes from the same round, so paired differences cancel slow drifts.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(1, repeats)):
        for name, fn in fns.items():
            start = clock()
            fn()
            times[name].append(clock() - start)
    return times


def interleaved_seconds(
    fns: dict[str, Callable[[], Any]],
    repeats: int,
    warmup: int = 1,
    clock: Callable[[], float] = time.perf_counter,
) -> dict[str, float]:
    """Median time of each function over interleaved repeats (see ``interleaved_samples``).

    ``clock`` is wall time by default; ``time.thread_time`` gives the calling thread's CPU time, which
    other processes on a shared machine barely disturb (use it with one torch thread, so that every
    operator runs in the calling thread).
    """
    times = interleaved_samples(fns, repeats, warmup, clock)
    return {name: statistics.median(t) for name, t in times.items()}

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

__all__ = ["Figure", "Item", "Samples", "Skip", "interleaved_samples", "interleaved_seconds", "machine_info",
           "median_seconds", "spread_of"]


class Samples(float):
    """A median that keeps the repeats it was taken from, so that a figure can show its spread."""

    samples: tuple[float, ...]

    def __new__(cls, samples: list[float] | tuple[float, ...]) -> Samples:
        median = super().__new__(cls, statistics.median(samples))
        median.samples = tuple(float(x) for x in samples)
        return median

    def scaled(self, factor: float) -> Samples:
        """Every repeat times ``factor`` (e.g. seconds to a real-time factor)."""
        return Samples([x * factor for x in self.samples])


def spread_of(xs: list[float] | tuple[float, ...]) -> dict[str, float] | None:
    """Repeats, median and quartiles of ``xs`` (None for fewer than two: a single run has no spread)."""
    xs = sorted(xs)
    if len(xs) < 2:
        return None
    p25, median, p75 = statistics.quantiles(xs, n=4, method="inclusive")
    return {"n": len(xs), "p25": p25, "median": median, "p75": p75, "min": xs[0], "max": xs[-1]}


@dataclass
class Figure:
    """One measured value beside the baseline it is divided by; ``met`` says whether ``target`` holds.

    ``spread`` holds the quartiles over repeats of what the target reads (the per-repeat ratio, or the
    value). A figure whose spread (p75 - p25) is larger than its effect (its distance from no
    difference: a ratio of 1, or a value of 0 for a cost) is ``noisy``: the run cannot tell it from
    its baseline, so no target is claimed met or missed for it.
    """

    name: str
    value: float
    unit: str
    baseline: str
    baseline_value: float
    target: str | None = None  # e.g. "<= 1.05", read against the ratio (or the value, see target_of)
    params: dict[str, Any] = field(default_factory=dict)
    target_of: str = "ratio"
    spread: dict[str, float] | None = None

    @property
    def ratio(self) -> float:
        return self.value / self.baseline_value if self.baseline_value else float("inf")

    @property
    def read(self) -> float:
        """What the target and the spread are about: the ratio, or the value itself."""
        return self.ratio if self.target_of == "ratio" else self.value

    @property
    def noisy(self) -> bool | None:
        """True when the spread over repeats exceeds the effect; None when there was a single run."""
        if self.spread is None:
            return None
        null = 1.0 if self.target_of == "ratio" else 0.0
        return self.spread["p75"] - self.spread["p25"] > abs(self.read - null)

    @property
    def below_zero(self) -> bool:
        """A cost (a value target) whose middle half lies below zero: the sides did not do the same work,
        so the figure is not like for like and claims nothing."""
        return self.target_of == "value" and (self.spread["p75"] if self.spread else self.value) < 0

    @property
    def met(self) -> bool | None:
        if self.target is None or self.noisy or self.below_zero:
            return None
        op, bound = self.target.split()
        x = self.read
        return x <= float(bound) if op == "<=" else x >= float(bound)

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio": self.ratio, "met": self.met, "noisy": self.noisy,
                "below_zero": self.below_zero}


@dataclass
class Skip:
    """A figure that could not be measured here, why, and the command that installs what it needs."""

    name: str
    reason: str
    install: str | None = None


def _repeats(value: float, baseline: float, target_of: str) -> list[float] | None:
    """Per-repeat values of what a figure reads, from the Samples it was given (paired when both are)."""
    v = value.samples if isinstance(value, Samples) else None
    b = baseline.samples if isinstance(baseline, Samples) else None
    if target_of != "ratio":
        return list(v) if v else None
    if v and b and len(v) == len(b) and all(b):
        return [x / y for x, y in zip(v, b, strict=True)]
    if v and baseline:
        return [x / baseline for x in v]
    if b and all(b):
        return [value / y for y in b]
    return None


@dataclass
class Item:
    """One entry of the suite: its figures, notes on how to read them, or why it was skipped."""

    id: str
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    skipped: str | None = None
    seconds: float = 0.0
    skipped_figures: list[Skip] = field(default_factory=list)

    def add(
        self,
        name: str,
        value: float,
        unit: str,
        baseline: str,
        baseline_value: float,
        target: str | None = None,
        target_of: str = "ratio",
        repeats: list[float] | None = None,
        **params: Any,
    ) -> Figure:
        """Add a figure; its spread comes from ``repeats`` (per-repeat values of what the target reads),
        else from the repeats inside ``value`` and ``baseline_value`` when they are Samples."""
        xs = repeats if repeats is not None else _repeats(value, baseline_value, target_of)
        figure = Figure(name, float(value), unit, baseline, float(baseline_value), target, params, target_of,
                        spread_of(xs) if xs else None)
        self.figures.append(figure)
        return figure

    def skip(self, name: str, reason: str, install: str | None = None) -> None:
        """Record a figure that cannot be measured here, with the command that would make it measurable."""
        self.skipped_figures.append(Skip(name, reason, install))

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "title": self.title,
            "skipped": self.skipped,
            "seconds": self.seconds,
            "notes": self.notes,
            "figures": [f.to_json() for f in self.figures],
            "skipped_figures": [asdict(k) for k in self.skipped_figures],
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
    clock: Callable[[], float] | None = time.perf_counter,
) -> dict[str, list[float]]:
    """Each function's time in every repeat, calling them in turn so that load changes hit all of them alike.

    Sample ``i`` of every function comes from the same round, so paired differences cancel slow drifts.
    With ``clock=None`` each function returns its own time (e.g. what a child process measured inside).
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(max(1, repeats)):
        for name, fn in fns.items():
            if clock is None:
                times[name].append(float(fn()))
                continue
            start = clock()
            fn()
            times[name].append(clock() - start)
    return times


def interleaved_seconds(
    fns: dict[str, Callable[[], Any]],
    repeats: int,
    warmup: int = 1,
    clock: Callable[[], float] | None = time.perf_counter,
) -> dict[str, Samples]:
    """Median time of each function over interleaved repeats (see ``interleaved_samples``), with the repeats.

    ``clock`` is wall time by default; ``time.thread_time`` gives the calling thread's CPU time, which
    other processes on a shared machine barely disturb (use it with one torch thread, so that every
    operator runs in the calling thread).
    """
    times = interleaved_samples(fns, repeats, warmup, clock)
    return {name: Samples(t) for name, t in times.items()}

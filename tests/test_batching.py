"""Batching across streams (_batching): steps run together make one call per batchable network and shape,
and each stream gets what it would alone; the kit's checks catch a network or block that breaks that."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ttsint
from ttsint.testing import BlockSample, check_batched_streams, check_batching


class Affine(ttsint.Executable):
    """y = 2x + 1 on a batch, recording each call's batch size; ``swap`` hands the rows back reversed."""

    def __init__(self, network: Any, swap: bool = False, rows: int | None = None) -> None:
        super().__init__(network, None)  # type: ignore[arg-type]
        self.swap, self.rows, self.batches = swap, rows, []
        self.lock = threading.Lock()

    def execute(self, tensors: Mapping[str, Any]) -> Sequence[Any]:
        x = tensors["x"]
        with self.lock:
            self.batches.append(int(x.shape[0]))
        y = 2 * x + 1
        if self.swap:
            y = y[::-1]
        if self.rows is not None:
            y = y[: self.rows]
        return [np.ascontiguousarray(y)]


def network(batch: bool = True, **kwargs: Any) -> tuple[ttsint.Network, Affine]:
    net = ttsint.Network(name="affine", role="decoder", inputs=["x"], outputs=["y"], path=Path("affine.onnx"),
                         batch=batch)
    net.executable = Affine(net, **kwargs)
    return net, net.executable


def run_together(steps: list[Any], patience: float = 5.0) -> tuple[list[Any], ttsint.BatchGroup]:
    with ThreadPoolExecutor(len(steps)) as pool:
        group = ttsint.BatchGroup(pool, patience=patience)
        return group.run(steps), group


def test_steps_run_together_make_one_call_per_network_and_shape() -> None:
    net, ex = network()

    def step(i: int) -> tuple[np.ndarray, np.ndarray]:
        a = net.run({"x": np.full(3, i, np.float32)})["y"]
        b = net.run({"x": np.full(2 + i % 2, i, np.float32)})["y"]
        return a, b

    results, group = run_together([lambda i=i: step(i) for i in range(4)])
    assert sorted(ex.batches) == [2, 2, 4]
    assert (group.calls, group.batched) == (3, 3)
    for i, (a, b) in enumerate(results):
        np.testing.assert_array_equal(a, np.full(3, 2 * i + 1, np.float32))
        np.testing.assert_array_equal(b, np.full(2 + i % 2, 2 * i + 1, np.float32))


def test_a_network_not_declared_batchable_is_called_once_per_stream() -> None:
    net, ex = network(batch=False)
    run_together([lambda i=i: net.run({"x": np.full(3, i, np.float32)}) for i in range(4)])
    assert ex.batches == [1, 1, 1, 1]


def test_a_step_waiting_on_something_else_does_not_stall_the_others() -> None:
    """B's call would wait for A, which waits for B to go on: after ``patience`` B's call runs alone."""
    net, ex = network()
    b_done = threading.Event()

    def a() -> None:
        assert b_done.wait(30), "the group stalled: B never got past its network call"
        net.run({"x": np.zeros(3, np.float32)})

    def b() -> None:
        net.run({"x": np.zeros(3, np.float32)})
        b_done.set()

    run_together([a, b], patience=0.01)
    assert ex.batches == [1, 1]


def test_a_failing_step_lets_the_others_finish_and_its_error_is_raised() -> None:
    net, ex = network()

    def broken() -> None:
        raise ValueError("this stream broke")

    def fine() -> np.ndarray:
        return net.run({"x": np.zeros(3, np.float32)})["y"]

    with pytest.raises(ValueError, match="this stream broke"):
        run_together([fine, broken, fine])
    assert ex.batches == [2]


def test_run_batch_keeps_the_batch_contract_and_the_check_catches_one_that_does_not() -> None:
    feeds = [{"x": np.full((5, 2), i, np.float32)} for i in range(3)]
    good, ex = network()
    check_batching(good, feeds)
    assert 3 in ex.batches
    swapped, _ = network(swap=True)
    with pytest.raises(AssertionError, match="feed 0 of a batch of 3"):
        check_batching(swapped, feeds)


def test_a_batchable_network_that_gives_too_few_rows_is_named() -> None:
    net, _ = network(rows=1)
    with pytest.raises(ttsint.AddonError, match="remove batch = true"):
        net.run_batch([{"x": np.zeros(3, np.float32)}] * 2)


class PerChunk(ttsint.StreamableBlock):
    """Runs its network on each upstream chunk; ``bypass`` calls the executable itself, past Network.run."""

    arrays = "numpy"

    def __init__(self, network: ttsint.Network, bypass: bool = False) -> None:
        self.network, self.bypass = network, bypass

    def stream(self, utt: ttsint.Utterance, upstream: Iterator[ttsint.Chunk] | None,
               ) -> Iterator[ttsint.Chunk]:
        assert upstream is not None
        for chunk in upstream:
            if self.bypass:
                y = self.network.executable({"x": chunk.frames[None]})["y"][0]
            else:
                y = self.network.run({"x": chunk.frames})["y"]
            yield ttsint.Chunk(frames=y, start=chunk.start)


FRAMES = np.arange(40 * 3, dtype=np.float32).reshape(40, 3)


def test_check_batched_streams_passes_a_block_that_batches() -> None:
    net, ex = network()
    check_batched_streams(BlockSample(block=PerChunk(net), upstream=FRAMES))
    assert max(ex.batches) == 3


def test_check_batched_streams_fails_a_block_whose_network_mixes_up_streams() -> None:
    net, _ = network(swap=True)
    with pytest.raises(AssertionError, match="stepped together"):
        check_batched_streams(BlockSample(block=PerChunk(net), upstream=FRAMES))


def test_check_batched_streams_fails_a_batchable_block_that_never_batches() -> None:
    net, _ = network()
    with pytest.raises(AssertionError, match="made no batched call"):
        check_batched_streams(BlockSample(block=PerChunk(net, bypass=True), upstream=FRAMES))


def test_a_runtime_that_refuses_a_batch_gets_its_calls_one_by_one() -> None:
    """A network declared batchable whose runtime fails on a batch (a .pt2 exported for a batch of one):
    the steps still get their outputs, and later groups do not try again."""
    net, ex = network(rows=1)  # gives one row whatever the batch

    def step(i: int) -> np.ndarray:
        return net.run({"x": np.full(3, i, np.float32)})["y"]

    for _ in range(2):
        results, group = run_together([lambda i=i: step(i) for i in range(3)])
        for i, y in enumerate(results):
            np.testing.assert_array_equal(y, np.full(3, 2 * i + 1, np.float32))
    assert ex.batches == [3, 1, 1, 1, 1, 1, 1]


def test_en_rms_decoder_keeps_the_batch_contract() -> None:
    """en-rms declares its decoder batch = true: its ONNX form takes a batch, each window's slice within
    1e-5 of its own call, and its Decoder block batches streams stepped together."""
    addon = ttsint.load_addon("en-rms")
    decoder = addon.networks["decoder"]
    assert decoder.batch
    block = ttsint.build_stack({"type": "Decoder", "chunk_frames": 16, "first_chunk_frames": 4}, addon)
    rng = np.random.default_rng(0)
    feeds = [{"frames": rng.normal(size=(78, 256)).astype(np.float32)} for _ in range(3)]
    check_batching(block.network, feeds)
    frames = (0.5 * rng.normal(size=(150, 256))).astype(np.float32)
    check_batched_streams(BlockSample(block=block, upstream=frames, atol=1e-5))


class Slotted:
    """A callable that cannot be weakly referenced and refuses a batch (a third-party runner)."""

    __slots__ = ("batches",)

    def __init__(self) -> None:
        self.batches: list[int] = []

    def __call__(self, tensors: Mapping[str, Any]) -> dict[str, Any]:
        x = tensors["x"]
        self.batches.append(int(x.shape[0]))
        if x.shape[0] > 1:
            raise RuntimeError("a batch of one only")
        return {"y": 2 * x + 1}


def test_a_call_whose_batch_fails_strands_no_step() -> None:
    """A batch that fails in an unusual way (here its runner cannot be weakly referenced, so it cannot be
    remembered as refusing batches) still answers every step: before, the step running the batch raised
    TypeError and the others waited for their calls forever, a whole group stalled."""
    run = Slotted()

    def step(i: int) -> Any:
        barrier = ttsint._batching.current_group()
        assert barrier is not None
        return barrier.call(run, {"x": np.full((1, 3), i, np.float32)}, "slotted")["y"]

    outcome: list[Any] = []
    steps = [lambda i=i: step(i) for i in range(3)]
    runner = threading.Thread(target=lambda: outcome.append(run_together(steps)), daemon=True)
    runner.start()
    runner.join(30)
    assert outcome, "the group stalled: a step waited for a call that never ran"
    results, _ = outcome[0]
    for i, y in enumerate(results):
        np.testing.assert_array_equal(y, np.full((1, 3), 2 * i + 1, np.float32))
    assert run.batches == [3, 1, 1, 1]


def test_steps_without_a_thread_run_on_the_callers() -> None:
    """An executor that takes no more work (a server stopping) does not lose steps: they run on the thread
    that runs the group, in order."""
    pool = ThreadPoolExecutor(2)
    pool.shutdown()
    assert ttsint.BatchGroup(pool).run([lambda i=i: i * i for i in range(4)]) == [0, 1, 4, 9]


def test_a_step_that_ends_early_takes_up_more_work_in_the_group() -> None:
    """The batch-group stall: a group used to hold its worker until its slowest step ended, so a stream whose
    step ended early waited, unstepped, while its listener ran dry (0 of 16 real-time in a --batch 8 burst,
    benchmarks/RESULTS.md). With ``more`` the thread of a step that ended takes up the next step at once, in
    the same group, its network calls batched with the others'."""
    net, ex = network()
    slow_may_end = threading.Event()
    order: list[str] = []
    extra = [lambda i=i: order.append(f"more {i}") or net.run({"x": np.full(3, i, np.float32)})
             for i in range(3)]

    def slow() -> str:
        assert slow_may_end.wait(30), "the early step's thread never took up the next steps"
        order.append("slow")
        return "slow"

    def fast() -> str:
        net.run({"x": np.zeros(3, np.float32)})
        order.append("fast")
        return "fast"

    def more() -> Any:
        if extra:
            return extra.pop(0)
        slow_may_end.set()
        return None

    with ThreadPoolExecutor(1) as pool:
        assert ttsint.BatchGroup(pool, patience=0.01).run([slow, fast], more=more) == ["slow", "fast"]
    assert order == ["fast", "more 0", "more 1", "more 2", "slow"]
    assert ex.batches == [1, 1, 1, 1]

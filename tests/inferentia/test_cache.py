"""The compile cache: keyed by network file, shapes, runtime and toolchain; reused across processes."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
import ttsint
from ttsint_inferentia import CpuStaticRuntime, StaticExecutable

TEXT = "Hello world, this is a longer sentence to split."
SWAP = ["--set", "stack.0.sequence_block.type=NeuronEncoders",
        "--set", "stack.0.streamable_block.stack.1.type=NeuronDecoder"]


def inputs(length: int) -> dict[str, torch.Tensor]:
    return {"symbols": torch.ones(1, length, dtype=torch.int64), "mask": torch.ones(1, length)}


@pytest.fixture
def net(ref_voice: ttsint.Voice) -> ttsint.Network:
    return ref_voice.addon.networks["duration_predictor"]


def static(net: ttsint.Network, cache_dir: Path) -> StaticExecutable:
    return CpuStaticRuntime(cache_dir=cache_dir).load(net)


def test_second_executable_loads_instead_of_compiling(net: ttsint.Network, tmp_path: Path) -> None:
    first, second = static(net, tmp_path), static(net, tmp_path)
    first(inputs(32))
    out = second(inputs(32))
    assert first.stats.snapshot()["compiles"] == 1 and "cache_hits" not in first.stats.snapshot()
    assert second.stats.snapshot()["cache_hits"] == 1 and "compiles" not in second.stats.snapshot()
    assert torch.allclose(out["durations"], net.run(inputs(32), batched=True)["durations"], atol=1e-5)


def test_key_covers_shape_runtime_toolchain_and_file_content(net: ttsint.Network, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    executable = static(net, tmp_path)
    base = executable.artifact_path(tuple(inputs(32).values()))
    assert base.parent == tmp_path and base.name.startswith("duration_predictor-1x32-cpu-static-")
    assert executable.artifact_path(tuple(inputs(64).values())) != base
    copy = tmp_path / "copy" / net.path.name
    copy.parent.mkdir()
    copy.write_bytes(net.path.read_bytes())
    args = tuple(inputs(32).values())
    assert static(dataclasses.replace(net, path=copy), tmp_path).artifact_path(args) == base
    copy.write_bytes(net.path.read_bytes() + b"\0")
    assert static(dataclasses.replace(net, path=copy), tmp_path).artifact_path(args) != base
    monkeypatch.setattr(CpuStaticRuntime, "toolchain", lambda self: "torch-0.0")
    assert executable.artifact_path(tuple(inputs(32).values())) != base


class _Planted:
    def __reduce__(self):  # what a hostile cache file would do if it were unpickled
        return (Path.touch, (Path(os.environ["PLANTED_MARKER"]),))


def test_foreign_files_are_never_unpickled_and_are_replaced(net: ttsint.Network, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "unpickled"
    monkeypatch.setenv("PLANTED_MARKER", str(marker))
    executable = static(net, tmp_path / "cache")
    path = executable.artifact_path(tuple(inputs(32).values()))
    path.parent.mkdir()
    path.write_bytes(pickle.dumps(_Planted()))
    executable(inputs(32))
    assert not marker.exists()
    assert executable.stats.snapshot()["compiles"] == 1
    reloaded = static(net, tmp_path / "cache")
    reloaded(inputs(32))
    assert reloaded.stats.snapshot()["cache_hits"] == 1
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".")]  # no temporary files left


def synth(args: list[str], cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TTSINT_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", "from ttsint.cli import main; main()", "synth", TEXT,
                           "--addon", "demo", *args], env=env, capture_output=True, text=True, timeout=300,
                          check=True)


@pytest.mark.slow
def test_cli_reuses_the_cache_across_processes(ref_voice: ttsint.Voice, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    split = ["--set", "stack.0.sequence_block.buckets=[16,32]"]  # 48 symbols: split into pieces
    first = synth([*SWAP, *split, "-o", str(tmp_path / "first.npy"), "--stats"], cache)
    assert ("network text_encoder (stack[0].sequence_block): runtime=cpu-static, device=cpu, calls="
            in first.stdout)
    assert "network decoder (stack[0].streamable_block.stack[1]): runtime=cpu-static" in first.stdout
    assert "compiles=1" in first.stdout and "cache_hits" not in first.stdout
    assert "split_utterances=1" in first.stdout and "padding_waste=" in first.stdout
    second = synth([*SWAP, *split, "-o", str(tmp_path / "second.npy"), "--json"], cache)
    report = json.loads(second.stdout)
    networks = report["networks"]
    assert not any("compiles" in n for n in networks.values())
    assert networks["stack[0].sequence_block:text_encoder"]["cache_hits"] >= 1
    assert networks["stack[0].streamable_block.stack[1]:decoder"]["cache_hits"] == 1
    assert report["blocks"]["stack[0].sequence_block"]["pieces"] >= 2
    reference = ref_voice.synthesize(TEXT).numpy()
    for name in ("first.npy", "second.npy"):
        assert np.abs(np.load(tmp_path / name) - reference).max() <= 1e-4


class _GatedRuntime(CpuStaticRuntime):
    """Compiles a 64-symbol shape only once the test opens the gate; every other shape at once."""

    def __init__(self, cache_dir: Path) -> None:
        super().__init__(cache_dir=cache_dir)
        self.gate = threading.Event()
        self.entered = threading.Event()

    def compile(self, network: ttsint.Network, example_inputs: tuple[torch.Tensor, ...]) -> object:
        if example_inputs[0].shape[1] == 64:
            self.entered.set()
            assert self.gate.wait(120), "the test never opened the gate"
        return super().compile(network, example_inputs)


def test_a_compile_blocks_only_its_own_shape(net: ttsint.Network, tmp_path: Path) -> None:
    runtime = _GatedRuntime(tmp_path)
    executable = runtime.load(net)
    executable(inputs(32))
    failures: list[BaseException] = []

    def call(length: int) -> None:
        try:
            executable(inputs(length))
        except BaseException as exc:  # reported below: a thread's exception would otherwise vanish
            failures.append(exc)

    slow = threading.Thread(target=call, args=(64,))
    slow.start()
    assert runtime.entered.wait(120)
    ready = threading.Thread(target=call, args=(32,))
    ready.start()
    ready.join(120)  # with one lock for every compile this would wait for the gate, which stays shut
    finished_while_compiling = not ready.is_alive() and slow.is_alive()
    runtime.gate.set()
    slow.join(120)
    assert not failures, failures
    assert finished_while_compiling
    assert executable.stats.snapshot()["compiles"] == 2 and executable.stats.snapshot()["calls"] == 3
    executable.close()
    executable(inputs(32))
    assert executable.stats.snapshot()["cache_hits"] == 1  # closed: memory forgotten, the disk cache kept


def test_a_network_loaded_in_inference_mode_compiles_in_another_thread(tmp_path: Path) -> None:
    with torch.inference_mode():  # a caller's mode must not turn the weights into inference tensors
        net = ttsint.load_addon("demo").networks["duration_predictor"]
    assert not any(p.is_inference() for p in net.module.parameters())
    with torch.inference_mode():
        args = inputs(48)
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append(static(net, tmp_path)(args)))
    worker.start()
    worker.join(300)
    assert len(results) == 1

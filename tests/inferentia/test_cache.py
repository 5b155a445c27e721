"""The compile cache: keyed by network file, shapes, backend and toolchain; reused across processes."""

from __future__ import annotations

import dataclasses
import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
import ttsint
from ttsint_inferentia import CpuStaticBackend
from ttsint_inferentia.compiler import Compiler, RunStats

TEXT = "Hello world, this is a longer sentence to split."
SWAP = ["--set", "stack.0.sequence_block.type=NeuronEncoders",
        "--set", "stack.0.streamable_block.stack.1.type=NeuronDecoder"]


def inputs(length: int) -> dict[str, torch.Tensor]:
    return {"symbols": torch.ones(1, length, dtype=torch.int64), "mask": torch.ones(1, length)}


@pytest.fixture
def net(ref_voice: ttsint.Voice) -> ttsint.Network:
    return ref_voice.addon.networks["duration_predictor"]


def test_second_compiler_loads_instead_of_compiling(net: ttsint.Network, tmp_path: Path) -> None:
    first, second = RunStats(), RunStats()
    Compiler(CpuStaticBackend(), tmp_path, first).network(net, inputs(32))
    loaded = Compiler(CpuStaticBackend(), tmp_path, second).network(net, inputs(32))
    out = loaded.run(inputs(32), batched=True)
    assert first.snapshot() == {"compiles": 1} and second.snapshot() == {"cache_hits": 1}
    assert torch.allclose(out["durations"], net.run(inputs(32), batched=True)["durations"], atol=1e-5)


def test_key_covers_shape_backend_toolchain_and_file_content(net: ttsint.Network, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    compiler = Compiler(CpuStaticBackend(), tmp_path, RunStats())
    base = compiler.artifact_path(net, tuple(inputs(32).values()))
    assert base.parent == tmp_path and base.name.startswith("duration_predictor-1x32-cpu-static-")
    assert compiler.artifact_path(net, tuple(inputs(64).values())) != base
    copy = tmp_path / "copy" / net.path.name
    copy.parent.mkdir()
    copy.write_bytes(net.path.read_bytes())
    assert compiler.artifact_path(dataclasses.replace(net, path=copy), tuple(inputs(32).values())) == base
    copy.write_bytes(net.path.read_bytes() + b"\0")
    assert compiler.artifact_path(dataclasses.replace(net, path=copy), tuple(inputs(32).values())) != base
    monkeypatch.setattr(CpuStaticBackend, "version", lambda self: "torch-0.0")
    assert compiler.artifact_path(net, tuple(inputs(32).values())) != base


class _Planted:
    def __reduce__(self):  # what a hostile cache file would do if it were unpickled
        return (Path.touch, (Path(os.environ["PLANTED_MARKER"]),))


def test_foreign_files_are_never_unpickled_and_are_replaced(net: ttsint.Network, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "unpickled"
    monkeypatch.setenv("PLANTED_MARKER", str(marker))
    stats = RunStats()
    compiler = Compiler(CpuStaticBackend(), tmp_path / "cache", stats)
    path = compiler.artifact_path(net, tuple(inputs(32).values()))
    path.parent.mkdir()
    path.write_bytes(pickle.dumps(_Planted()))
    compiler.network(net, inputs(32)).run(inputs(32), batched=True)
    assert not marker.exists()
    assert stats.snapshot() == {"compiles": 1}
    reloaded = RunStats()
    Compiler(CpuStaticBackend(), tmp_path / "cache", reloaded).network(net, inputs(32))
    assert reloaded.snapshot() == {"cache_hits": 1}
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
    assert "stack[0].sequence_block (NeuronEncoders): backend=cpu-static, compiles=" in first.stdout
    assert "(NeuronDecoder): backend=cpu-static, compiles=1, cache_hits=0" in first.stdout
    assert "split_utterances=1" in first.stdout and "padding_waste=" in first.stdout
    second = synth([*SWAP, *split, "-o", str(tmp_path / "second.npy"), "--json"], cache)
    blocks = json.loads(second.stdout)["blocks"]
    encoders, decoder = blocks["stack[0].sequence_block"], blocks["stack[0].streamable_block.stack[1]"]
    assert encoders["compiles"] == decoder["compiles"] == 0
    assert encoders["cache_hits"] >= 2 and decoder["cache_hits"] == 1
    assert encoders["pieces"] >= 2
    reference = ref_voice.synthesize(TEXT).numpy()
    for name in ("first.npy", "second.npy"):
        assert np.abs(np.load(tmp_path / name) - reference).max() <= 1e-4

"""The onnxruntime runtime: converted graphs keep dynamic axes, match torch, are cached across processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import ttsint
from ttsint.testing import check_runtime, example_inputs
from ttsint_onnx import OnnxRuntime, onnx_path
from ttsint_onnx.convert import dynamic_inputs

from .conftest import onnx_setting


def pool() -> ttsint.RuntimePool:
    return ttsint.RuntimePool(ttsint.get_registry())


@pytest.mark.slow
def test_matches_torch_within_1e_4_at_every_length(addon: ttsint.Addon, onnx_cache: Path) -> None:
    check_runtime(OnnxRuntime(cache_dir=onnx_cache, threads=1), addon, lengths=(1, 7, 300, 2000))


@pytest.mark.slow
def test_converted_graph_keeps_the_length_axis_dynamic(addon: ttsint.Addon, onnx_cache: Path) -> None:
    runtimes = pool()
    for network in addon.networks.values():
        runtimes.executable(network, [onnx_setting(onnx_cache)], block_path="test")
        # The graph onnxruntime runs: the addon's shipped ONNX form (en-rms), else the cached conversion.
        shapes = dynamic_inputs(network.onnx.file if network.onnx else onnx_path(network, onnx_cache))
        assert list(shapes) == network.inputs
        specs = network.input_specs()  # a step network's state has a fixed length, and must keep it
        for name, shape in shapes.items():
            assert isinstance(shape[1], str) == (specs[name][0][1] is None), (name, shapes)


_SECOND_PROCESS = """
import json, sys, torch, ttsint
addon = ttsint.load_addon("demo")
net = addon.networks["duration_predictor"]
setting = ttsint.RuntimeSetting(runtime={"type": "onnxruntime", "cache_dir": sys.argv[1]})
run = ttsint.RuntimePool(ttsint.get_registry()).executable(net, [setting], block_path="x")
run({"symbols": torch.arange(1, 9).unsqueeze(0), "mask": torch.ones(1, 8)})
print(json.dumps(run.report()))
"""


@pytest.mark.slow
def test_cache_is_reused_by_another_process(tmp_path: Path) -> None:
    def run() -> dict[str, object]:
        env = {k: v for k, v in os.environ.items() if k != "TTSINT_CACHE_DIR"}
        done = subprocess.run([sys.executable, "-c", _SECOND_PROCESS, str(tmp_path)], capture_output=True,
                              text=True, env=env, timeout=600)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])

    first = run()
    files = sorted(p.name for p in tmp_path.iterdir())
    mtimes = [p.stat().st_mtime_ns for p in tmp_path.iterdir()]
    second = run()
    assert first["conversions"] == 1 and "cache_hits" not in first
    assert second["cache_hits"] == 1 and "conversions" not in second
    assert len(files) == 1 and files[0].startswith("duration_predictor-onnx-") and files[0].endswith(".onnx")
    assert sorted(p.name for p in tmp_path.iterdir()) == files  # no leftover temporary files
    assert [p.stat().st_mtime_ns for p in tmp_path.iterdir()] == mtimes


def test_an_unreadable_cache_file_is_converted_again(onnx_cache: Path, tmp_path: Path) -> None:
    network = ttsint.load_addon("demo").networks["duration_predictor"]
    good = onnx_path(network, onnx_cache)
    pool().executable(network, [onnx_setting(onnx_cache)], block_path="test")
    planted = onnx_path(network, tmp_path)
    planted.write_bytes(b"not an onnx file")
    run = pool().executable(network, [onnx_setting(tmp_path)], block_path="test")
    assert run.report()["conversions"] == 1
    assert planted.read_bytes() == good.read_bytes() or planted.stat().st_size > 1000
    inputs = example_inputs(network, 9)
    torch.testing.assert_close(run(inputs)["durations"], network.run(inputs, batched=True)["durations"],
                               atol=1e-4, rtol=0)


def test_cache_key_follows_the_file_content_and_the_names(tmp_path: Path) -> None:
    network = ttsint.load_addon("demo").networks["decoder"]
    base = onnx_path(network, tmp_path)
    copy = tmp_path / "copy" / network.path.name
    copy.parent.mkdir()
    copy.write_bytes(network.path.read_bytes())
    import dataclasses

    assert onnx_path(dataclasses.replace(network, path=copy), tmp_path) == base
    assert onnx_path(dataclasses.replace(network, outputs=["other"]), tmp_path) != base
    copy.write_bytes(network.path.read_bytes() + b"\0")
    assert onnx_path(dataclasses.replace(network, path=copy), tmp_path) != base


def test_threads_set_the_session_and_bad_values_name_the_setting(onnx_cache: Path) -> None:
    network = ttsint.load_addon("demo").networks["duration_predictor"]
    run = pool().executable(network, [onnx_setting(onnx_cache, threads=1)], block_path="test")
    assert run.session.get_session_options().intra_op_num_threads == 1
    assert run.runtime.describe() == "onnxruntime on cpu, threads=1"
    bad = ttsint.RuntimeSetting(runtime={"type": "onnxruntime", "threads": 0},
                                runtime_at="stack[0].sequence_block.runtime")
    with pytest.raises(ttsint.ConfigError, match=r"stack\[0\]\.sequence_block\.runtime: runtime "
                                                 r"'onnxruntime': threads must be a positive integer, got 0"):
        pool().executable(network, [bad], block_path="test")
    typo = ttsint.RuntimeSetting(runtime={"type": "onnxruntime", "thread": 2},
                                 runtime_at="networks.x.runtime")
    with pytest.raises(ttsint.ConfigError, match=r"networks\.x\.runtime\.thread: runtime 'onnxruntime' has "
                                                 r"no parameter 'thread'\n  did you mean 'threads'"):
        pool().executable(network, [typo], block_path="test")


def test_idle_threads_do_not_spin_unless_asked(onnx_cache: Path) -> None:
    network = ttsint.load_addon("demo").networks["duration_predictor"]
    quiet = pool().executable(network, [onnx_setting(onnx_cache, threads=2)], block_path="test")
    asked = onnx_setting(onnx_cache, threads=2, spinning=True)
    spinning = pool().executable(network, [asked], block_path="test")
    key = "session.intra_op.allow_spinning"
    assert quiet.session.get_session_options().get_session_config_entry(key) == "0"
    assert spinning.session.get_session_options().get_session_config_entry(key) == "1"
    assert spinning.runtime.describe() == "onnxruntime on cpu, threads=2, spinning=True"


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is here; this is the refusal where there is none")
def test_cuda_where_there_is_none_is_refused_at_the_device_setting(onnx_cache: Path) -> None:
    network = ttsint.load_addon("demo").networks["decoder"]
    setting = ttsint.RuntimeSetting(runtime="onnxruntime", device="cuda", device_at="--device")
    with pytest.raises(ttsint.ConfigError, match=r"--device: device 'cuda' is not available on this machine"):
        pool().executable(network, [setting], block_path="test")
    assert OnnxRuntime.devices() == ["cpu"]


def test_torchscript_networks_are_refused_with_the_reason(tiny_addon: Path, onnx_cache: Path) -> None:
    postnet = ttsint.load_addon(tiny_addon).networks["postnet"]
    with pytest.raises(ttsint.AddonError, match=r"network 'postnet' \(postnet\.pt\) is TorchScript; the "
                                                r"onnxruntime runtime converts torch\.export programs"):
        pool().executable(postnet, [onnx_setting(onnx_cache)], block_path="test")


@pytest.mark.slow
def test_synth_with_the_default_voice_on_onnxruntime(onnx_cache: Path, tmp_path: Path) -> None:
    out = tmp_path / "x.wav"
    env = {**os.environ, "TTSINT_CACHE_DIR": str(onnx_cache), "OMP_NUM_THREADS": "1"}
    command = ["synth", "Hello world.", "--runtime", "onnxruntime", "-o", str(out), "--stats"]
    done = subprocess.run([sys.executable, "-c", "from ttsint.cli import main; main()", *command], env=env,
                          capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 10_000 and out.read_bytes()[:4] == b"RIFF"
    encoders, decoder = "stack[0].sequence_block", "stack[0].streamable_block.stack[1]"
    for name, block in (("text_encoder", encoders), ("duration_predictor", encoders), ("decoder", decoder)):
        assert f"network {name} ({block}): runtime=onnxruntime, device=cpu, calls=" in done.stdout


def test_a_voice_opens_its_sessions_at_once_and_is_built_only_when_they_are_open(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    all_opening = threading.Barrier(3, timeout=60)  # en-rms's three ONNX forms; broken if opened one by one
    real = OnnxRuntime._session

    def session(runtime: OnnxRuntime, model: bytes) -> object:
        all_opening.wait()
        return real(runtime, model)

    monkeypatch.setattr(OnnxRuntime, "_session", session)
    with ttsint.Voice.load("en-rms") as voice:
        assert len(voice.bindings) == 3
        assert all(b.executable.session is not None for b in voice.bindings)  # type: ignore[attr-defined]
        assert voice.synthesize("Hi.").shape[0] > 1000


def test_a_session_that_fails_in_the_background_fails_the_voice_load(monkeypatch: pytest.MonkeyPatch) -> None:
    def session(runtime: OnnxRuntime, model: bytes) -> object:
        raise RuntimeError("[ONNXRuntimeError] : 10 : INVALID_GRAPH")

    monkeypatch.setattr(OnnxRuntime, "_session", session)
    with pytest.raises(ttsint.PluginError, match=r"runtime 'onnxruntime' cannot load network '\w+' "
                                                 r"\(\w+\.pt2\): RuntimeError: \[ONNXRuntimeError\]"):
        ttsint.Voice.load("en-rms")

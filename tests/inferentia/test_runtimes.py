"""Fixed-shape runtimes: cpu-static compiles a static program per shape; neuron, on a fake torch_neuronx."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import ttsint
from ttsint.testing import check_runtime
from ttsint_inferentia import CpuStaticRuntime, NeuronRuntime, StaticExecutable

from .conftest import cpu_static, mel, neuron_overrides


def static_text_encoder(voice: ttsint.Voice, cache_dir: Path) -> StaticExecutable:
    net = voice.addon.networks["text_encoder"]
    pool = ttsint.RuntimePool(ttsint.get_registry())
    executable = pool.executable(net, [ttsint.RuntimeSetting(cpu_static(cache_dir))], block_path="test",
                                 fixed_shapes=True)
    assert isinstance(executable, StaticExecutable)
    return executable


def inputs(length: int) -> dict[str, torch.Tensor]:
    return {"symbols": torch.ones(1, length, dtype=torch.int64), "mask": torch.ones(1, length)}


def test_one_static_program_per_shape(ref_voice: ttsint.Voice, cache_dir: Path) -> None:
    executable = static_text_encoder(ref_voice, cache_dir)
    assert executable({**inputs(32)})["text_encoding"].shape == (1, 32, 64)
    executable(inputs(32))
    executable(inputs(33))
    assert executable.shapes == ["int64[1x32], float32[1x32]", "int64[1x33], float32[1x33]"]
    report = executable.report()
    assert report["calls"] == 3 and report.get("compiles", 0) + report.get("cache_hits", 0) == 2
    program = next(iter(executable._modules.values()))  # what Neuron would run: it refuses other shapes
    with pytest.raises(Exception, match="32"):
        program(torch.ones(1, 33, dtype=torch.int64), torch.ones(1, 33))


def test_cpu_static_passes_the_runtime_conformance_check(tmp_path: Path) -> None:
    check_runtime(CpuStaticRuntime(cache_dir=tmp_path), "demo", lengths=(7, 32))


def test_blocks_whose_shapes_vary_are_refused_fixed_shape_runtimes() -> None:
    with pytest.raises(ttsint.ConfigError, match=r"^voice: runtime: runtime 'cpu-static' compiles one "
                                                 r"program per input shape, and the block at "
                                                 r"stack\[0\]\.sequence_block runs network 'text_encoder' "
                                                 r"on shapes that vary"):
        ttsint.Voice.load("demo", runtime="cpu-static")
    with pytest.raises(ttsint.ConfigError, match=r"addon: networks\.decoder\.runtime: runtime 'cpu-static' "
                                                 r"compiles one program"):
        ttsint.Voice.load("demo", {"networks.decoder.runtime": "cpu-static"})


def test_fixed_shape_blocks_run_on_any_runtime(ref_voice: ttsint.Voice, cache_dir: Path,
                                               symbols: Callable[[int], torch.Tensor]) -> None:
    voice = ttsint.Voice.load("demo", overrides=neuron_overrides(cache_dir), runtime="torch")
    assert {b.executable.runtime.name for b in voice.bindings} == {"torch"}
    a, b = mel(ref_voice, symbols(150)), mel(voice, symbols(150))
    assert float((a - b).abs().max()) <= 1e-4


@pytest.fixture
def no_neuronx(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch_neuronx", None)  # makes `import torch_neuronx` fail


@pytest.fixture
def fake_neuronx(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[int, ...], ...]]:
    """A stand-in torch_neuronx whose ``trace`` records each call's input shapes and returns a TorchScript."""
    calls: list[tuple[tuple[int, ...], ...]] = []

    def trace(module: torch.nn.Module, example_inputs: tuple[torch.Tensor, ...]) -> torch.jit.ScriptModule:
        calls.append(tuple(tuple(t.shape) for t in example_inputs))
        return torch.jit.trace(module, example_inputs, check_trace=False)

    fake = types.ModuleType("torch_neuronx")
    fake.trace = trace  # type: ignore[attr-defined]
    fake.__version__ = "0.0-fake"  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch_neuronx", fake)
    return calls


def test_neuron_without_torch_neuronx_is_a_config_error(no_neuronx: None, cache_dir: Path) -> None:
    assert NeuronRuntime.devices() == []
    overrides = neuron_overrides(cache_dir, **{"stack.0.sequence_block.runtime": "neuron"})
    with pytest.raises(ttsint.ConfigError, match=r"sequence_block\.runtime: runtime 'neuron' needs "
                                                 r"torch_neuronx"):
        ttsint.Voice.load("demo", overrides=overrides)


def test_neuron_runs_on_neuron_cores_only(fake_neuronx: list) -> None:
    with pytest.raises(ValueError, match=r"runtime 'neuron' runs on NeuronCores \(device \"neuron\"\), "
                                         r"not 'cuda'"):
        NeuronRuntime.check_device("cuda")
    assert NeuronRuntime.devices() == ["neuron"] and CpuStaticRuntime.devices() == ["cpu"]


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_neuron_path_through_a_fake_torch_neuronx(fake_neuronx: list, ref_voice: ttsint.Voice, tmp_path: Path,
                                                  symbols: Callable[[int], torch.Tensor]) -> None:
    neuron = {"type": "neuron", "cache_dir": str(tmp_path)}
    overrides = neuron_overrides(tmp_path, **{"stack.0.sequence_block.runtime": neuron,
                                              "stack.0.sequence_block.buckets": [32, 64],
                                              "stack.0.streamable_block.stack.1.runtime": neuron})
    voice = ttsint.Voice.load("demo", overrides=overrides)
    assert {(b.executable.runtime.name, b.executable.report()["device"]) for b in voice.bindings} == {
        ("neuron", "neuron")}
    for n in (20, 150):
        a, b = mel(ref_voice, symbols(n)), mel(voice, symbols(n))
        assert float((a - b).abs().max()) <= 1e-4
    # One trace per network and bucket, each with its own fixed shapes; the decoder's one window shape.
    expected = [((1, 32), (1, 32))] * 2 + [((1, 64), (1, 64))] * 2 + [((1, 92, 64), (1, 92))]
    assert sorted(fake_neuronx) == sorted(expected)
    assert {p.suffix for p in tmp_path.iterdir()} == {".pt"}
    assert all("-neuron-" in p.name for p in tmp_path.iterdir())
    # A rebuilt stack loads the saved TorchScript instead of tracing again.
    again = ttsint.Voice.load("demo", overrides=overrides)
    for n in (20, 150):
        mel(again, symbols(n))
    assert len(fake_neuronx) == 5
    hits = {k: v.get("cache_hits", 0) for k, v in again.network_reports().items()}
    assert sorted(hits.values()) == [1, 2, 2]
    assert not any(v.get("compiles") for v in again.network_reports().values())

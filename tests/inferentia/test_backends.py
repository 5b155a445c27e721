"""Backends: cpu-static refuses shapes not compiled for; the neuron path runs on a fake torch_neuronx."""

from __future__ import annotations

import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import ttsint
from ttsint_inferentia import CpuStaticBackend, NeuronBackend, ShapeError, get_backend
from ttsint_inferentia.compiler import Compiler, RunStats

from .conftest import mel, neuron_overrides


def compiled_text_encoder(voice: ttsint.Voice, cache_dir: Path, length: int) -> ttsint.Network:
    net = voice.addon.networks["text_encoder"]
    inputs = {"symbols": torch.ones(1, length, dtype=torch.int64), "mask": torch.ones(1, length)}
    return Compiler(CpuStaticBackend(), cache_dir, RunStats()).network(net, inputs)


def test_a_shape_not_compiled_raises(ref_voice: ttsint.Voice, cache_dir: Path) -> None:
    net = compiled_text_encoder(ref_voice, cache_dir, 32)
    ok = net.run({"symbols": torch.ones(1, 32, dtype=torch.int64), "mask": torch.ones(1, 32)}, batched=True)
    assert ok["text_encoding"].shape == (1, 32, 64)
    with pytest.raises(ShapeError, match=r"compiled by the cpu-static backend for inputs "
                                         r"\(int64\[1x32\], float32\[1x32\]\) and cannot run "
                                         r"\(int64\[1x33\], float32\[1x33\]\)"):
        net.run({"symbols": torch.ones(1, 33, dtype=torch.int64), "mask": torch.ones(1, 33)}, batched=True)
    # a wrong dtype is caught by core before any backend, from the exported graph's signature
    wrong_dtype = r"takes 'symbols' as torch\.int64, but was given torch\.float32"
    with pytest.raises(ttsint.AddonError, match=wrong_dtype):
        net.run({"symbols": torch.ones(1, 32), "mask": torch.ones(1, 32)}, batched=True)


def test_the_compiled_program_itself_is_static(ref_voice: ttsint.Voice, cache_dir: Path) -> None:
    """Below the up-front check, the exported program also refuses other shapes, as Neuron does."""
    program = compiled_text_encoder(ref_voice, cache_dir, 32).module.module
    with pytest.raises(Exception, match="32"):
        program(torch.ones(1, 33, dtype=torch.int64), torch.ones(1, 33))


def test_shape_errors_are_ttsint_errors() -> None:
    assert issubclass(ShapeError, ttsint.TTSIntError)


def test_unknown_backend() -> None:
    with pytest.raises(ValueError, match="unknown backend 'gpu'; choose from cpu-static, neuron, auto"):
        get_backend("gpu")


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


def test_auto_picks_cpu_static_without_torch_neuronx(no_neuronx: None) -> None:
    assert get_backend("auto").name == "cpu-static"
    with pytest.raises(ValueError, match="needs torch_neuronx"):
        get_backend("neuron")


def test_neuron_backend_without_torch_neuronx_is_a_config_error(no_neuronx: None, cache_dir: Path) -> None:
    overrides = neuron_overrides(cache_dir, **{"stack.0.sequence_block.backend": "neuron"})
    with pytest.raises(ttsint.ConfigError, match=r"sequence_block\.backend: backend 'neuron' needs torch_"):
        ttsint.Voice.load("demo", overrides=overrides)


@pytest.mark.filterwarnings("ignore::DeprecationWarning", "ignore::torch.jit.TracerWarning")
def test_neuron_path_through_a_fake_torch_neuronx(fake_neuronx: list, ref_voice: ttsint.Voice, tmp_path: Path,
                                                  symbols: Callable[[int], torch.Tensor]) -> None:
    assert isinstance(get_backend("auto"), NeuronBackend)
    voice = ttsint.Voice.load("demo", overrides=neuron_overrides(tmp_path, **{
        "stack.0.sequence_block.backend": "auto", "stack.0.sequence_block.buckets": [32, 64],
        "stack.0.streamable_block.stack.1.backend": "neuron"}))
    encoders, decoder = voice.block.sequence_block, voice.block.streamable_block.stack[1]
    assert encoders.backend.name == decoder.backend.name == "neuron"
    for n in (20, 150):
        a, b = mel(ref_voice, symbols(n)), mel(voice, symbols(n))
        assert float((a - b).abs().max()) <= 1e-4
    # One trace per network and bucket, each with its own fixed shapes; the decoder's one window shape.
    expected = [((1, 32), (1, 32))] * 2 + [((1, 64), (1, 64))] * 2 + [((1, 92, 64), (1, 92))]
    assert sorted(fake_neuronx) == sorted(expected)
    assert {p.suffix for p in tmp_path.iterdir()} == {".pt"}
    assert all("-neuron-" in p.name for p in tmp_path.iterdir())
    # A rebuilt stack loads the saved TorchScript instead of tracing again.
    again = ttsint.Voice.load("demo", overrides=neuron_overrides(tmp_path, **{
        "stack.0.sequence_block.backend": "neuron", "stack.0.sequence_block.buckets": [32, 64],
        "stack.0.streamable_block.stack.1.backend": "neuron"}))
    for n in (20, 150):
        mel(again, symbols(n))
    assert len(fake_neuronx) == 5
    assert again.block.sequence_block.report()["cache_hits"] == 4
    assert again.block.streamable_block.stack[1].report()["cache_hits"] == 1

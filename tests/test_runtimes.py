"""Runtimes: found by name, the most specific setting wins, devices checked at build time, third parties'."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
import ttsint
from ttsint._blocks import chunks_to, utterance_to

DECODER = "stack.0.streamable_block.stack.1"
ENCODERS = "stack.0.sequence_block"
ENCODERS_AT = "stack[0].sequence_block"


def runtimes(voice: ttsint.Voice) -> dict[str, str]:
    """Each bound network's runtime name, keyed by network name."""
    return {b.network.name: b.executable.runtime.name for b in voice.bindings}


@pytest.fixture(scope="module")
def onnx_options(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return {"type": "onnxruntime", "cache_dir": str(tmp_path_factory.mktemp("onnx"))}


def test_torch_on_the_cpu_unless_something_says_otherwise() -> None:
    voice = ttsint.Voice.load("demo")
    assert runtimes(voice) == dict.fromkeys(["text_encoder", "duration_predictor", "decoder"], "torch")
    assert {b.executable.report()["device"] for b in voice.bindings} == {"cpu"}
    paths = [ENCODERS_AT, ENCODERS_AT, "stack[0].streamable_block.stack[1]"]
    assert [b.block_path for b in voice.bindings] == paths


def test_the_most_specific_setting_wins(onnx_options: dict[str, str]) -> None:
    network = {"networks.decoder.runtime": onnx_options}
    assert runtimes(ttsint.Voice.load("demo", network))["decoder"] == "onnxruntime"
    block = {**network, f"{DECODER}.runtime": "torch"}
    assert runtimes(ttsint.Voice.load("demo", block))["decoder"] == "torch"
    voice = ttsint.Voice.load("demo", block, runtime=onnx_options)
    assert set(runtimes(voice).values()) == {"onnxruntime"}
    # A container's setting applies to the blocks inside it.
    inherited = ttsint.Voice.load("demo", {"stack.0.runtime": onnx_options})
    assert set(runtimes(inherited).values()) == {"onnxruntime"}


def test_a_block_types_default_is_below_the_addons_setting() -> None:
    overrides = {f"{ENCODERS}.type": "NeuronEncoders", "networks.text_encoder.runtime": "torch"}
    assert runtimes(ttsint.Voice.load("demo", overrides)) == {
        "text_encoder": "torch", "duration_predictor": "cpu-static", "decoder": "torch"}


@pytest.mark.skipif(torch.cuda.is_available(), reason="CUDA is here; this is the refusal where there is none")
def test_a_device_that_is_not_there_is_a_config_error_at_its_setting() -> None:
    with pytest.raises(ttsint.ConfigError, match=r"addon: networks\.decoder\.device: device 'cuda' is "
                                                 r"not available on this machine \(torch\.cuda\."
                                                 r"is_available\(\) is False"):
        ttsint.Voice.load("demo", {"networks.decoder.device": "cuda"})
    with pytest.raises(ttsint.ConfigError, match=r"stack\[0\]\.sequence_block\.device: device 'cuda:1'"):
        ttsint.Voice.load("demo", {f"{ENCODERS}.device": "cuda:1"})
    # The voice's device is more specific than the addon's: the addon's cuda is never asked for.
    voice = ttsint.Voice.load("demo", {"networks.decoder.device": "cuda"}, device="cpu")
    assert {b.executable.runtime.device_name for b in voice.bindings} == {"cpu"}


def test_device_is_not_ignored() -> None:
    with pytest.raises(ttsint.ConfigError, match=r"^voice: device: runtime 'torch' runs on cpu, cuda, mps, "
                                                 r"not 'meta'"):
        ttsint.Voice.load("demo", device="meta")
    with pytest.raises(ttsint.ConfigError, match=r"^voice: device: 'gpu' is not a device name"):
        ttsint.Voice.load("demo", device="gpu")


def test_unknown_runtimes_suggest_and_say_what_to_install(toy_registry: ttsint.Registry,
                                                          tiny_addon: Path) -> None:
    with pytest.raises(ttsint.ConfigError, match=r"^voice: runtime: unknown runtime 'onnxrt'\n  did you mean "
                                                 r"'onnxruntime'\?"):
        ttsint.Voice.load("demo", runtime="onnxrt")
    # A registry without the onnx plugin: the name is a first-party runtime, so the error says where it is.
    addon = ttsint.load_addon(tiny_addon, registry=toy_registry)
    with pytest.raises(ttsint.ConfigError, match=r"'onnxruntime' is provided by ttsint-onnx: pip install "
                                                 r"ttsint-onnx"):
        ttsint.Voice(addon, runtime="onnxruntime")


def test_malformed_settings_name_their_path() -> None:
    runtime = r"--set: networks\.decoder\.runtime: expected a runtime name or a table such as \{ type = "
    with pytest.raises(ttsint.ConfigError, match=runtime + r"\"onnxruntime\", threads = 1 \}, got 5"):
        ttsint.load_addon("demo", {"networks.decoder.runtime": 5})
    with pytest.raises(ttsint.ConfigError, match=r"networks\.decoder\.device: expected a device name"):
        ttsint.load_addon("demo", {"networks.decoder.device": ["cpu"]})
    with pytest.raises(ttsint.ConfigError, match=r"stack\[1\]\.runtime: Gain runs no network, so 'runtime' "
                                                 r"would do nothing here"):
        ttsint.Voice.load("demo", {"stack.1": {"type": "Gain", "db": -3, "runtime": "torch"}})
    with pytest.raises(ttsint.ConfigError, match=r"stack\[0\]\.sequence_block\.runtime\.thread: runtime "
                                                 r"'torch' has no parameter 'thread'"):
        ttsint.Voice.load("demo", {f"{ENCODERS}.runtime": {"type": "torch", "thread": 2}})


def test_blocks_want_their_inputs_where_their_networks_run(onnx_options: dict[str, str]) -> None:
    voice = ttsint.Voice.load("demo", {f"{DECODER}.runtime": onnx_options})
    pipeline = voice.block
    upsampler, decoder = pipeline.streamable_block.stack
    assert pipeline.device is None and pipeline.streamable_block.device is None  # containers pass through
    assert pipeline.sequence_block.device == upsampler.device == decoder.device == torch.device("cpu")


def test_tensors_move_only_where_devices_differ() -> None:
    utt = {"a": torch.ones(2), "b": torch.zeros(3)}
    assert utterance_to(utt, torch.device("cpu")) is utt and utterance_to(utt, None) is utt
    moved = utterance_to(utt, torch.device("meta"))
    assert {t.device.type for t in moved.values()} == {"meta"}
    chunks = [ttsint.Chunk(torch.ones(2, 1, device="meta"), 0), ttsint.Chunk(torch.ones(2, 1), 2)]
    kept = list(chunks_to(iter(chunks), torch.device("meta")))
    assert kept[0] is chunks[0] and kept[1].frames.device.type == "meta" and kept[1].start == 2


def test_check_and_stats_show_each_networks_runtime(onnx_options: dict[str, str], capsys) -> None:
    from ttsint.cli import run

    assert run(["check", "demo", "--set", f"{DECODER}.runtime={json.dumps(onnx_options)}"]) == 0
    out = capsys.readouterr().out
    assert re.search(r"  network decoder: decoder \['frames', 'mask'\] -> \['mel'\] receptive_field=14.*\n"
                     r"    runs on onnxruntime on cpu \(for stack\[0\]\.streamable_block\.stack\[1\]\)", out)
    assert "    runs on torch on cpu (for stack[0].sequence_block)" in out
    assert run(["synth", "hi", "--addon", "demo", "--runtime", json.dumps(onnx_options), "--stats"]) == 0
    out = capsys.readouterr().out
    for name, path in (("text_encoder", ENCODERS_AT), ("decoder", "stack[0].streamable_block.stack[1]")):
        assert f"network {name} ({path}): runtime=onnxruntime, device=cpu, calls=" in out


def test_runtimes_lists_every_registered_runtime(capsys) -> None:
    from ttsint.cli import run

    assert run(["runtimes", "--json"]) == 0
    rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
    assert rows["torch"]["distribution"] == "ttsint" and rows["torch"]["devices"].startswith("cpu")
    assert rows["onnxruntime"]["distribution"] == "ttsint-onnx"
    assert "threads" in rows["onnxruntime"]["options"]
    assert rows["cpu-static"]["fixed_shapes"] and rows["neuron"]["distribution"] == "ttsint-inferentia"


@pytest.mark.slow
def test_a_third_party_runtime_is_usable_by_name(plugin_venv) -> None:
    listed = plugin_venv.cli("runtimes", "--json")
    assert listed.returncode == 0, listed.stderr
    rows = {r["name"]: r for r in json.loads(listed.stdout)}
    assert rows["toy-runtime"]["distribution"] == "ttsint-throwaway"
    assert rows["toy-runtime"]["devices"] == "cpu"
    done = plugin_venv.cli("synth", "a toy", "--addon", "toy-voice", "--runtime", "toy-runtime", "--json")
    assert done.returncode == 0, done.stderr
    networks = json.loads(done.stdout)["networks"]
    assert {n["runtime"] for n in networks.values()} == {"toy-runtime"}
    assert all(n["toy_calls"] == n["calls"] > 0 for n in networks.values())
    typo = plugin_venv.cli("synth", "a toy", "--addon", "toy-voice", "--runtime", "toy-runtim")
    assert typo.returncode == 1 and "did you mean 'toy-runtime'?" in typo.stderr


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA here (torch.cuda.is_available() is False)")
def test_cuda_runs_the_same_mel_as_the_cpu() -> None:
    text = "the same voice on a GPU"
    cpu, cuda = ttsint.Voice.load("demo"), ttsint.Voice.load("demo", device="cuda")
    assert {b.executable.runtime.device_name for b in cuda.bindings} == {"cuda"}
    assert float((cpu.synthesize(text) - cuda.synthesize(text)).abs().max()) <= 1e-4


@pytest.mark.parametrize(("value", "parsed"), [
    ("onnxruntime", ("onnxruntime", {})),
    ({"type": "onnxruntime", "threads": 2}, ("onnxruntime", {"threads": 2})),
])
def test_a_runtime_setting_is_a_name_or_a_table_with_a_type(value: object, parsed: tuple) -> None:
    from ttsint._runtimes import parse_runtime

    assert parse_runtime(value, "runtime") == parsed


@pytest.mark.parametrize("value", ["", {"type": 3}, {"type": ""}, {"threads": 2}, 5, None, ["torch"]])
def test_a_malformed_runtime_setting_is_named_at_its_path_as_a_whole(value: object) -> None:
    from ttsint._runtimes import parse_runtime

    with pytest.raises(ttsint.ConfigError) as info:
        parse_runtime(value, "networks.decoder.runtime")
    assert info.value.path == "networks.decoder.runtime"
    assert info.value.message == f"expected a runtime name or a table with a 'type' key, got {value!r}"
    assert info.value.hint.startswith('e.g. runtime = "onnxruntime"')


def test_the_torch_runtime_makes_a_missing_mask_once_per_shape() -> None:
    voice = ttsint.Voice.load("demo")
    decoder = voice.block.streamable_block.stack[1]
    network, executable = decoder.network, decoder.network.executable
    like = torch.zeros(5, 3)
    mask = executable.ones_mask((1, 5), like)
    assert mask is executable.ones_mask((1, 5), like) and torch.equal(mask, torch.ones(1, 5))
    assert executable.ones_mask((1, 6), like).shape == (1, 6)
    width = network.input_specs()[decoder.input_name][0][-1]
    frames = torch.randn(7, width)
    given = network.run({decoder.input_name: frames, "mask": torch.ones(7)})["mel"]
    assert torch.equal(network.run({decoder.input_name: frames})["mel"], given)
    numpy = network.run({decoder.input_name: frames.numpy()})["mel"]  # NumPy in, NumPy out
    assert type(numpy).__module__ == "numpy" and torch.equal(torch.from_numpy(numpy), given)

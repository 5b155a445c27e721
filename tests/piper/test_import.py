"""Importing a Piper voice: the cut found by structure, streamed == whole, seeded noise, bad files refused.

Runs on a random-weight VITS-like voice exported by the fixtures (16 kHz, hop 64, its own phoneme map),
so nothing here is tuned to one file; tests/piper/test_joe.py repeats the key checks on the real joe voice.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import onnx
import pytest
import ttsint
from commands import ttsint_command
from onnx import helper
from ttsint_onnx import GraphLimits, decoder_cut, load_checked, replace_noise, split_model, tensor_of_op
from ttsint_piper import import_voice

TINY_HOP = 64  # tests/piper/conftest.py's TinyVits: two transposed convolutions of stride 8

pytestmark = pytest.mark.slow  # exports and imports an ONNX voice


def _voice(addon: Path, **params) -> ttsint.Voice:
    return ttsint.Voice.load(addon, {f"stack.0.sequence_block.{k}": v for k, v in params.items()})


def test_import_writes_an_addon_with_digests(tiny_addon: Path) -> None:
    text = (tiny_addon / "addon.toml").read_text(encoding="utf-8")
    addon = ttsint.load_addon(tiny_addon)
    for piece in ("encoder", "prior", "flow", "decoder"):
        digest = ttsint.file_sha256(tiny_addon / f"{piece}.onnx")
        assert f'[networks.{piece}]\nfile = "{piece}.onnx"\nsha256 = "{digest}"' in text
        assert addon.networks[piece].config["runtime"] == {"type": "onnxruntime", "threads": 1}
    assert "sample_rate = 16000" in text and "hop_length = 64" in text
    # measured: pre conv 3 frames, then 1 frame of the upsampled convs; the tiny "flow" is a 1x1 convolution
    assert addon.networks["decoder"].receptive_field == 4 and addon.networks["flow"].receptive_field == 0


def test_the_cut_is_found_by_structure_and_the_pieces_equal_the_model(tiny_voice: Path) -> None:
    model = load_checked(tiny_voice)
    noises = replace_noise(model)
    assert [n.distribution for n in noises] == ["normal", "normal"]
    assert not [n for n in model.graph.node if n.op_type.startswith("Random")]
    cut = decoder_cut(model)
    front, decoder, crossing = split_model(model, [cut])
    assert crossing == [cut] and [i.name for i in decoder.graph.input] == [cut]
    import onnxruntime as ort

    whole = ort.InferenceSession(model.SerializeToString())
    head = ort.InferenceSession(front.SerializeToString())
    tail = ort.InferenceSession(decoder.SerializeToString())
    ids = np.array([[1, 0, 20, 0, 13, 0, 41, 0, 2]], np.int64)
    feed = {"input": ids, "input_lengths": np.array([9], np.int64), "scales": np.array([0, 1, 0], np.float32)}
    # With the noise off, the noise inputs only need the right shapes: find the frame count first.
    head_of_ceil = split_model(model, [tensor_of_op(model, "Ceil")])[0]
    duration_model = ort.InferenceSession(head_of_ceil.SerializeToString())
    names = [i.name for i in duration_model.get_inputs()]
    durations = duration_model.run(None, {**{k: v for k, v in feed.items() if k in names},
                                          "noise_0": np.zeros((1, 2, 9), np.float32)})[0]
    frames = int(durations.sum())
    feed.update(noise_0=np.zeros((1, 2, 9), np.float32), noise_1=np.zeros((1, 192, frames), np.float32))
    expected = whole.run(None, feed)[0]
    latent = head.run(None, {i.name: feed[i.name] for i in head.get_inputs()})[0]
    audio = tail.run(None, {cut: latent})[0]
    assert audio.shape == expected.shape == (1, 1, 1, frames * TINY_HOP)
    assert np.array_equal(audio, expected)


@pytest.mark.parametrize("schedule", [dict(first_chunk_frames=1, chunk_frames=3, chunk_growth=None),
                                      dict(first_chunk_frames=8, chunk_frames=512, chunk_growth=4),
                                      dict(first_chunk_frames=5, chunk_frames=7, chunk_growth=None)])
def test_streamed_audio_equals_the_whole_sentence(tiny_addon: Path, schedule: dict) -> None:
    overrides = {f"stack.0.streamable_block.stack.{i}.{k}": v for k, v in schedule.items() for i in (0, 1)}
    voice = ttsint.Voice.load(tiny_addon, {"stack.0.sequence_block.seed": 5, **overrides})
    text = "A short sentence for the decoder windows, with some more words to make it longer."
    encoder, flow, decoder = _blocks(voice)
    encoded = encoder(voice.encode(text))
    whole = decoder.run_all(flow.run_all(encoded["prior"]))  # each piece once over the whole sentence
    chunks = list(voice.stream_utterance(voice.encode(text)))  # the addon's stack, streamed in windows
    assert len(chunks) > 2 or schedule["first_chunk_frames"] == 8
    streamed = np.concatenate([c.frames for c in chunks])
    assert streamed.shape == whole.shape == (int(encoded["prior"].shape[0]) * TINY_HOP, 1)
    assert float(np.abs(streamed - whole).max()) <= 1e-5


def test_a_sentence_readied_ahead_starts_with_a_large_window(tiny_addon: Path) -> None:
    """A later sentence of a text (segment > 0: readied while earlier ones play) starts with ahead_share
    of its frames (up to chunk_frames), the flow's whole and 0.3 of the decoder's; the
    first sentence keeps its small first windows; the audio is the same either way."""
    voice = ttsint.Voice.load(tiny_addon, {"stack.0.sequence_block.seed": 5})
    text = "A short sentence for the decoder windows, with some more words to make it longer."
    encoder, flow, decoder = _blocks(voice)
    utt = encoder(voice.encode(text))
    frames = int(utt["prior"].shape[0])
    assert frames > 40 and (flow.ahead_share, decoder.ahead_share) == (1.0, 0.3)
    # the whole sentence in windows of chunk_frames (512): one call per 512 frames, not 13, 52, 208, ...
    windows = -(-frames // flow.chunk_frames)
    assert len(list(flow.stream({**utt, ttsint.SEGMENT_KEY: np.array(1)}, None))) == windows
    assert len(list(flow.stream({**utt, ttsint.SEGMENT_KEY: np.array(0)}, None))) > 1
    first = list(voice.stream_utterance(voice.encode(text)))
    later = list(voice.stream_utterance({**voice.encode(text), ttsint.SEGMENT_KEY: np.array(1)}))
    assert len(first[0].frames) == decoder.first_chunk_frames * TINY_HOP
    assert len(later[0].frames) == -(-3 * frames // 10) * TINY_HOP
    assert len(later) < len(first)
    assert float(np.abs(np.concatenate([c.frames for c in first])
                        - np.concatenate([c.frames for c in later])).max()) <= 1e-5
    capped = ttsint.Voice.load(tiny_addon, {"stack.0.sequence_block.seed": 5,
                                            "stack.0.streamable_block.stack.1.chunk_frames": 7})
    chunks = list(capped.stream_utterance({**voice.encode(text), ttsint.SEGMENT_KEY: np.array(1)}))
    assert len(chunks[0].frames) == 7 * TINY_HOP  # never more than chunk_frames
    with pytest.raises(ttsint.ConfigError, match="ahead_share"):
        ttsint.Voice.load(tiny_addon, {"stack.0.streamable_block.stack.1.ahead_share": 0})


def _blocks(voice: ttsint.Voice) -> tuple:
    from ttsint_piper import PiperDecoder, PiperEncoder, PiperFlow

    found = {type(node.block): node.block for node in ttsint.walk(voice.block)}
    return found[PiperEncoder], found[PiperFlow], found[PiperDecoder]


def test_a_seed_reproduces_audio_and_noise_zero_is_deterministic(tiny_addon: Path) -> None:
    text = "Seeded noise, please."
    a = _voice(tiny_addon, seed=11).synthesize(text)
    b = _voice(tiny_addon, seed=11).synthesize(text)
    c = _voice(tiny_addon, seed=12).synthesize(text)
    assert np.array_equal(a, b)
    assert not np.array_equal(a[: min(len(a), len(c))], c[: min(len(a), len(c))])
    unseeded = _voice(tiny_addon)
    assert not np.array_equal(unseeded.synthesize(text), unseeded.synthesize(text))
    quiet = _voice(tiny_addon, noise_scale=0, noise_w=0)
    seeded = _voice(tiny_addon, noise_scale=0, noise_w=0, seed=3)
    assert np.array_equal(quiet.synthesize(text), seeded.synthesize(text))


def test_speed_and_length_scale_change_the_duration(tiny_addon: Path) -> None:
    text = "How long is this sentence?"
    base = len(_voice(tiny_addon, seed=1, noise_w=0).synthesize(text))
    fast = len(_voice(tiny_addon, seed=1, noise_w=0, speed=2.0).synthesize(text))
    slow = len(_voice(tiny_addon, seed=1, noise_w=0, length_scale=2.0).synthesize(text))
    assert fast < base < slow


def test_durations_give_symbol_frames(tiny_addon: Path) -> None:
    voice = _voice(tiny_addon, seed=2)
    encoder, _, decoder = _blocks(voice)
    utt = encoder(voice.encode("Time me."))
    frames = decoder.symbol_frames(utt)
    assert frames is not None and len(frames) == len(utt["symbols"])
    assert int(frames.sum()) == int(utt["prior"].shape[0])


def test_cli_import_and_synth(tiny_voice: Path, tmp_path: Path) -> None:
    out = tmp_path / "addon"
    run = subprocess.run([*ttsint_command(), "piper", "import", str(tiny_voice), "-o", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "receptive field 4 frames" in run.stdout
    audio = ttsint.Voice.load(out).synthesize("Imported from the command line.")
    assert audio.shape[1] == 1 and len(audio) > TINY_HOP * 10


# --- bad input: one paragraph, exit 1, no traceback -------------------------------------------------------

def _import_fails(model: Path, tmp_path: Path, *messages: str) -> None:
    run = subprocess.run([*ttsint_command(), "piper", "import", str(model), "-o", str(tmp_path / "out")],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stdout + run.stderr
    assert "Traceback" not in run.stderr
    for message in messages:
        assert message in run.stderr, run.stderr
    assert not (tmp_path / "out" / "addon.toml").exists()


def _copy(tiny_voice: Path, folder: Path, config: dict | None = None) -> Path:
    model = folder / "voice.onnx"
    shutil.copyfile(tiny_voice, model)
    if config is not None:
        (folder / "voice.onnx.json").write_text(json.dumps(config), encoding="utf-8")
    return model


def test_missing_config(tiny_voice: Path, tmp_path: Path) -> None:
    _import_fails(_copy(tiny_voice, tmp_path), tmp_path, "voice.onnx.json", "config is missing")


def test_config_of_another_voice(tiny_voice: Path, tmp_path: Path, tiny_config) -> None:
    config = tiny_config()
    config["num_symbols"] = 256
    config["phoneme_id_map"]["ʒ"] = [200]
    _import_fails(_copy(tiny_voice, tmp_path, config), tmp_path, "phoneme_id_map uses id 200",
                  "embeds only 48 symbols")


def test_config_with_a_wrong_sample_rate(tiny_voice: Path, tmp_path: Path, tiny_config) -> None:
    config = tiny_config()
    config["audio"]["sample_rate"] = 5
    _import_fails(_copy(tiny_voice, tmp_path, config), tmp_path, "audio.sample_rate")


def test_ten_thousand_phonemes(tiny_voice: Path, tmp_path: Path, tiny_config) -> None:
    config = tiny_config()
    config["phoneme_id_map"].update({f"x{i}": [5] for i in range(10_000)})
    _import_fails(_copy(tiny_voice, tmp_path, config), tmp_path, "10,048 entries")


def test_truncated_model(tiny_voice: Path, tmp_path: Path, tiny_config) -> None:
    model = _copy(tiny_voice, tmp_path, tiny_config())
    data = model.read_bytes()
    model.write_bytes(data[: len(data) // 2])
    _import_fails(model, tmp_path, "truncated")


def test_custom_domain_operator(tiny_voice: Path, tmp_path: Path, tiny_config) -> None:
    model = onnx.load(str(tiny_voice))
    model.graph.node[0].domain = "com.example"
    model.opset_import.append(helper.make_opsetid("com.example", 1))
    path = tmp_path / "voice.onnx"
    onnx.save(model, str(path))
    (tmp_path / "voice.onnx.json").write_text(json.dumps(tiny_config()), encoding="utf-8")
    _import_fails(path, tmp_path, "com.example", "default-domain")


def test_external_data_reference(tiny_voice: Path, tmp_path: Path, tiny_config) -> None:
    model = onnx.load(str(tiny_voice))
    weight = max(model.graph.initializer, key=lambda t: len(t.raw_data))
    weight.data_location = onnx.TensorProto.EXTERNAL
    entry = weight.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    weight.ClearField("raw_data")
    path = tmp_path / "voice.onnx"
    path.write_bytes(model.SerializeToString())
    (tmp_path / "voice.onnx.json").write_text(json.dumps(tiny_config()), encoding="utf-8")
    _import_fails(path, tmp_path, "external file", "../../etc/passwd")


def test_a_claimed_two_gigabyte_shape(tiny_voice: Path, tmp_path: Path, tiny_config) -> None:
    model = onnx.load(str(tiny_voice))
    huge = model.graph.initializer.add()  # claims 2 GiB of float32, holds nothing
    huge.name, huge.data_type, huge.raw_data = "huge", onnx.TensorProto.FLOAT, b""
    huge.dims.append(1 << 29)
    path = tmp_path / "voice.onnx"
    path.write_bytes(model.SerializeToString())
    (tmp_path / "voice.onnx.json").write_text(json.dumps(tiny_config()), encoding="utf-8")
    _import_fails(path, tmp_path, "'huge'", "536,870,912")


def test_a_changed_piece_is_refused_by_digest(tiny_addon: Path, tmp_path: Path) -> None:
    copy = tmp_path / "tiny"
    shutil.copytree(tiny_addon, copy)
    decoder = copy / "decoder.onnx"
    decoder.write_bytes(decoder.read_bytes()[:-1] + b"\0")
    with pytest.raises(ttsint.ConfigError, match=r"networks\.decoder\.sha256"):
        ttsint.Voice.load(copy)


def test_limits_are_configurable(tiny_voice: Path) -> None:
    with pytest.raises(ttsint.AddonError, match="nodes is more than"):
        load_checked(tiny_voice, GraphLimits(max_nodes=5))
    assert import_voice  # the public entry point the CLI calls


def test_the_runtime_is_a_config_choice(tiny_addon: Path, tmp_path: Path) -> None:
    """The pieces are the addon's networks, bound through the build context: --runtime and threads apply."""
    text = "The runtime is chosen by the config."
    default = _voice(tiny_addon, seed=3)
    assert {b.executable.runtime.name for b in default.bindings} == {"onnxruntime"}
    assert {b.executable.runtime.threads for b in default.bindings} == {1}  # the addon's own setting
    two = ttsint.Voice.load(tiny_addon, {"stack.0.sequence_block.seed": 3},
                            runtime={"type": "onnxruntime", "threads": 2})
    assert sorted(b.network.name for b in two.bindings) == ["decoder", "encoder", "flow", "prior"]
    assert {b.executable.runtime.threads for b in two.bindings} == {2}
    one, both = default.synthesize(text), two.synthesize(text)
    assert one.shape == both.shape  # same seed, same durations; threads change only the rounding
    assert float(np.abs(one - both).max()) <= 1e-5
    # the torch runtime cannot run an ONNX-only network: one clear paragraph from the CLI, no traceback
    run = subprocess.run([*ttsint_command(), "synth", "--addon", str(tiny_addon), "--runtime", "torch", text,
                          "-o", str(tmp_path / "x.wav")], capture_output=True, text=True, timeout=300)
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "onnxruntime" in run.stderr, run.stderr

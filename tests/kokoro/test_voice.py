"""Kokoro voices through ttsint: audio equal to kokoro-onnx's, style row by length, mixes, streaming, CLI."""

from __future__ import annotations

import json
import subprocess
import sys
import wave
from pathlib import Path

import numpy as np
import pytest
import ttsint
from commands import ttsint_command
from ttsint_kokoro.blocks import addon_voice
from ttsint_kokoro.model import get_session, int8_form, timed_model
from ttsint_kokoro.voices import style_for

pytestmark = pytest.mark.slow  # each test runs the 82M-parameter network

TEXT = "The quick brown fox jumps over the lazy dog, and then it runs away into the forest."


def test_audio_equals_kokoro_onnx_on_the_same_int8_model(voice: ttsint.Voice, reference) -> None:
    utt = voice.encode(TEXT)
    ours = voice.block.sequence_block.forward(utt)["audio"].ravel()
    tokens = utt["symbols"][1:-1].tolist()
    theirs, _ = reference._infer(tokens, reference._style_for(reference.voices["af_heart"], len(tokens)), 1.0)
    assert ours.shape == theirs.shape
    assert float(np.abs(ours - theirs).max()) <= 1e-3


@pytest.mark.parametrize("tokens", [1, 7, 96, 509, 510, 600])
def test_the_style_row_is_the_one_kokoro_onnx_chooses_for_the_token_count(packs, reference, tokens) -> None:
    pack = packs["af_heart"]
    assert np.array_equal(style_for(pack, tokens), reference._style_for(pack, tokens).ravel())


def test_every_voice_shares_one_warmed_up_session(library: Path) -> None:
    registry = ttsint.Registry()
    with ttsint.Voice.load("kokoro-af_heart", registry=registry) as a, \
            ttsint.Voice.load("kokoro-am_michael", registry=registry) as b:
        assert a.block.sequence_block.session is b.block.sequence_block.session
    assert get_session(int8_form(timed_model("parts"))) is a.block.sequence_block.session


def test_a_mix_name_is_an_addon_whose_voice_is_the_weighted_sum(library: Path, packs) -> None:
    addon = ttsint.load_addon("kokoro-af_heart*0.7+am_michael*0.3", registry=ttsint.Registry())
    expected = 0.7 * packs["af_heart"] + 0.3 * packs["am_michael"]
    assert np.allclose(addon_voice(addon), expected, atol=1e-6)
    equal = ttsint.load_addon("kokoro-af_heart+am_michael", registry=ttsint.Registry())
    assert np.allclose(addon_voice(equal), (packs["af_heart"] + packs["am_michael"]) / 2, atol=1e-6)
    with ttsint.Voice(addon) as mixed:
        assert mixed.synthesize("Mixed voices.").shape[1] == 1


@pytest.mark.parametrize("name, message", [
    ("kokoro-af_heart+nobody", "names the pack 'nobody', which is not installed"),
    ("kokoro-af_heart*0+am_michael", "weights must be positive"),
    ("kokoro-af_heart*-0.5+am_michael", "weights must be positive"),
    ("kokoro-af_heart*abc+am_michael", "is not a number"),
])
def test_a_bad_mix_name_is_a_clear_error(library: Path, name: str, message: str) -> None:
    with pytest.raises(ttsint.AddonError, match=message):
        ttsint.load_addon(name, registry=ttsint.Registry())


def test_the_first_audio_comes_after_the_first_sentence_only(voice: ttsint.Voice) -> None:
    network = voice.block.sequence_block
    before = network.report().get("calls", 0)
    text = "One short sentence. " + " ".join(f"Then sentence number {n} follows it." for n in range(8))
    with voice.stream(text) as stream:
        first = next(stream)
        assert first.frames.shape[1] == 1 and first.start == 0
        # the first sentence, and at most the one being readied in the background
        assert network.report()["calls"] - before <= 2
    assert network.report()["calls"] - before <= 3


def test_synth_with_a_mix_writes_24khz_audio_and_word_timestamps_without_torch(library: Path,
                                                                               tmp_path: Path) -> None:
    out, stamps = tmp_path / "mix.wav", tmp_path / "mix.json"
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "ttsint", "synth",
                          "Put it in the fridge. Good night, everyone.", "--addon",
                          "kokoro-af_heart*0.7+am_michael*0.3", "-o", str(out), "--timestamps", str(stamps)],
                         capture_output=True, text=True, timeout=240)
    assert run.returncode == 0, run.stderr
    imported = [line.rsplit("|", 1)[-1].strip() for line in run.stderr.splitlines() if "|" in line]
    assert {"ttsint_kokoro.model", "phonemizer"} <= set(imported)  # the report covers the voice path
    assert not [m for m in imported if m.split(".")[0] == "torch"]  # numpy blocks: torch never loads
    with wave.open(str(out)) as w:
        assert w.getframerate() == 24_000 and w.getnframes() > 24_000
    segments = json.loads(stamps.read_text())["segments"]
    words = [w["text"] for s in segments for w in s["words"]]
    assert words == ["Put", "it", "in", "the", "fridge.", "Good", "night,", "everyone."]  # "in the" joined
    starts = [w["start"] for s in segments for w in s["words"]]
    assert starts == sorted(starts) and starts[-1] < w.getnframes() / 24_000


def test_an_unknown_pack_in_a_mix_is_one_paragraph_and_exit_1(library: Path) -> None:
    run = subprocess.run([*ttsint_command(), "synth", "Hi.", "--addon", "kokoro-af_heart+nobody", "-o",
                          "/dev/null"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 1
    assert "nobody" in run.stderr and "Traceback" not in run.stderr

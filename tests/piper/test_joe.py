"""The real joe voice: same audio as piper-tts with the noise off, streamed == whole, the installed addon."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import ttsint
from commands import ttsint_command

pytestmark = pytest.mark.slow  # imports a 63 MB voice and runs it

SENTENCES = ["The quick brown fox jumps over the lazy dog, and then it runs away into the forest.",
             "On March 3, 2024, Dr. Smith paid $1,250 for 12 books!",
             "Why?"]


def _quiet(addon: Path | str) -> ttsint.Voice:
    return ttsint.Voice.load(addon, {"stack.0.sequence_block.noise_scale": 0,
                                     "stack.0.sequence_block.noise_w": 0})


def test_same_audio_as_piper_tts_with_the_noise_off(joe_addon: Path, piper_voice) -> None:
    from piper import SynthesisConfig

    voice = _quiet(joe_addon)
    frontend = voice.addon.frontend
    worst = 0.0
    for text in SENTENCES:
        for phonemes in frontend.sentences(text):
            ids = frontend.ids(phonemes)
            assert ids == piper_voice.phonemes_to_ids(phonemes)
            # piper-tts whole, float samples before any normalisation or int16
            ref = piper_voice.phoneme_ids_to_audio(ids, SynthesisConfig(noise_scale=0, noise_w_scale=0))
            ours = np.concatenate([c.frames for c in voice.stream_utterance(
                {"symbols": np.array(ids, np.int64)})]).reshape(-1)
            assert ours.shape == ref.shape
            worst = max(worst, float(np.abs(ours - ref).max()))
    assert worst <= 1e-3


def test_streamed_equals_whole_on_joe(joe_addon: Path) -> None:
    from ttsint_piper import PiperDecoder, PiperEncoder, PiperFlow

    small = {"first_chunk_frames": 3, "chunk_frames": 20, "chunk_growth": None}
    voice = ttsint.Voice.load(joe_addon, {"stack.0.sequence_block.seed": 4,
                                          **{f"stack.0.streamable_block.stack.{i}.{k}": v
                                             for k, v in small.items() for i in (0, 1)}})
    blocks = {type(n.block): n.block for n in ttsint.walk(voice.block)}
    encoder, flow, decoder = blocks[PiperEncoder], blocks[PiperFlow], blocks[PiperDecoder]
    utt = encoder(voice.encode(SENTENCES[0]))
    whole = decoder.run_all(flow.run_all(utt["prior"]))
    streamed = np.concatenate([c.frames for c in voice.stream_utterance(voice.encode(SENTENCES[0]))])
    assert streamed.shape == whole.shape
    # Not bit-exact: ONNX Runtime rounds convolutions of other lengths differently (~1e-6 per piece, the
    # decoder amplifies the flow's); context beyond the receptive field changes nothing at all.
    assert float(np.abs(streamed - whole).max()) <= 5e-5


def test_the_installed_voice_is_an_addon_with_no_import_step(joe_addon: Path, joe_cache: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTSINT_CACHE_DIR", str(joe_cache))
    assert "en_US-joe-medium" in ttsint.get_registry().addons
    text = "The installed voice speaks."
    installed = ttsint.Voice.load("en_US-joe-medium", {"stack.0.sequence_block.seed": 9})
    imported = ttsint.Voice.load(joe_addon, {"stack.0.sequence_block.seed": 9})
    assert installed.addon.sample_rate == imported.addon.sample_rate == 22050
    assert np.array_equal(installed.synthesize(text), imported.synthesize(text))
    cached = list((joe_cache / "piper").iterdir())
    assert cached == [joe_addon] and joe_addon.name.startswith("en_US-joe-medium-")


def test_synth_from_the_command_line(tmp_path: Path) -> None:
    out = tmp_path / "joe.wav"
    run = subprocess.run([*ttsint_command(), "synth", "--addon", "en_US-joe-medium", "Hello from joe.",
                          "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    audio, rate = ttsint.read_wav(out)
    assert rate == 22050 and len(audio) > 22050 // 2


def test_ipa_parts_for_ssml_phoneme(joe_model: Path, caplog: pytest.LogCaptureFixture) -> None:
    """<phoneme alphabet="ipa">: IPA through the voice's phoneme_id_map beside espeak-ng's text."""
    from ttsint_piper import PiperConfig, PiperPhonemes

    frontend = PiperPhonemes(PiperConfig.from_file(Path(f"{joe_model}.json")))
    ipa = "".join(frontend.sentences("tomato")[0])  # espeak-ng's own IPA gives espeak-ng's own ids
    parts = frontend.encode_parts([("text", "I say "), ("ipa", ipa), ("text", " today.")])
    plain = frontend("I say tomato today.")
    assert parts["symbols"].tolist() == plain["symbols"].tolist()
    assert parts["word_ids"].tolist() == plain["word_ids"].tolist()
    # another pronunciation changes the ids; the comma after it, which espeak-ng alone drops, is kept
    other = frontend.encode_parts([("text", "I say "), ("ipa", "təˈmɑːtoʊ"), ("text", ", you say tomato.")])
    assert other["symbols"].tolist() != frontend("I say tomato, you say tomato.")["symbols"].tolist()
    assert len(other["symbols"]) == len(frontend("I say tomato, you say tomato.")["symbols"])  # 9 for 9
    # symbols the voice lacks: skipped, counted each time, reported once
    with caplog.at_level("WARNING", logger="ttsint_piper"):
        for _ in range(2):
            frontend.encode_parts([("ipa", "☃a")])
    assert frontend.skipped["☃"] == 2
    assert sum("☃" in r.getMessage() for r in caplog.records) == 1
    with pytest.raises(ttsint.FrontendError):
        frontend.encode_parts([("ipa", "☃")])


def test_synth_imports_no_torch(tmp_path: Path) -> None:
    """The Piper voice path is NumPy and ONNX Runtime end to end: `ttsint synth` loads no torch module."""
    from test_torch_free import _torch_modules

    out, stamps = tmp_path / "joe.wav", tmp_path / "joe.json"
    run = subprocess.run([sys.executable, "-X", "importtime", "-m", "ttsint", "synth", "--addon",
                          "en_US-joe-medium", "--timestamps", str(stamps), "Hello from joe. No torch here.",
                          "-o", str(out)], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    assert _torch_modules(run.stderr) == []
    assert "onnxruntime" in run.stderr  # the report is real: the pieces ran on ONNX Runtime
    audio, rate = ttsint.read_wav(out)
    assert rate == 22050 and len(audio) > 22050
    words = [w["text"] for s in json.loads(stamps.read_text())["segments"] for w in s["words"]]
    assert words == ["Hello", "from", "joe.", "No", "torch", "here."]

"""The shipped en-rms voice: its Flite front end, its exported networks, and synthesis to WAV."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import ttsint
from ttsint_voice_en import frontend as flite_frontend


@pytest.fixture(scope="module")
def voice() -> ttsint.Voice:
    return ttsint.Voice.load("en-rms")


@pytest.fixture(scope="module")
def mel_voice(voice) -> ttsint.Voice:
    """The same addon with its stack cut before the vocoder: mel out."""
    return ttsint.Voice(voice.addon, stack=voice.addon.stack[:1])


def test_en_rms_is_the_default_voice():
    assert ttsint.default_addon() == "en-rms"


def test_front_end_gives_flite_phones(voice):
    phones = flite_frontend.text_to_phones("Hello world.")
    assert phones == ["pau", "hh", "ax", "l", "ow", "w", "er", "l", "d", "pau"]
    ids = voice.encode("Hello world.")["symbols"]
    assert [voice.addon.frontend.symbols[i] for i in ids.tolist()] == phones


def test_front_end_normalises_typography_and_spells_numbers(voice):
    assert voice.encode("It\u2019s 42.").keys() == {"symbols", "word_ids"}
    phones = flite_frontend.text_to_phones("42")
    assert "f" in phones and "t" in phones  # "forty two"


@pytest.mark.parametrize("text", ["", "   ", "?!...", "\u2014"])
def test_text_without_words_is_a_clear_error(voice, text):
    with pytest.raises(ttsint.FrontendError, match="nothing to say"):
        voice.encode(text)


def test_default_vocoder_is_pghi_and_griffin_lim_stays_a_config_away(voice, mel_voice):
    from ttsint_dsp import PGHI, GriffinLim, log_mel
    from ttsint_dsp.mel import MelSpec

    assert isinstance(voice.block.stack[-1], PGHI)
    gl = ttsint.Voice.load("en-rms", {"stack.1": {"type": "GriffinLim", "n_iter": 8}})
    assert isinstance(gl.block.stack[-1], GriffinLim)
    text = "The birch canoe slid on the smooth planks."
    mel = ttsint.to_torch(mel_voice.synthesize(text))  # en-rms's blocks make NumPy arrays
    spec = MelSpec.from_config(voice.addon.config)
    for v in (voice, gl):
        audio = ttsint.to_torch(v.synthesize(text))[:, 0]
        # Both invert the acoustic model's mel: the audio's own log-mel stays close to it.
        assert float((log_mel(audio, spec)[: mel.shape[0]] - mel).abs().mean()) < 1.0


def test_stack_ends_in_a_vocoder_and_speaks(voice, mel_voice):
    text = "The birch canoe slid on the smooth planks."
    assert voice.output_kind == "waveform" and mel_voice.output_kind == "mel"
    mel = ttsint.to_torch(mel_voice.synthesize(text))  # en-rms's blocks make NumPy arrays
    audio = ttsint.to_torch(voice.synthesize(text))
    assert mel.shape[1] == 80
    assert audio.shape == (mel.shape[0] * voice.addon.hop_length, 1)
    n = voice.encode(text)["symbols"].shape[0]
    assert 3 <= mel.shape[0] / n <= 15  # a trained duration model: a few frames per phone
    assert -12.5 <= mel.min().item() and mel.max().item() <= 3.0
    assert 0.01 < audio.abs().max().item() <= 1.0


def test_trained_decoder_streams_exactly(mel_voice):
    text = "Streaming must not change a single frame of the spectrogram, however it is cut."
    utt = mel_voice.block.sequence_block.forward(mel_voice.encode(text))
    upsampler, decoder = mel_voice.block.streamable_block.stack
    frames = ttsint.concat_chunks(upsampler.stream(utt, None))
    full = decoder.decode_all(frames)
    streamed = ttsint.concat_chunks(mel_voice.block.stream(mel_voice.encode(text), None))
    assert float(abs(ttsint.to_torch(streamed) - ttsint.to_torch(full)).max()) <= 1e-4


def test_timestamps_time_every_spoken_word(tmp_path):
    text = "Dr. Smith paid $3.50 at 9 a.m. on Jan. 5. Then he went home \u2014 tired, but happy."
    out, stamps = tmp_path / "a.wav", tmp_path / "a.json"
    cmd = [sys.executable, "-m", "ttsint", "synth", text, "-o", str(out), "--timestamps", str(stamps)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    samples, rate = ttsint.read_wav(out)
    segments = json.loads(stamps.read_text(encoding="utf-8"))["segments"]
    assert len(segments) == 2
    words = [w for segment in segments for w in segment["words"]]
    # Every written word but the dash is spoken ("$3.50" as four words): each is timed once, in order.
    assert [w["text"] for w in words] == [w for w in text.split() if w != "\u2014"]
    times = [t for w in words for t in (w["start"], w["end"])]
    assert times == sorted(times) and all(w["start"] < w["end"] for w in words)
    assert 0 < times[0] and times[-1] <= samples.shape[0] / rate
    for segment in segments:
        first, last = segment["words"][0], segment["words"][-1]
        assert segment["start"] <= first["start"] and last["end"] <= segment["end"]
    # Between the sentences, the addon's pause (0.25 s by default) of silence in the WAV.
    first_end, second_start = segments[0]["end"], segments[1]["start"]
    assert second_start == pytest.approx(first_end + 0.25, abs=1e-3)
    assert not samples[round(first_end * rate):round(second_start * rate)].any()
    paid, money = words[2], words[3]
    assert money["text"] == "$3.50" and money["end"] - money["start"] > 3 * (paid["end"] - paid["start"])


def test_synth_writes_wav_with_the_default_voice(tmp_path):
    out = tmp_path / "hello.wav"
    cmd = [sys.executable, "-m", "ttsint", "synth", "Hello world.", "-o", str(out), "--json"]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    samples, rate = ttsint.read_wav(out)
    assert rate == 16000 and samples.shape[1] == 1
    assert 0.5 < samples.shape[0] / rate < 3.0


def test_a_mel_effect_after_the_vocoder_says_where_it_belongs():
    with pytest.raises(ttsint.ConfigError) as info:
        ttsint.Voice.load("en-rms", {"stack.2.type": "Gain", "stack.2.db": -6})
    assert info.value.path == "stack[2]"
    assert info.value.message == ("Gain consumes mel; stack[1] produces waveform; "
                                  "put it at stack[0].streamable_block.stack[2]")
    with ttsint.Voice.load("en-rms", {"stack.0.streamable_block.stack.2.type": "Gain",
                                      "stack.0.streamable_block.stack.2.db": -6}) as moved:
        assert moved.output_kind == "waveform"


def test_the_cli_reports_a_misplaced_effect_as_one_paragraph_and_exit_1():
    result = subprocess.run([sys.executable, "-m", "ttsint", "synth", "Hi.", "--addon", "en-rms",
                             "--set", "stack.2.type=Gain", "--set", "stack.2.db=-6"],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.count("error:") == 1
    assert "stack[2]: Gain consumes mel; stack[1] produces waveform; " \
           "put it at stack[0].streamable_block.stack[2]" in result.stderr

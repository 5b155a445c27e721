"""``ttsint synth`` on texts of any length: WAV written as chunks arrive, timestamps, stats, clear errors."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest
import torch
from ttsint import Registry, Voice, read_wav
from ttsint.cli import run

# A vocoder after the tiny addon's decoder, and windows large enough that 5,000 words stream quickly.
FAST_WAV = ["--set", "stack.2.type=ToyVocoder", "--set", "stack.1.chunk_frames=2048",
            "--set", "stack.0.streamable_block.chunk_frames=2048"]


def words_text(n: int, seed: int = 0) -> str:
    """``n`` made-up words in sentences of 4 to 25 words, with commas and questions."""
    rng = random.Random(seed)
    out, left = [], n
    while left > 0:
        size = min(left, rng.randint(4, 25))
        words = ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(1, 9)))
                 for _ in range(size)]
        if size > 8:
            words[size // 2] += ","
        out.append(" ".join(words).capitalize() + rng.choice(".?!"))
        left -= size
    return " ".join(out)


def overrides(args: list[str]) -> dict[str, object]:
    return {k: json.loads(v) if v.isdigit() else v
            for k, v in (a.split("=", 1) for a in args if a != "--set")}


def test_five_thousand_words_from_a_text_file_to_a_wav(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_addon: Path, global_registry: Registry
) -> None:
    text = words_text(5000)
    source = tmp_path / "long.txt"
    source.write_text(text, encoding="utf-8")
    out = tmp_path / "long.wav"
    code = run(["synth", "--addon", str(tiny_addon), *FAST_WAV, "--text-file", str(source), "-o", str(out),
                "--json"])
    stdout, err = capsys.readouterr()
    assert code == 0, err
    report = json.loads(stdout)
    samples, rate = read_wav(out)
    assert rate == 8000 and samples.shape == (report["frames"], 1)
    assert report["segments"] == len(list(Voice.load(tiny_addon, overrides(FAST_WAV)).segments(text)))
    assert report["segments"] > 300 and len(report["boundary_gaps_ms"]) == report["segments"] - 1
    # The stream itself, run again in-process, has exactly the length the WAV has.
    voice = Voice.load(tiny_addon, overrides(FAST_WAV))
    assert sum(len(c) for c in voice.stream(text)) == samples.shape[0]


def test_wav_and_npy_equal_the_stream(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_addon: Path, global_registry: Registry
) -> None:
    text = "Short one. A second sentence, with a clause. And a third?"
    code = run(["synth", text, "--addon", str(tiny_addon), "-o", str(tmp_path / "a.npy")])
    assert code == 0
    expected = Voice.load(tiny_addon).synthesize(text)
    torch.testing.assert_close(torch.from_numpy(np.load(tmp_path / "a.npy")), expected)
    code = run(["synth", text, "--addon", str(tiny_addon), *FAST_WAV, "-o", str(tmp_path / "a.wav")])
    assert code == 0
    wav = Voice.load(tiny_addon, overrides(FAST_WAV)).synthesize(text)
    samples, _ = read_wav(tmp_path / "a.wav")
    torch.testing.assert_close(torch.from_numpy(samples), (wav * 32767).round() / 32768, atol=1e-4, rtol=0)
    capsys.readouterr()


def test_timestamps_give_segments_and_words(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_addon: Path, global_registry: Registry
) -> None:
    stamps = tmp_path / "t.json"
    code = run(["synth", "Hello there. How are you?", "--addon", str(tiny_addon),
                "--set", "segments.pause=0.5", "--timestamps", str(stamps)])
    assert code == 0
    data = json.loads(stamps.read_text(encoding="utf-8"))
    first, second = data["segments"]
    assert (first["text"], second["text"]) == ("Hello there.", "How are you?")
    assert first["start"] == 0 and second["start"] == pytest.approx(first["end"] + 0.5)
    assert second["end"] == pytest.approx(second["start"] + len("how are you?") * 3 * 2 / 8000)
    capsys.readouterr()


def test_timestamps_time_each_word_where_an_upsampler_gives_durations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stamps = tmp_path / "t.json"
    assert run(["synth", "The cat sat. On the mat!", "--addon", "demo", "--timestamps", str(stamps)]) == 0
    first, second = json.loads(stamps.read_text(encoding="utf-8"))["segments"]
    assert [w["text"] for w in first["words"]] == ["The", "cat", "sat."]
    assert [w["text"] for w in second["words"]] == ["On", "the", "mat!"]
    for segment in (first, second):
        times = [t for w in segment["words"] for t in (w["start"], w["end"])]
        assert times == sorted(times) and segment["start"] <= times[0] and times[-1] <= segment["end"] + 1e-3
    capsys.readouterr()


def test_stats_report_segments_first_chunk_and_boundary_gaps(
    capsys: pytest.CaptureFixture[str], tiny_addon: Path, global_registry: Registry
) -> None:
    code = run(["synth", "One. Two. Three.", "--addon", str(tiny_addon), "--stats"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert "3 segment(s)" in out and "first chunk" in out and "longest at a sentence boundary" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["   "], "nothing to say: the text is empty"),
        (["... ?!"], "nothing to say"),
        (["Fine. " + "a" * 40 + " fine.", "--set", "segments.max_symbols=30"],
         "makes 40 symbols, and this voice takes at most 30 symbols per segment (segments.max_symbols)"),
    ],
)
def test_empty_input_and_a_word_over_the_limit_exit_1_without_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_addon: Path, global_registry: Registry,
    args: list[str], message: str
) -> None:
    out = tmp_path / "x.npy"
    code = run(["synth", *args, "--addon", str(tiny_addon), "-o", str(out)])
    _, err = capsys.readouterr()
    assert code == 1
    assert err.startswith("error: ") and message in err and "Traceback" not in err
    assert not out.exists()  # no partial file left behind


def test_text_and_text_file_are_exclusive(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], tiny_addon: Path, global_registry: Registry
) -> None:
    source = tmp_path / "t.txt"
    source.write_text("hello", encoding="utf-8")
    assert run(["synth", "hi", "--text-file", str(source), "--addon", str(tiny_addon)]) == 2
    assert run(["synth", "--addon", str(tiny_addon)]) == 2
    assert "--text-file PATH" in capsys.readouterr().err

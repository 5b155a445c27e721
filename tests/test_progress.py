"""`ttsint synth`'s progress line: one line redrawn on a real pty, none with --quiet or a pipe.

Also --max-chars and the figures --stats --json reports."""

from __future__ import annotations

import json
import os
import subprocess

import pytest
from commands import ttsint_command
from ttsint._progress import count_sentences
from ttsint.cli import run

# Long enough for the line to be redrawn: each sentence streams in several chunks.
TEXT = " ".join(f"This is sentence number {n}, spoken to see the line move." for n in range(1, 13))


def _on_a_terminal(*args: str) -> str:
    """What `ttsint synth` writes to its terminal (stdout and stderr both on the pty)."""
    pexpect = pytest.importorskip("pexpect")
    command = ttsint_command()
    child = pexpect.spawn(command[0], [*command[1:], "synth", TEXT, "--addon", "demo", *args], timeout=300,
                          encoding="utf-8", env={**os.environ, "OMP_NUM_THREADS": "1"}, dimensions=(24, 120))
    out = child.read()
    child.close()
    assert child.exitstatus == 0, out
    return out


@pytest.mark.slow
def test_a_terminal_sees_one_updating_line_of_sentences_audio_and_real_time_factor():
    out = _on_a_terminal()
    assert "/12 sentences" in out and "s of audio, real-time factor" in out
    redraws = out.split("\r")
    assert len(redraws) >= 3, out  # redrawn in place, not one line per update
    assert "\n" not in "".join(r for r in redraws if "sentences" in r)
    assert "loading the voice" in out


@pytest.mark.slow
def test_quiet_and_a_pipe_show_no_progress(tmp_path):
    assert "sentences" not in _on_a_terminal("--quiet")
    argv = [*ttsint_command(), "synth", TEXT, "--addon", "demo", "-o", str(tmp_path / "x.npy")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "sentences" not in done.stderr and "\r" not in done.stderr
    assert done.stderr.strip().startswith(f"wrote {tmp_path / 'x.npy'}: mel frames [")
    assert done.stderr.strip().endswith(", 80], one every 256 samples")


def test_stats_json_reports_the_figures_the_line_shows(capsys, tmp_path):
    assert run(["synth", TEXT, "--addon", "demo", "--stats", "--json", "-o", str(tmp_path / "m.npy")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["segments"] == 12
    assert report["audio_seconds"] > 0 and report["rtf"] == pytest.approx(
        report["total_ms"] / 1000 / report["audio_seconds"])
    assert report["output_kind"] == "mel" and report["sample_rate"] == 16000 and report["hop_length"] == 256


def test_max_chars_refuses_long_text_before_loading_anything(capsys):
    assert run(["synth", TEXT, "--addon", "no-such-voice", "--max-chars", "100"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: --max-chars: the text has") and f"{len(TEXT):,}" in err


def test_sentences_are_counted_by_their_end_punctuation():
    assert count_sentences(TEXT) == 12
    assert count_sentences("No full stop at the end") == 1
    assert count_sentences('He said "stop." Then left! Why?') == 3
    assert count_sentences("word " * 200_000) == 1

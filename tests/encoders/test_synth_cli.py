"""`ttsint synth` end to end, through the installed entry points, in a subprocess like a user."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest


def ttsint(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ttsint", *args], input=stdin, capture_output=True,
                          text=True, timeout=300)


def test_synth_writes_npy_and_prints_stats(tmp_path):
    out = tmp_path / "hello.npy"
    result = ttsint("synth", "Hello world.", "--addon", "demo", "-o", str(out), "--stats")
    assert result.returncode == 0, result.stderr
    assert "first chunk" in result.stdout and "real-time factor" in result.stdout
    mel = np.load(out)
    assert mel.ndim == 2 and mel.shape[1] == 80 and mel.shape[0] > 20


@pytest.mark.slow
def test_customized_encoders_give_the_same_mel(tmp_path):
    a, b = tmp_path / "a.npy", tmp_path / "b.npy"
    assert ttsint("synth", "Hello world.", "--addon", "demo", "-o", str(a)).returncode == 0
    result = ttsint("synth", "Hello world.", "--addon", "demo", "-o", str(b),
                    "--set", "stack.0.sequence_block.type=CustomizedEncoders")
    assert result.returncode == 0, result.stderr
    assert np.array_equal(np.load(a), np.load(b))


def test_synth_json_and_stdin():
    result = ttsint("synth", "-", "--addon", "demo", "--json", stdin="Reading from standard input.")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["addon"] == "demo" and report["output_kind"] == "mel"
    assert report["frames"] > 0 and report["chunks"] >= 1 and report["first_chunk_ms"] <= report["total_ms"]
    assert report["rtf"] > 0


@pytest.mark.slow
def test_synth_bad_input_is_one_clear_line_and_exit_1(tmp_path):
    result = ttsint("synth", "Привет", "--addon", "demo")
    assert result.returncode == 1
    assert "cannot say" in result.stderr and "Traceback" not in result.stderr
    # The demo addon's stack ends in mel: a WAV needs a vocoder, installed or not, so this always fails.
    result = ttsint("synth", "hi", "--addon", "demo", "-o", str(tmp_path / "x.wav"))
    assert result.returncode == 1
    assert "vocoder" in result.stderr and "Traceback" not in result.stderr

"""End to end through the installed entry points: `ttsint synth -o x.wav --plot`, `ttsint plot`, errors."""

from __future__ import annotations

import os
import subprocess
import wave
from pathlib import Path

import numpy as np
import pytest
import ttsint
from click.testing import CliRunner
from commands import ttsint_command
from ttsint.cli import run
from ttsint_dsp.commands import plot

PNG = b"\x89PNG\r\n\x1a\n"


def ttsint_cmd(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ttsint_command(), *args],
        cwd=cwd,
        env={**os.environ, "OMP_NUM_THREADS": "1", **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def hello(tmp_path_factory) -> Path:
    """`ttsint synth "Hello world." --addon demo --set stack.1.type=GriffinLim -o hello.wav --plot hello.png`

    (with fewer Griffin-Lim iterations, to keep the suite fast)."""
    where = tmp_path_factory.mktemp("hello")
    done = ttsint_cmd(
        "synth",
        "Hello world.",
        "--addon",
        "demo",
        "--set",
        "stack.1.type=GriffinLim",
        "--set",
        "stack.1.n_iter=8",
        "-o",
        "hello.wav",
        "--plot",
        "hello.png",
        cwd=where,
    )
    assert done.returncode == 0, done.stderr
    assert "wrote hello.png" in done.stderr and "wrote hello.wav" in done.stderr
    return where


def test_wav_is_16_bit_mono_at_the_addon_rate_frames_times_hop_long(hello):
    frames = ttsint.Voice.load("demo").synthesize("Hello world.").shape[0]
    with wave.open(str(hello / "hello.wav")) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate(), w.getcomptype()) == (
            1,
            2,
            16000,
            "NONE",
        )
        assert w.getnframes() == frames * 256
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    assert np.abs(pcm).max() > 1000  # not silence


def test_synth_plot_writes_a_png(hello):
    assert (hello / "hello.png").read_bytes().startswith(PNG)


def test_plot_command_from_npy(tmp_path, random_mel):
    np.save(tmp_path / "mel.npy", random_mel.numpy())
    done = ttsint_cmd(
        "plot", "mel.npy", "-o", "mel.png", "--sample-rate", "22050", "--hop-length", "256", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "mel.png").read_bytes().startswith(PNG)


def test_n_mels_mismatch_is_one_clear_paragraph(tmp_path, capsys):
    code = run(
        [
            "synth",
            "Hi.",
            "--addon",
            "demo",
            "--set",
            "stack.1.type=GriffinLim",
            "--set",
            "stack.1.n_mels=64",
            "-o",
            str(tmp_path / "x.wav"),
        ]
    )
    err = capsys.readouterr().err
    assert code == 1
    assert "stack[1].n_mels: GriffinLim has n_mels=64, but the addon 'demo' declares n_mels=80" in err
    assert "Traceback" not in err and not (tmp_path / "x.wav").exists()


def test_plot_of_a_missing_file_fails_cleanly(tmp_path):
    result = CliRunner().invoke(plot, [str(tmp_path / "nope.npy"), "-o", str(tmp_path / "x.png")])
    assert isinstance(result.exception, ttsint.TTSIntError)
    assert "nope.npy: no such .npy file" in str(result.exception)


def test_synth_plot_without_ttsint_dsp_says_what_to_install(tmp_path):
    done = ttsint_cmd(
        "synth", "Hi.", "--addon", "demo", "--plot", "x.png", cwd=tmp_path, TTSINT_DISABLE_PLUGINS="dsp"
    )
    assert done.returncode == 1 and "pip install ttsint-dsp" in done.stderr
    assert not (tmp_path / "x.png").exists()


def test_synth_plot_taps_the_one_run(tmp_path, monkeypatch):
    from ttsint._voice import Voice

    loads: list[str] = []
    streams: list[str] = []
    real_load, real_stream = Voice.load.__func__, Voice.stream

    def counting_load(cls, *args, **kwargs):
        loads.append(getattr(args[0], "name", str(args[0])))  # a name, or the Addon synth loaded first
        return real_load(cls, *args, **kwargs)

    def counting_stream(self, text):
        streams.append(text)
        return real_stream(self, text)

    monkeypatch.setattr(Voice, "load", classmethod(counting_load))
    monkeypatch.setattr(Voice, "stream", counting_stream)
    png, wav = tmp_path / "hi.png", tmp_path / "hi.wav"
    code = run(["synth", "Hi there.", "--addon", "demo", "--set", "stack.1.type=GriffinLim",
                "--set", "stack.1.n_iter=4", "-o", str(wav), "--plot", str(png)])
    assert code == 0
    assert (loads, streams) == (["demo"], ["Hi there."])
    assert png.read_bytes().startswith(PNG) and wav.stat().st_size > 44


def test_synth_plot_of_a_stack_without_mel_is_a_config_error(tmp_path, capsys):
    code = run(["synth", "Hi.", "--addon", "demo", "--set", "stack.0.streamable_block.stack.1.type=Tap",
                "--set", f"stack.0.streamable_block.stack.1.directory={tmp_path}", "--plot",
                str(tmp_path / "x.png")])
    assert code == 1
    assert "--plot: no block in this stack says it makes mel frames" in capsys.readouterr().err
    assert not (tmp_path / "x.png").exists()

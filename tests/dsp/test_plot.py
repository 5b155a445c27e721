"""plot_mel and text_mel: a real PNG with the time axis from hop and sample rate, from the vocoder's input."""

from __future__ import annotations

import numpy as np
import pytest
import ttsint
from ttsint_dsp import plot_mel
from ttsint_dsp.commands import text_mel

PNG = b"\x89PNG\r\n\x1a\n"


def test_plot_mel_writes_a_png(tmp_path, random_mel):
    out = plot_mel(random_mel, tmp_path / "sub" / "mel.png", sample_rate=16000, hop_length=256, title="t")
    data = out.read_bytes()
    assert data.startswith(PNG) and len(data) > 5000


def test_plot_mel_rejects_a_waveform_shape(tmp_path):
    with pytest.raises(ValueError, match=r"\[T, n_mels\]"):
        plot_mel(np.zeros(100), tmp_path / "x.png", sample_rate=16000, hop_length=256)


def test_text_mel_is_the_vocoder_input():
    mel, addon = text_mel("Hello world.", "demo", ["stack.1.type=GriffinLim"])
    plain, _ = text_mel("Hello world.", "demo")
    assert mel.shape == (87, addon.n_mels)
    np.testing.assert_array_equal(mel, plain)


# -- `ttsint plot` on what synth writes, and on files that are not frames -----------------------------

def _plot(*args: str):
    from click.testing import CliRunner
    from ttsint_dsp.commands import plot

    return CliRunner().invoke(plot, list(args))


def test_plot_draws_a_waveform_npy_as_its_log_mel(tmp_path):
    """synth -o x.npy of a stack ending in a vocoder writes a waveform [N, 1]; plot draws its log-mel."""
    t = np.arange(16000) / 16000
    np.save(tmp_path / "w.npy", (0.3 * np.sin(2 * np.pi * 440 * t))[:, None].astype(np.float32))
    result = _plot(str(tmp_path / "w.npy"), "-o", str(tmp_path / "w.png"))
    assert result.exit_code == 0, result.output
    assert (tmp_path / "w.png").read_bytes().startswith(PNG)


@pytest.mark.parametrize("name, make, words", [
    ("random", lambda p: p.write_bytes(bytes(range(256)) * 8), "not a .npy file"),
    ("objects", lambda p: np.save(p, np.array([{"a": 1}], dtype=object), allow_pickle=True),
     "Python objects"),
    ("complex", lambda p: np.save(p, np.zeros((4, 80), np.complex64)), "real numbers"),
    ("cube", lambda p: np.save(p, np.zeros((2, 3, 4), np.float32)), "got shape [2, 3, 4]"),
    ("empty", lambda p: np.save(p, np.zeros((0, 80), np.float32)), "got shape [0, 80]"),
])
def test_plot_refuses_npy_that_holds_no_frames(tmp_path, name, make, words):
    path = tmp_path / f"{name}.npy"
    make(path)
    result = _plot(str(path), "-o", str(tmp_path / "x.png"))
    assert isinstance(result.exception, ttsint.TTSIntError), result.output
    assert words in str(result.exception) and f"{name}.npy" in str(result.exception)
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args, flag, words", [
    (["-o", "x.xyz"], "-o", ".png, .svg or .pdf"),
    (["-o", "x.png", "--hop-length", "-1"], "--hop-length", "positive"),
    (["-o", "x.png", "--sample-rate", "0", "--hop-length", "0"], "--sample-rate", "positive"),
    (["-o", "x.png", "--addon", ""], "--addon", "empty"),
])
def test_plot_refuses_bad_options_before_drawing(tmp_path, random_mel, args, flag, words):
    np.save(tmp_path / "mel.npy", np.asarray(random_mel))
    args = [str(tmp_path / a) if a.startswith("x.") else a for a in args]
    result = _plot(str(tmp_path / "mel.npy"), *args)
    assert isinstance(result.exception, ttsint.ConfigError), result.output
    assert result.exception.path == flag and words in str(result.exception)
    assert not list(tmp_path.glob("x.*"))

"""plot_mel and text_mel: a real PNG with the time axis from hop and sample rate, from the vocoder's input."""

from __future__ import annotations

import numpy as np
import pytest
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

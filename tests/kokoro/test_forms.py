"""The int8 export and its float32 form: both reachable, close, their difference reported (not equality)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
import ttsint
from commands import ttsint_command
from ttsint_kokoro.blocks import addon_model, addon_voice
from ttsint_kokoro.compare import compare_forms, log_mel
from ttsint_kokoro.model import SessionSettings, float_model, get_session

pytestmark = pytest.mark.slow  # builds the float32 graph (once per cache) and runs both forms

TEXTS = ["Please call Stella and ask her to bring these things with her from the store.",
         "Could you tell me where the nearest post office is?"]


@pytest.fixture(scope="module")
def forms(library: Path):
    addon = ttsint.load_addon("kokoro-af_heart")
    int8 = get_session(addon_model(addon), SessionSettings())
    return addon, int8, get_session(float_model(int8.path), SessionSettings())


def test_the_float32_form_has_no_quantised_operator_and_is_cached(forms) -> None:
    import onnx

    _, int8, float32 = forms
    ops = {n.op_type for n in onnx.load(str(float32.path)).graph.node}
    assert not ops & {"MatMulInteger", "ConvInteger", "DynamicQuantizeLinear"}
    assert {"Conv", "MatMul"} <= ops
    assert float_model(int8.path) == float32.path  # digest-keyed: made once


def test_a_form_against_itself_is_zero_and_the_two_forms_are_close(forms) -> None:
    addon, int8, float32 = forms
    pack = addon_voice(addon)
    same = compare_forms(int8, int8, addon.frontend, pack, TEXTS[:1])[0]
    assert same.same_durations == same.tokens + 2 and same.mel_db == 0 and same.max_abs_diff == 0
    rows = compare_forms(int8, float32, addon.frontend, pack, TEXTS)
    agree = sum(r.same_durations for r in rows) / sum(r.tokens + 2 for r in rows)
    assert agree > 0.85  # a few tokens round to a neighbouring frame count
    for r in rows:
        assert abs(r.int8_seconds - r.float32_seconds) < 0.2
        assert 0 < r.mel_db < 4.0, r  # close, not equal (measured 1-2 dB)


def test_log_mel_tells_a_tone_from_silence() -> None:
    t = np.arange(24_000) / 24_000
    tone, quiet = log_mel(np.sin(2 * np.pi * 440 * t)), log_mel(np.zeros(24_000))
    assert tone.shape[1] == 80 and tone.max() - quiet.max() > 50


def test_the_voice_runs_on_either_form_and_compare_reports_them(library: Path, tmp_path: Path) -> None:
    with ttsint.Voice.load("kokoro-af_heart", {"stack.0.sequence_block.precision": "float32"}) as voice:
        assert "precision=float32" in voice.block.sequence_block.describe()
        assert voice.synthesize("Good night.").shape[0] > 12_000
    texts = tmp_path / "texts.txt"
    texts.write_text(TEXTS[1] + "\n", encoding="utf-8")
    run = subprocess.run([*ttsint_command(), "kokoro", "compare", "kokoro-af_heart", "--texts", str(texts)],
                         capture_output=True, text=True, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "durations agree on" in run.stdout and "dB" in run.stdout

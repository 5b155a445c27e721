"""The Kokoro model's cached forms (float32, GEMM): made once, checked, refused when damaged."""

from __future__ import annotations

import hashlib
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import ttsint
from commands import ttsint_command
from ttsint_kokoro import model
from ttsint_kokoro.blocks import addon_voice
from ttsint_kokoro.model import KokoroSession, SessionSettings, float_model, gemm_model
from ttsint_kokoro.voices import style_for


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, list[Path]]:
    """A stand-in timed model, and a float32 build that writes a few bytes and records each call."""
    src = tmp_path / "kokoro-0123456789abcdef.timed.onnx"
    src.write_bytes(b"int8 graph")
    built: list[Path] = []

    def build(_src: Path, dest: Path) -> None:
        built.append(dest)
        dest.write_bytes(b"float32 graph")

    monkeypatch.setattr(model, "_dequantize", build)
    return src, built


def _damage(path: Path) -> None:
    path.write_bytes(path.read_bytes()[:-1] + b"!")
    os.utime(path, ns=(1, 1))  # a new mtime, so no digest remembered for the old bytes is reused


def test_a_form_is_made_once_and_its_digest_recorded_beside_it(source) -> None:
    src, built = source
    first = float_model(src)
    assert first == float_model(src) and built == [first]
    assert first.name == f"kokoro-{hashlib.sha256(b'int8 graph').hexdigest()[:16]}.float32.onnx"
    record = first.with_name(first.name + ".sha256").read_text().strip()
    assert record == hashlib.sha256(b"float32 graph").hexdigest()


def test_a_damaged_form_is_refused_naming_the_file_and_how_to_rebuild_it(source) -> None:
    src, built = source
    form = float_model(src)
    _damage(form)
    with pytest.raises(ttsint.AddonError, match="damaged or changed in the cache") as err:
        float_model(src)
    assert str(form) in str(err.value) and f"rm {form}" in str(err.value)
    assert len(built) == 1  # refused, not silently rebuilt over


def test_a_record_that_does_not_match_is_refused_too(source) -> None:
    src, _ = source
    form = float_model(src)
    form.with_name(form.name + ".sha256").write_text("0" * 64 + "\n")
    with pytest.raises(ttsint.AddonError, match="not the 0000000000"):
        float_model(src)


def test_a_form_without_its_record_is_rebuilt(source) -> None:
    src, built = source
    form = float_model(src)
    form.with_name(form.name + ".sha256").unlink()
    assert float_model(src) == form and len(built) == 2


def test_a_form_onnx_runtime_cannot_read_is_an_addon_error(tmp_path: Path) -> None:
    bad = tmp_path / "kokoro-0123456789abcdef.float32.onnx"
    bad.write_bytes(b"not a protobuf")
    with pytest.raises(ttsint.AddonError, match="ONNX Runtime cannot load the Kokoro model") as err:
        KokoroSession(bad, SessionSettings())
    assert str(bad) in str(err.value) and "delete it" in str(err.value)


@pytest.mark.slow  # runs the CLI on the real timed model
def test_the_cli_refuses_a_damaged_float32_form_in_one_paragraph(library: Path, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    (cache / "kokoro").mkdir(parents=True)
    timed = model.timed_model("parts")
    (cache / "kokoro" / timed.name).symlink_to(timed)
    form = cache / "kokoro" / f"kokoro-{ttsint.file_sha256(timed)[:16]}.float32.onnx"
    form.write_bytes(b"a float32 form, cut short")
    form.with_name(form.name + ".sha256").write_text(hashlib.sha256(b"another").hexdigest() + "\n")
    run = subprocess.run([*ttsint_command(), "synth", "Hi.", "--addon", "kokoro-af_heart", "--set",
                          "stack.0.sequence_block.precision=float32", "-o", str(tmp_path / "a.wav")],
                         capture_output=True, text=True, timeout=240,
                         env={**os.environ, "TTSINT_CACHE_DIR": str(cache)})
    assert run.returncode == 1, run.stderr
    assert "damaged or changed in the cache" in run.stderr and str(form) in run.stderr
    assert "Traceback" not in run.stderr and not (tmp_path / "a.wav").exists()


@pytest.mark.slow  # writes the GEMM form of the 92 MB model and runs both
def test_the_gemm_form_gives_the_exports_audio_exactly_and_is_what_int8_runs(library: Path) -> None:
    import onnx

    if not model.exact_signed_gemm():
        pytest.skip("this CPU has no VNNI: the GEMM form is not used here")
    timed = model.timed_model("parts")
    gemm = gemm_model(timed)
    graph = onnx.load(str(gemm)).graph
    ops = [n.op_type for n in graph.node]
    assert ops.count("ConvInteger") == 3  # the three strided convolutions stay as exported
    assert sum(n.op_type == "MatMulInteger" and n.name.endswith("_gemm") for n in graph.node) == 84
    addon = ttsint.load_addon("kokoro-af_heart")
    for text in ("Could you tell me where the nearest post office is?", "Good night."):
        symbols = np.asarray(addon.frontend(text)["symbols"])
        style = style_for(addon_voice(addon), len(symbols) - 2)
        a, da = model.get_session(timed, SessionSettings()).run(symbols, style)
        b, db = model.get_session(gemm, SessionSettings()).run(symbols, style)
        assert np.array_equal(da, db) and np.array_equal(a, b)
    with ttsint.Voice.load("kokoro-af_heart") as voice:
        assert "precision=int8 as GEMMs" in voice.block.sequence_block.describe()

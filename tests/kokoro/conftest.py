"""Shared fixtures for the ttsint-kokoro tests: a voice library of two packs, the model, the reference.

The packs are the real af_heart and am_michael when ``setup.sh`` imported kokoro-js's packs into the
default library; otherwise random packs of the right shape stand in (tests that need real voices skip).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import ttsint
from ttsint_kokoro.library import installed, library_dir, write_voice
from ttsint_kokoro.model import assemble_parts, part_files
from ttsint_kokoro.voices import load_pack

PACKS = ("af_heart", "am_michael")


@pytest.fixture(scope="session")
def real_packs() -> bool:
    found = installed(library_dir())
    return all(f"kokoro-{p}" in found for p in PACKS)


@pytest.fixture(scope="session")
def packs(real_packs: bool) -> dict[str, np.ndarray]:
    """af_heart and am_michael: real when installed, else random values of a style vector's scale."""
    if real_packs:
        found = installed(library_dir())
        return {p: load_pack(found[f"kokoro-{p}"] / f"{p}.bin") for p in PACKS}
    rng = np.random.default_rng(24)
    return {p: (0.2 * rng.standard_normal((510, 1, 256))).astype(np.float32) for p in PACKS}


@pytest.fixture(scope="session")
def library(tmp_path_factory: pytest.TempPathFactory, packs: dict[str, np.ndarray]) -> Iterator[Path]:
    """A library holding the two packs, made the one ttsint lists for the whole session."""
    root = tmp_path_factory.mktemp("kokoro-library")
    for name, pack in packs.items():
        write_voice(root, name, pack, "parts")
    before = os.environ.get("TTSINT_KOKORO_DIR")
    os.environ["TTSINT_KOKORO_DIR"] = str(root)
    ttsint.reset_registry()
    yield root
    if before is None:
        os.environ.pop("TTSINT_KOKORO_DIR", None)
    else:
        os.environ["TTSINT_KOKORO_DIR"] = before
    ttsint.reset_registry()


@pytest.fixture(scope="session")
def voice(library: Path) -> Iterator[ttsint.Voice]:
    with ttsint.Voice.load("kokoro-af_heart", registry=ttsint.Registry()) as v:
        yield v


@pytest.fixture(scope="session")
def raw_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """kokoro-v1.0.int8.onnx as the parts make it, untouched: what kokoro-onnx runs."""
    return assemble_parts(part_files(), tmp_path_factory.mktemp("kokoro-model") / "kokoro-v1.0.int8.onnx")


@pytest.fixture(scope="session")
def reference(raw_model: Path, packs: dict[str, np.ndarray], tmp_path_factory: pytest.TempPathFactory):
    """kokoro-onnx on the same model file and packs, on two threads like ttsint's session."""
    kokoro_onnx = pytest.importorskip("kokoro_onnx", reason="kokoro-onnx (the reference) is not installed")
    import onnxruntime as ort

    voices = tmp_path_factory.mktemp("kokoro-voices") / "voices.npz"
    np.savez(voices, **packs)
    options = ort.SessionOptions()
    options.intra_op_num_threads = 2
    options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(raw_model), options, providers=["CPUExecutionProvider"])
    return kokoro_onnx.Kokoro.from_session(session, str(voices))

"""Fixtures for the ttsint-onnx tests: the demo and en-rms addons, and a pool on a session-wide ONNX cache."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import ttsint

torch.set_num_threads(1)  # many small calls on a busy 2-core machine: one intra-op thread avoids stalls


@pytest.fixture(scope="session", params=["demo", "en-rms"])
def addon(request: pytest.FixtureRequest) -> ttsint.Addon:
    return ttsint.load_addon(request.param)


def onnx_setting(cache_dir: Path, **options: object) -> ttsint.RuntimeSetting:
    return ttsint.RuntimeSetting(runtime={"type": "onnxruntime", "cache_dir": str(cache_dir), **options})

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


def example(network: ttsint.Network, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Batched inputs of ``length`` positions for ``network``: symbol ids or frames, and a mask of ones."""
    gen = torch.Generator().manual_seed(seed)
    specs = network.input_specs()
    assert specs is not None
    tensors = {}
    for name, (shape, dtype) in specs.items():
        dims = [length if d is None else d for d in shape]
        if name == "mask":
            tensors[name] = torch.ones(dims)
        elif dtype == torch.int64:
            tensors[name] = torch.randint(1, 30, dims, generator=gen)
        else:
            tensors[name] = torch.randn(dims, generator=gen)
    return tensors

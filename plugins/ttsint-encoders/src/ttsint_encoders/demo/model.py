"""The demo's networks: all convolutional, masked after every layer, with finite declared receptive fields."""

from __future__ import annotations

import torch
from torch import nn

SYMBOLS = " abcdefghijklmnopqrstuvwxyz'.,?!-;:\""
VOCAB = len(SYMBOLS) + 1  # id 0 is padding
HIDDEN = 64
N_MELS = 80


class MaskedConvStack(nn.Module):
    """Residual 1-D convolutions over time; padded positions are zeroed after every layer."""

    def __init__(self, channels: int, kernel: int, dilations: list[int]) -> None:
        super().__init__()
        self.convs = nn.ModuleList(
            nn.Conv1d(channels, channels, kernel, padding=(kernel - 1) // 2 * d, dilation=d)
            for d in dilations
        )
        self.receptive_field = sum((kernel - 1) // 2 * d for d in dilations)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        # x: [B, C, T], mask: [B, 1, T]
        for conv in self.convs:
            x = (x + torch.tanh(conv(x))) * mask
        return x


class TextEncoder(nn.Module):
    """symbols [B, N], mask [B, N] -> text_encoding [B, N, HIDDEN]."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, HIDDEN, padding_idx=0)
        self.convs = MaskedConvStack(HIDDEN, 5, [1, 1, 1])

    def forward(self, symbols: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(1)
        x = self.embedding(symbols).transpose(1, 2) * m
        return self.convs(x, m).transpose(1, 2)


class DurationPredictor(nn.Module):
    """symbols [B, N], mask [B, N] -> durations [B, N] in frames (5 to 10 per symbol)."""

    def __init__(self) -> None:
        super().__init__()
        self.embedding = nn.Embedding(VOCAB, 32, padding_idx=0)
        self.convs = MaskedConvStack(32, 3, [1, 1])
        self.proj = nn.Conv1d(32, 1, 1)

    def forward(self, symbols: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(1)
        x = self.convs(self.embedding(symbols).transpose(1, 2) * m, m)
        return ((5.0 + 5.0 * torch.sigmoid(self.proj(x))) * m).squeeze(1)


class MelDecoder(nn.Module):
    """frames [B, T, HIDDEN], mask [B, T] -> mel [B, T, N_MELS], natural-log magnitudes around -11..1."""

    def __init__(self) -> None:
        super().__init__()
        self.convs = MaskedConvStack(HIDDEN, 5, [1, 2, 4])
        self.proj = nn.Conv1d(HIDDEN, N_MELS, 1)

    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        m = mask.unsqueeze(1)
        x = self.convs(frames.transpose(1, 2) * m, m)
        mel = -5.0 + 5.5 * torch.tanh(self.proj(x))
        return (mel * m).transpose(1, 2)

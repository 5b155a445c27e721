"""Export en-rms's decoder as a stateful step network (decoder_step.pt2) from the shipped decoder.pt2.

    python plugins/ttsint-voice-en/training/step_decoder.py

The decoder is all-convolutional, so it streams exactly with no recomputed context: each residual layer
keeps its last 2·d input frames (and mask) and convolves [cache | new] unpadded, so its output lags its
input by d frames; the total lag is the receptive field. Zero caches are the whole-utterance network's
left zero padding, and the caller flushes with zero frames and mask 0 for the right. Writes
decoder_step.pt2 and stamps its sha256 into addon.toml; checks step output == the shipped decoder's.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
import ttsint
from torch import nn
from torch.export import Dim

HERE = Path(__file__).resolve().parent
ADDON = HERE.parent / "src" / "ttsint_voice_en" / "addon"
sys.path.insert(0, str(HERE))

from model import Decoder  # noqa: E402

DILATIONS = (1, 2, 4, 8, 16, 1, 2, 4, 8, 16)
MAX_T = 32768
TOL = 1e-4


class StepDecoder(nn.Module):
    """frames [1, n, H], mask [1, n], state [1, C + 1, S] -> mel [1, n, 80], mask_out [1, n], state_out.

    Output position i is input position i - lag (lag = receptive field): the first lag outputs of an
    utterance are warm-up and the caller drops them. ``state`` holds every layer's cache along time
    (channel C is the mask); all zeros starts an utterance.
    """

    def __init__(self, decoder: Decoder) -> None:
        super().__init__()
        self.inp, self.out = decoder.inp, decoder.out
        self.blocks = decoder.stack.blocks
        self.dilations = [b.conv.dilation[0] for b in self.blocks]
        self.channels = decoder.inp.out_channels
        self.offsets = [0]
        for d in self.dilations:
            self.offsets.append(self.offsets[-1] + 2 * d)

    @property
    def state_frames(self) -> int:
        return self.offsets[-1]

    @property
    def lag(self) -> int:
        return sum(self.dilations)

    @staticmethod
    def dilated_conv(conv: nn.Conv1d, xs: torch.Tensor, d: int) -> torch.Tensor:
        """The kernel-3 conv over an unpadded window as one matmul of the three shifted views.

        The same sums as conv1d, but a matmul costs no per-call weight reordering (oneDNN's conv does,
        about 0.3 ms a layer at one thread), which dominates small steps.
        """
        n = xs.shape[2] - 2 * d
        taps = torch.cat([xs[:, :, :n], xs[:, :, d:d + n], xs[:, :, 2 * d:]], 1)
        weight = conv.weight.permute(0, 2, 1).reshape(conv.out_channels, -1)
        return torch.matmul(weight, taps) + conv.bias[:, None]

    @staticmethod
    def channel_norm(norm: nn.Module, y: torch.Tensor) -> torch.Tensor:
        """ChannelNorm as one fused layer_norm over channels: the same sums in fewer ops per call."""
        weight, bias = norm.weight.reshape(-1), norm.bias.reshape(-1)
        normed = nn.functional.layer_norm(y.transpose(1, 2), weight.shape, weight, bias, norm.eps)
        return normed.transpose(1, 2)

    def forward(self, frames: torch.Tensor, mask: torch.Tensor,
                state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        m = mask.unsqueeze(1)
        x = nn.functional.linear(frames, self.inp.weight[:, :, 0], self.inp.bias).transpose(1, 2) * m
        caches = []
        for i, (block, d) in enumerate(zip(self.blocks, self.dilations, strict=True)):
            cache = state[:, :, self.offsets[i]:self.offsets[i + 1]]
            xs = torch.cat([cache[:, :self.channels], x], 2)
            ms = torch.cat([cache[:, self.channels:], m], 2)
            caches.append(torch.cat([xs[:, :, -2 * d:], ms[:, :, -2 * d:]], 1))
            # The conv sees its whole window unpadded; the residual and mask are the window's centres.
            y = torch.relu(self.dilated_conv(block.conv, xs, d))
            m = ms[:, :, d:-d]
            y = self.channel_norm(block.norm, y * m) * m
            x = (xs[:, :, d:-d] + y) * m
        mel = nn.functional.linear(x.transpose(1, 2), self.out.weight[:, :, 0], self.out.bias)
        mel = mel * m.transpose(1, 2)
        return mel, m.squeeze(1), torch.cat(caches, 2)


def shipped_decoder() -> Decoder:
    """en-rms's decoder with the shipped decoder.pt2's weights (digest and archive checked by ttsint)."""
    network = ttsint.load_addon(ADDON).networks["decoder"]
    weights = dict(network.program.state_dict)
    channels, hidden = weights["inp.weight"].shape[:2]
    n_mels = weights["out.weight"].shape[0]
    dec = Decoder(hidden=hidden, channels=channels, n_mels=n_mels, dilations=DILATIONS)
    dec.load_state_dict(weights)
    return dec.eval()


def stream(fn: Callable[..., Any], step: StepDecoder, frames: torch.Tensor, sizes: list[int]) -> torch.Tensor:
    """Decode [T, H] frames in steps of ``sizes`` then a flush, dropping the warm-up: what the block does."""
    state = torch.zeros(1, step.channels + 1, step.state_frames)
    outs, start = [], 0
    chunks = []
    for n in sizes:
        chunks.append((frames[start:start + n], torch.ones(min(n, len(frames) - start))))
        start += n
    chunks.append((torch.zeros(step.lag, frames.shape[1]), torch.zeros(step.lag)))
    for x, m in chunks:
        if len(x) == 0:
            continue
        mel, _, state = fn(x[None], m[None], state)
        outs.append(mel[0])
    return torch.cat(outs)[step.lag:]


def main() -> None:
    torch.set_num_threads(2)
    dec = shipped_decoder()
    step = StepDecoder(dec).eval()
    assert step.lag == dec.receptive_field
    gen = torch.Generator().manual_seed(0)
    worst = 0.0
    with torch.no_grad():
        state = torch.zeros(1, step.channels + 1, step.state_frames)
        ex = (torch.randn(1, 17, 256), torch.ones(1, 17), state)
        n = Dim("n", min=1, max=MAX_T)
        ep = torch.export.export(step, ex, dynamic_shapes=({1: n}, {1: n}, None))
        path = ADDON / "decoder_step.pt2"
        torch.export.save(ep, str(path))
        loaded = torch.export.load(str(path)).module()
        for length, sizes in ((1, [1]), (7, [3, 4]), (300, [16, 5, 100, 179]), (300, [300])):
            x = torch.randn(length, 256, generator=gen)
            ref = dec(x[None], torch.ones(1, length))[0]
            got = stream(loaded, step, x, sizes)
            diff = float((got - ref).abs().max())
            worst = max(worst, diff)
            print(f"length {length} steps {sizes}: max |step - whole| = {diff:.2e}")
    ttsint.stamp_digests(ADDON / "addon.toml")
    print(f"wrote {path} ({path.stat().st_size / 1e6:.2f} MB); lag {step.lag}, "
          f"state {step.state_frames} frames; "
          f"{'PASSED' if worst <= TOL else 'FAILED'}")
    if worst > TOL:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""Regenerate the demo addon deterministically: ``python -m ttsint_encoders.demo.build [OUT_DIR]``."""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import ttsint
from torch.export import Dim

from .model import HIDDEN, N_MELS, SYMBOLS, DurationPredictor, MelDecoder, TextEncoder

ADDON_DIR = Path(__file__).parent / "addon"

CONFIG = """\
# The demo addon: real networks exported with torch.export, seeded (untrained) weights.
# Regenerate with: python -m ttsint_encoders.demo.build
name = "demo"
version = "0.1.0"
description = "Seeded FastSpeech-style demo model; its mel is plausible in shape and range, not speech."
language = "en"
license = "Apache-2.0 (seeded, untrained weights made by ttsint_encoders.demo.build)"
priority = 0
sample_rate = 16000
n_mels = {n_mels}
hop_length = 256
n_fft = 1024
win_length = 1024
fmin = 0.0
fmax = 8000.0

[frontend]
type = "characters"
symbols = {symbols}

[networks.text_encoder]
file = "text_encoder.pt2"
role = "encoder"
inputs = ["symbols", "mask"]
outputs = ["text_encoding"]
receptive_field = {rf_text}

[networks.duration_predictor]
file = "duration_predictor.pt2"
role = "encoder"
inputs = ["symbols", "mask"]
outputs = ["durations"]
receptive_field = {rf_dur}

[networks.decoder]
file = "decoder.pt2"
role = "decoder"
inputs = ["frames", "mask"]
outputs = ["mel"]
receptive_field = {rf_dec}

[[stack]]
type = "StreamablePipeline"
sequence_block = {{ type = "Encoders" }}
streamable_block = {{ type = "StreamableStack", stack = [{{ type = "Upsampler" }}, {{ type = "Decoder" }}] }}
"""


def _export(module: torch.nn.Module, args: tuple[torch.Tensor, ...], path: Path) -> None:
    length = Dim("length", min=1, max=65536)
    dynamic = tuple({1: length} for _ in args)
    program = torch.export.export(module.eval(), args, dynamic_shapes=dynamic)
    torch.export.save(program, str(path))


def build(out_dir: Path = ADDON_DIR, seed: int = 1234) -> Path:
    """Write the three networks and addon.toml (with each network's sha256) into ``out_dir``."""
    torch.manual_seed(seed)
    text_encoder, durations, decoder = TextEncoder(), DurationPredictor(), MelDecoder()
    out_dir.mkdir(parents=True, exist_ok=True)
    n, t = 17, 97
    symbols = torch.randint(1, len(SYMBOLS) + 1, (1, n))
    _export(text_encoder, (symbols, torch.ones(1, n)), out_dir / "text_encoder.pt2")
    _export(durations, (symbols, torch.ones(1, n)), out_dir / "duration_predictor.pt2")
    _export(decoder, (torch.randn(1, t, HIDDEN), torch.ones(1, t)), out_dir / "decoder.pt2")
    (out_dir / "addon.toml").write_text(CONFIG.format(
        n_mels=N_MELS, symbols=_toml_str(SYMBOLS),
        rf_text=text_encoder.convs.receptive_field, rf_dur=durations.convs.receptive_field,
        rf_dec=decoder.convs.receptive_field,
    ))
    ttsint.stamp_digests(out_dir / "addon.toml")
    return out_dir


def _toml_str(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


if __name__ == "__main__":
    print(build(Path(sys.argv[1]) if len(sys.argv) > 1 else ADDON_DIR))

"""``ttsint verify``: synthesize the same texts under several configurations and compare them with the first.

This is how a team shows that moving a voice to another runtime, device or block changed nothing.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ._arrays import to_numpy
from ._blocks import Block, cut, last_of_kind
from ._chunking import concat_chunks
from ._errors import ConfigError
from ._guard import OutputGuard
from ._overrides import parse_override
from ._voice import Voice

__all__ = ["Configuration", "VerifyRow", "parse_configuration", "sample_texts", "read_texts", "verify_addon",
           "compared_block"]

MAX_TEXTS = 10_000
"""The most texts ``--texts N`` generates; more is surely a typo, and would run for hours."""

VOICE_KEYS = ("runtime", "device")
"""Keys of a ``--vs`` configuration that go to ``Voice.load``; every other key is a config override."""

_WORDS = (
    "the quick brown fox jumps over the lazy dog while seven bright stars watch from a quiet sky "
    "she sells sea shells by the sea shore and the waves carry them back to the deep water "
    "how much wood would a woodchuck chuck if a woodchuck could chuck wood on a cold winter morning "
    "please call stella and ask her to bring these things with her from the store "
    "six spoons of fresh snow peas five thick slabs of blue cheese and maybe a snack for her brother bob "
    "we also need a small plastic snake and a big toy frog for the kids "
    "when the sunlight strikes raindrops in the air they act as a prism and form a rainbow"
).split()


@dataclass
class Configuration:
    """One ``--vs`` configuration: its label, the voice-level settings and the config overrides."""

    label: str
    voice: dict[str, Any] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)


@dataclass
class VerifyRow:
    """How far one configuration's output is from the first configuration's, over all texts."""

    label: str
    compared: str
    max_diff: float | None
    worst_text: int | None
    frames: int
    passed: bool
    error: str | None = None


def parse_configuration(text: str) -> Configuration:
    """``"runtime=onnxruntime stack.0.sequence_block.type=NeuronEncoders"`` as a Configuration."""
    try:
        parts = shlex.split(text)
    except ValueError as exc:
        raise ConfigError("--vs", f"cannot split {text!r}: {exc}",
                          "quote values that contain spaces") from exc
    config = Configuration(label=text.strip() or "(addon as configured)")
    for part in parts:
        if "=" not in part:
            raise ConfigError("--vs", f"expected KEY=VALUE items, got {part!r} in {text!r}",
                              'e.g. --vs "runtime=onnxruntime device=cpu"')
        key, value = parse_override(part)
        if key in VOICE_KEYS:
            config.voice[key] = value
        else:
            config.overrides[key] = value
    return config


def sample_texts(count: int, longest: int = 2000) -> list[str]:
    """``count`` English texts whose lengths spread evenly (in log scale) from 1 to ``longest`` characters."""
    if count < 1:
        raise ConfigError("--texts", f"expected at least one text, got {count}")
    texts = []
    target = 0
    for i in range(count):
        target = max(target + 1, round(longest ** (i / (count - 1))) if count > 1 else 1)
        words: list[str] = []
        j = 7 * i
        while len(" ".join(words)) < target:
            words.append(_WORDS[j % len(_WORDS)])
            j += 1
        text = " ".join(words)[:target]
        if text.endswith(" "):
            text = text[:-1] + "s"
        if target > 8:
            text = text[:-1] + "."
        texts.append(text[0].upper() + text[1:])
    return texts


def read_texts(value: str) -> list[str]:
    """``--texts``: a count of generated texts, or a file with one text per line."""
    if value.isdigit():
        if int(value) > MAX_TEXTS:
            raise ConfigError("--texts", f"at most {MAX_TEXTS} generated texts, got {value}")
        return sample_texts(int(value))
    path = Path(value)
    if not path.is_file():
        raise ConfigError("--texts", f"{value!r} is neither a number nor a file",
                          "give a count (e.g. --texts 50) or a UTF-8 file with one text per line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except UnicodeDecodeError as exc:
        raise ConfigError("--texts", f"{value} is not valid UTF-8 (byte {exc.start})",
                          "save the file as UTF-8") from None
    texts = [line.strip() for line in lines if line.strip()]
    if not texts:
        raise ConfigError("--texts", f"{value} has no non-empty lines")
    return texts


def compared_block(voice: Voice) -> tuple[Block, str]:
    """The part of the stack whose output is compared: up to the mel when a vocoder follows it (a
    vocoder's output is compared only when there is no mel before it), and what that output is."""
    block = voice.block
    mel = last_of_kind(block, "mel") if block.output_kind() != "mel" else None
    upto = cut(block, mel.path, after=True) if mel is not None else None
    if upto is not None:
        return upto, "mel"
    return block, voice.output_kind or "frames"


def _outputs(voice: Voice, texts: Sequence[str]) -> tuple[list[np.ndarray], str]:
    block, kind = compared_block(voice)
    a = voice.addon
    guarded = OutputGuard(block, n_mels=a.n_mels, hop_length=a.hop_length, limits=a.limits)
    # Each text as synth speaks it: in the voice's segments (sentences, cut to what its networks take),
    # so a long text never reaches a network whole (Kokoro takes at most ~510 tokens per call).
    def spoken(text: str) -> np.ndarray:
        utts = [utt for _, utt in voice.segments(text)] or [voice.encode(text)]
        parts = [to_numpy(concat_chunks(guarded.stream(u, None))) for u in utts]
        return np.concatenate(parts).astype(np.float32)

    return [spoken(t) for t in texts], kind


def verify_addon(addon: str, configurations: Sequence[Configuration], texts: Sequence[str],
           tolerance: float = 1e-4) -> list[VerifyRow]:
    """Synthesize ``texts`` under each configuration; each row is the largest absolute difference from
    the first configuration's output. A configuration that fails to build is a row with its error."""
    rows: list[VerifyRow] = []
    reference: list[np.ndarray] | None = None
    for config in configurations:
        with Voice.load(addon, config.overrides, **config.voice) as voice:
            outs, kind = _outputs(voice, texts)
        frames = sum(int(o.shape[0]) for o in outs)
        if reference is None:
            reference = outs
            rows.append(VerifyRow(config.label, kind, None, None, frames, True))
            continue
        diffs = []
        for ref, out in zip(reference, outs, strict=True):
            diffs.append(float(np.abs(ref - out).max()) if ref.shape == out.shape else float("inf"))
        worst = max(range(len(diffs)), key=diffs.__getitem__)
        shape_error = None
        if diffs[worst] == float("inf"):
            shape_error = (f"text {worst + 1}: output shape {tuple(outs[worst].shape)}, the first "
                           f"configuration's is {tuple(reference[worst].shape)}")
        rows.append(VerifyRow(config.label, kind, diffs[worst], worst, frames,
                              diffs[worst] <= tolerance, shape_error))
    return rows

"""What a client learns about a served voice: architecture, language, rate, licence, honoured fields.

``voice_card`` is read from the addon's metadata and the built stack, and is what ``/v1/voices``,
``/v1/models``, the page and Wyoming's ``describe`` show. ``scrub`` keeps the server's filesystem
paths out of anything a client can read.
"""

from __future__ import annotations

import os
import re
import weakref
from typing import Any, Protocol

import ttsint

from .specs import VoiceSpec

__all__ = ["HostedVoice", "has_durations", "scrub", "voice_card", "voice_languages"]


class HostedVoice(Protocol):
    """What a card is read from: a hosted voice (``pool.ServedVoice``) once its stack is built.

    Declared here, not imported from ``pool`` (which imports this module), so the two have no cycle."""

    spec: VoiceSpec
    voice: ttsint.Voice | None

    @property
    def supports_pace(self) -> bool: ...


_PATH = re.compile(r"(?<![\w:])(?:~|[A-Za-z]:)?(?:[/\\][\w.+@-]+){2,}[/\\]?")


def voice_languages(entry: HostedVoice) -> list[str]:
    """The addon config's ``language`` (a string or a list), else the language its front end reads."""
    assert entry.voice is not None
    declared = entry.voice.addon.config.get("language")
    if isinstance(declared, str) and declared:
        return [declared]
    if isinstance(declared, list) and declared and all(isinstance(x, str) for x in declared):
        return list(declared)
    return [frontend_language(entry)]


def frontend_language(entry: HostedVoice) -> str:
    """The language the voice's front end splits sentences in (``en`` when it does not say)."""
    assert entry.voice is not None
    return str(getattr(entry.voice.addon.frontend, "language", "en"))


def _leaves(block: ttsint.Block) -> list[str]:
    """The types of the blocks that nest none, in stream order: the voice's architecture."""
    return [node.block.type_name for node in ttsint.walk(block) if not node.block.children()]


def has_durations(block: ttsint.Block) -> bool:
    """Whether a block in the tree decides how long each symbol lasts (so words can be timed)."""
    base = ttsint.StreamableBlock.symbol_frames
    return any(getattr(type(node.block), "symbol_frames", base) is not base for node in ttsint.walk(block))


_CARDS: weakref.WeakKeyDictionary[ttsint.Voice, dict[str, Any]] = weakref.WeakKeyDictionary()


def voice_card(entry: HostedVoice) -> dict[str, Any]:
    """The listing fields of a loaded voice: its blocks, language, rate, licence, source, honoured fields.

    Worked out once per built voice (it runs the front end on a sample), then kept.
    """
    assert entry.voice is not None
    card = _CARDS.get(entry.voice)
    if card is None:
        card = _CARDS[entry.voice] = _card(entry)
    return {**card, "honours": dict(card["honours"])}


def _card(entry: HostedVoice) -> dict[str, Any]:
    assert entry.voice is not None
    addon = entry.voice.addon
    config = addon.config
    blocks = _leaves(entry.voice.block)
    registry = addon.registry or ttsint.get_registry()
    regs = registry.addons.get(entry.spec.source) or registry.addons.get(addon.name) or []
    distribution = regs[0].distribution if len(regs) == 1 else None
    source = config.get("source") or config.get("url") or config.get("homepage") or distribution
    return {
        "architecture": " → ".join(blocks),
        "blocks": blocks,
        "language": voice_languages(entry)[0],
        "languages": voice_languages(entry),
        "native_sample_rate": addon.sample_rate,
        "license": config.get("license"),
        "source": scrub(source) if isinstance(source, str) else None,
        "gender": _gender(config),
        "honours": {"speed": entry.supports_pace, "instructions": False,
                    "timestamps": has_durations(entry.voice.block) and _marks_words(entry.voice),
                    "sample_rate": True},
    }


def _marks_words(voice: ttsint.Voice) -> bool:
    """Whether the front end says which word each symbol belongs to (``word_ids``), as timing words needs."""
    try:
        return "word_ids" in voice.encode("hello world")
    except Exception:  # a front end that cannot say this sample cannot time words either
        return False


def _gender(config: dict[str, Any]) -> str | None:
    """The addon's ``gender``, else "female"/"male" when its description says so."""
    declared = config.get("gender")
    if isinstance(declared, str) and declared:
        return declared.lower()
    words = set(re.findall(r"[a-z]+", str(config.get("description") or "").lower()))
    for gender in ("female", "male"):
        if gender in words:
            return gender
    return None


def scrub(value: Any) -> Any:
    """``value`` with every filesystem path replaced by its last part, in strings, lists and dicts."""
    if isinstance(value, str):
        return _PATH.sub(lambda m: os.path.basename(m.group(0).rstrip("/\\")) or "<path>", value)
    if isinstance(value, dict):
        return {scrub(k): scrub(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    return value

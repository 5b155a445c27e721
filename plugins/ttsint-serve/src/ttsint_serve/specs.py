"""The ``--addon NAME|PATH[:KEY=VALUE,...]`` spec: which addon a voice runs, with its own config overrides."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import ttsint

__all__ = ["VoiceSpec", "parse_voice_spec"]

# An override starts with a dotted config key and "="; the ':' or ',' before one separates it.
_KEY = r"[A-Za-z_][\w-]*(?:\.[\w-]+)*="
_OVERRIDES_START = re.compile(r":(?=" + _KEY + ")")
_NEXT_OVERRIDE = re.compile(r",(?=" + _KEY + ")")


@dataclass(frozen=True)
class VoiceSpec:
    """One voice to serve: an addon (registered name or directory) and overrides applied to its config.

    The override ``name=NEW`` renames the voice, so one addon can be served twice with different settings.
    """

    source: str
    overrides: dict[str, Any] = field(default_factory=dict)
    text: str = ""

    @property
    def label(self) -> str:
        """How the voice is called before its addon is loaded: its ``name`` override, else its source."""
        return str(self.overrides.get("name") or self.source)


def parse_voice_spec(text: str) -> VoiceSpec:
    """Parse ``NAME|PATH[:KEY=VALUE,...]``; values are read as JSON when they parse, like ``--set``."""
    match = _OVERRIDES_START.search(text)
    source, rest = (text[:match.start()], text[match.end():]) if match else (text, "")
    overrides = dict(ttsint.parse_override(item) for item in _NEXT_OVERRIDE.split(rest)) if rest else {}
    from .schema import VoiceSpecParts  # msgspec, only once a spec is read (not when the command registers)

    try:
        ttsint.validate({"source": source, "name": overrides.get("name")}, VoiceSpecParts,
                        error=ttsint.InvalidValue)
    except ttsint.InvalidValue as exc:
        said = " names no addon" if exc.path == "source" else f": {exc.path}: {exc.message}"
        raise ttsint.ConfigError("--addon", f"{text!r}{said}", exc.hint) from None
    return VoiceSpec(source.strip(), overrides, text)

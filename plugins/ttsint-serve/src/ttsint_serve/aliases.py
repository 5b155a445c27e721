"""OpenAI's voice and model names, mapped onto served voices, so clients that hard-code them work.

Clients such as Pipecat's ``OpenAITTSService`` accept only OpenAI's 13 voice names. Each name means
a served voice: the one ``--voice-alias NAME=VOICE`` gives, else (the documented default) the first
served voice of the same gender as OpenAI's voice (from the addon's ``gender``, or "male"/"female"
in its description), else the first served voice. ``model`` may be one of OpenAI's TTS models,
which means the voice asked for (or the first served voice).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import ttsint

__all__ = ["OPENAI_MODELS", "OPENAI_VOICES", "default_target", "is_openai_model", "parse_voice_aliases"]

OPENAI_VOICES: dict[str, str | None] = {
    "alloy": None, "ash": "male", "ballad": "male", "coral": "female", "echo": "male", "fable": "male",
    "onyx": "male", "nova": "female", "sage": "female", "shimmer": "female", "verse": "male",
    "marin": "female", "cedar": "male",
}
"""OpenAI's built-in voices and the gender each default alias looks for (alloy: none, the first voice)."""

OPENAI_MODELS = ("tts-1", "tts-1-hd", "gpt-4o-mini-tts")


def is_openai_model(name: str) -> bool:
    """``tts-1``, ``tts-1-hd``, ``gpt-4o-mini-tts`` and its dated snapshots (``gpt-4o-mini-tts-2025-...``)."""
    return name in OPENAI_MODELS or name.startswith("gpt-4o-mini-tts-")


def parse_voice_aliases(items: Iterable[str]) -> dict[str, str]:
    """``--voice-alias NAME=VOICE`` options as a table; a malformed one is a ConfigError naming it."""
    table: dict[str, str] = {}
    for item in items:
        name, sep, voice = item.partition("=")
        if not sep or not name.strip() or not voice.strip():
            raise ttsint.ConfigError("--voice-alias", f"{item!r} is not NAME=VOICE",
                                     "e.g. --voice-alias alloy=en-rms (repeat the option for more names)")
        table[name.strip()] = voice.strip()
    return table


def default_target(name: str, voices: Mapping[str, str | None]) -> str | None:
    """The served voice an OpenAI voice name means by default; ``voices`` maps ready names to genders."""
    if name not in OPENAI_VOICES or not voices:
        return None
    wanted = OPENAI_VOICES[name]
    same = [voice for voice, gender in voices.items() if wanted and gender == wanted]
    return same[0] if same else next(iter(voices))

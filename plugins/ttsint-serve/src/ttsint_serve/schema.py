"""What clients send, declared once: the speech request body, the Wyoming events serve reads, and the
``args`` of ``serve run``'s application builder.

The fields are msgspec Structs checked by ``ttsint.validate`` (the check core uses for addon configs);
a field's ``Meta(extra={"error": ...})`` is the sentence a client reads when that field is wrong, so
each message sits beside the field it is about. ``parse_speech_request`` answers an HTTP 400 in
OpenAI's error shape naming the field; ``check_wyoming_event`` a Wyoming ``bad-request``.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
import ttsint
from msgspec import Meta

from .errors import APIError
from .formats import FORMATS, AudioFormat

__all__ = ["SpeechBody", "SpeechRequest", "parse_speech_request", "check_wyoming_event", "RayAppArgs",
           "VoiceSpecParts",
           "MIN_SPEED", "MAX_SPEED", "MIN_RATE", "MAX_RATE", "MAX_INSTRUCTIONS", "WAV_LENGTHS"]

MIN_SPEED, MAX_SPEED = 0.25, 4.0
MIN_RATE, MAX_RATE = 8000, 48000
MAX_INSTRUCTIONS = 4096
WAV_LENGTHS = ("auto", "exact", "streamed")
_SOMETHING = r"\S"  # a string with more than white space


def _field(hint: Any, error: str, code: str | None = None, **meta: Any) -> Any:
    """``hint`` with the message a client reads when the field is wrong ({value!r} is what was sent)."""
    return Annotated[hint, Meta(**meta, extra={"error": error, "code": code})]


class VoiceId(msgspec.Struct, forbid_unknown_fields=True):
    """OpenAI's custom-voice form ``{"id": NAME}``."""

    id: Annotated[str, Meta(pattern=_SOMETHING)]


_VOICE = "'voice' must be a string naming a voice (GET /v1/voices)"


class SpeechBody(msgspec.Struct):
    """``POST /v1/audio/speech``: OpenAI's fields and ttsint's extensions (``sample_rate``,
    ``wav_length``). Keys it does not know pass, as OpenAI's API adds fields over time."""

    input: _field(str, "'input' must be a non-empty string: the text to speak", pattern=_SOMETHING)
    voice: _field(Annotated[str, Meta(pattern=_SOMETHING)] | VoiceId | None, _VOICE) = None
    model: _field(Annotated[str, Meta(pattern=_SOMETHING)] | None,
                  "'model' must be a string naming a voice (GET /v1/voices) or one of OpenAI's TTS "
                  "models") = None
    response_format: _field(Literal[tuple(FORMATS)],  # type: ignore[valid-type]
                            f"response_format {{value!r}} is not supported; use one of: {', '.join(FORMATS)}",
                            "unsupported_format") = "mp3"
    speed: _field(float, f"'speed' must be a number from {MIN_SPEED} to {MAX_SPEED}, got {{value!r}}",
                  ge=MIN_SPEED, le=MAX_SPEED) = 1.0
    sample_rate: _field(Annotated[int, Meta(ge=MIN_RATE, le=MAX_RATE)] | None,
                        f"'sample_rate' must be a whole number of Hz from {MIN_RATE} to {MAX_RATE}, "
                        "got {value!r}") = None
    stream_format: _field(Literal["audio", "sse"],
                          "stream_format {value!r} is not supported; use 'audio' or 'sse'") = "audio"
    instructions: _field(Annotated[str, Meta(max_length=MAX_INSTRUCTIONS)] | None,
                         f"'instructions' must be a string of at most {MAX_INSTRUCTIONS} characters") = None
    wav_length: _field(Literal[WAV_LENGTHS],  # type: ignore[valid-type]
                       f"wav_length {{value!r}} is not one of {', '.join(WAV_LENGTHS)} "
                       "(how a WAV's header gives its length)") = "auto"


@dataclass(frozen=True)
class SpeechRequest:
    """A checked ``POST /v1/audio/speech`` body."""

    input: str
    voice: str | None
    model: str | None
    format: AudioFormat
    speed: float
    sample_rate: int | None = None
    """The rate asked for (an extension field); None: 24 kHz for ``pcm``, else the voice's rate."""
    sse: bool = False
    """``stream_format: "sse"``: OpenAI's ``speech.audio.delta`` events instead of raw audio."""
    instructions: str | None = None
    wav_length: str = "auto"
    """A WAV's header sizes (an extension field): "auto" exact when the length is learnt within
    ``app.WAV_PLAN_BUDGET`` of readying, "exact" always (held back until known), "streamed" never."""


def parse_speech_request(body: bytes, max_chars: int) -> SpeechRequest:
    """Check a request body against ``SpeechBody``; APIError (400; 413 for a long input) names the field."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError as exc:
        raise APIError(400, f"the request body is not valid JSON: {exc}") from None
    except RecursionError:
        raise APIError(400, "the request body nests arrays or objects far too deep") from None
    if not isinstance(data, dict):
        raise APIError(400, f"the request body must be a JSON object, got {_json_type(data)}")
    try:
        req = ttsint.validate(data, SpeechBody, error=ttsint.InvalidValue)
    except ttsint.InvalidValue as exc:
        raise _field_error(exc, data) from None
    if len(req.input) > max_chars:
        raise APIError(413, f"'input' has {len(req.input)} characters; this server takes at most {max_chars} "
                       "(--max-chars)", param="input", code="input_too_long")
    voice = req.voice.id if isinstance(req.voice, VoiceId) else req.voice
    if voice is None and req.model is None:
        raise APIError(400, "'voice' is required: the name of a served voice (GET /v1/voices)", param="voice")
    fmt = FORMATS[req.response_format]
    if req.sample_rate is not None and fmt.rates is not None and req.sample_rate not in fmt.rates:
        raise APIError(400, f"{fmt.name} carries only {', '.join(map(str, fmt.rates))} Hz, not "
                       f"{req.sample_rate}; pick one of those, or another response_format",
                       param="sample_rate")
    return SpeechRequest(req.input, voice, req.model, fmt, float(req.speed), req.sample_rate,
                         req.stream_format == "sse", req.instructions or None, req.wav_length)


def _field_error(exc: ttsint.InvalidValue, data: dict[str, Any]) -> APIError:
    """The field's own sentence (its ``Meta(extra)``) for whatever msgspec found wrong in it."""
    field = exc.path.split(".")[0]
    extra = _extra(typing.get_type_hints(SpeechBody, include_extras=True).get(field))
    if extra is None:  # not one of ours: say it as the check did
        return APIError(400, str(exc), param=field or None)
    value = data.get(field)
    return APIError(400, extra["error"].format(value=value), param=field, code=extra.get("code"))


def _extra(hint: Any) -> dict[str, Any] | None:
    for meta in typing.get_args(hint)[1:] if typing.get_origin(hint) is Annotated else ():
        if isinstance(meta, Meta) and meta.extra and "error" in meta.extra:
            return meta.extra
    return None


def _json_type(value: Any) -> str:
    return {list: "array", str: "string", bool: "boolean", type(None): "null"}.get(type(value), "number")


# -- Wyoming ------------------------------------------------------------------------------------------

class WyomingVoice(msgspec.Struct):
    """A ``voice`` in Wyoming's synthesize events: by name, or by language (``speaker`` is not used)."""

    name: str | None = None
    language: str | None = None
    speaker: str | None = None


class SynthesizeData(msgspec.Struct):
    """``synthesize``: the whole text at once."""

    text: str
    voice: WyomingVoice | None = None


class SynthesizeStartData(msgspec.Struct):
    """``synthesize-start``: a streamed text follows in chunks."""

    voice: WyomingVoice | None = None


class SynthesizeChunkData(msgspec.Struct):
    """``synthesize-chunk``: a piece of the streamed text."""

    text: str


WYOMING_EVENTS: dict[str, type[msgspec.Struct]] = {
    "synthesize": SynthesizeData,
    "synthesize-start": SynthesizeStartData,
    "synthesize-chunk": SynthesizeChunkData,
}


def check_wyoming_event(event_type: str, data: Any) -> str | None:
    """What is wrong with an event's data, in one sentence naming the field; None when it is fine
    (or not an event this server reads)."""
    schema = WYOMING_EVENTS.get(event_type)
    if schema is None:
        return None
    try:
        ttsint.validate(data if data is not None else {}, schema, error=ttsint.InvalidValue)
    except ttsint.InvalidValue as exc:
        return f"the {event_type!r} event's {str(exc)}".replace("'s : ", ": ")
    return None


# -- the --addon spec (specs.parse_voice_spec) ----------------------------------------------------------

_SPEC_FORM = ("write NAME or PATH, then optionally :KEY=VALUE,..., e.g. "
              "--addon demo:name=demo-slow,stack.0.streamable_block.stack.0.pace=0.8")


class VoiceSpecParts(msgspec.Struct, forbid_unknown_fields=True):
    """``--addon NAME|PATH[:KEY=VALUE,...]`` once split: the addon, and the override serve reads itself
    (``name``); the other overrides are the addon's config keys, checked when it loads."""

    source: Annotated[str, Meta(pattern=_SOMETHING, description="an addon name or directory",
                                extra={"hint": _SPEC_FORM})]
    name: Annotated[Annotated[str, Meta(pattern=_SOMETHING)] | None,
                    Meta(description="a non-empty voice name")] = None


# -- serve run's application builder (rayserve.build_app) ---------------------------------------------

_POSITIVE = Annotated[int, Meta(ge=1)]
_NAME = Annotated[str, Meta(min_length=1)]


class RayVoiceOptions(msgspec.Struct, forbid_unknown_fields=True):
    """Ray Serve's deployment options for a voice, passed to ``serve.deployment`` as given (Ray checks
    their values)."""

    num_replicas: Any = None
    autoscaling_config: dict[str, Any] | None = None
    ray_actor_options: dict[str, Any] | None = None
    max_ongoing_requests: Any = None
    max_queued_requests: Any = None


class RayVoice(RayVoiceOptions, kw_only=True, forbid_unknown_fields=True):
    """One entry of ``voices``: ``addon`` in the ``--addon`` syntax, and Ray Serve's options."""

    addon: Annotated[str, Meta(description="NAME|PATH[:KEY=VALUE,...]",
                               extra={"hint": "e.g. {addon: 'en-rms', num_replicas: 2}"})]


class RayAppArgs(msgspec.Struct, forbid_unknown_fields=True):
    """``args`` of ``import_path: ttsint_serve.rayserve:build_app`` (see ``build_app``)."""

    voices: Annotated[list[str | RayVoice] | None, Meta(
        description="a list of voices, each NAME|PATH[:KEY=VALUE,...] or {addon: ..., num_replicas: ...}",
    )] = None
    voice_defaults: RayVoiceOptions | None = None
    max_streams: _POSITIVE = 64
    max_chars: _POSITIVE = 50_000
    voice_streams: _POSITIVE = 16
    torch_threads: _POSITIVE = 1
    ingress: dict[str, Any] | None = None
    voice_aliases: Annotated[dict[_NAME, _NAME], Meta(
        description="a table mapping names clients send to served voices",
        extra={"hint": "e.g. {alloy: en-rms, nova: kokoro-af_heart}"})] | None = None

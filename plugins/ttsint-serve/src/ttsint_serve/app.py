"""The Starlette app: OpenAI's speech endpoint, voice listings, health, metrics and the try-it page."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import ctypes
import gc
import json
import logging
import threading
import time
from collections.abc import AsyncIterator, Mapping
from importlib import resources
from typing import Any

import numpy as np
import ttsint
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from .aliases import OPENAI_MODELS, OPENAI_VOICES, default_target, is_openai_model
from .errors import APIError
from .formats import (
    PCM_DEFAULT_RATE,
    PcmEncoder,
    Resampler,
    resampled_length,
    warm,
    wav_header,
)
from .metrics import ServeMetrics
from .pool import READY, SKIPPED, ServedVoice, VoicePool
from .scheduler import CapacityError, Scheduler, SynthesisStream
from .schema import SpeechRequest, parse_speech_request
from .ssml import PoolDocuments, is_ssml

__all__ = ["AudioStream", "Speech", "SpeechRequest", "create_app", "parse_speech_request"]

log = logging.getLogger("ttsint.serve")

WAV_PLAN_BUDGET = 0.5
"""Seconds a streamed WAV may spend, by default, readying sentences after the first to learn the length
for its header before the first byte (``wav_length: "auto"``); past it the header says "unknown"."""


#: Seconds between two reclaims of a finished stream's memory (see ``reclaim_memory``).
RECLAIM_EVERY = 10.0


def reclaim_memory(loaded: threading.Event, stop: threading.Event, every: float = RECLAIM_EVERY) -> None:
    """Give the memory of finished streams back, every ``every`` seconds, until ``stop`` is set.

    A finished stream's objects (its speech stream, audio stream and FFmpeg encoder) sit in reference
    cycles, so only the cyclic collector frees them, and its full passes are rare; glibc then keeps the
    freed native buffers. A soak of mp3 requests grew the server by ~100 KB a request (1,800 requests:
    +230 MB); with this pass RSS stays flat. What is alive once the voices have loaded (modules, networks:
    ~340,000 objects with torch, a 150 ms full pass holding the GIL) is frozen out of the collector first,
    so a pass scans only what was made since.
    """
    loaded.wait()
    gc.freeze()
    trim = _malloc_trim()
    while not stop.wait(every):
        gc.collect()
        if trim is not None:
            trim(0)


def _malloc_trim() -> Any:
    """glibc's ``malloc_trim`` (returns freed heap memory to the system), or None where there is none."""
    try:
        return ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):
        return None


def create_app(pool: VoicePool, scheduler: Scheduler, *, max_chars: int = 50_000,
               metrics: ServeMetrics | None = None, retry_after: int = 1,
               voice_aliases: Mapping[str, str] | None = None, url: str | None = None) -> Starlette:
    """Build the ASGI app; its lifespan starts loading the voices and stops the scheduler at shutdown.

    ``voice_aliases`` maps names clients send (OpenAI's ``alloy``...) to served voices; OpenAI's
    names not in it get their documented defaults (``aliases.default_target``). ``url``: where the
    server listens, logged with the voices and the page's address once they are loaded.
    """
    metrics = metrics or ServeMetrics()
    metrics.track_active(lambda: scheduler.active)
    scheduler.on_chunk = lambda stream, chunk: metrics.chunks.labels(stream.label).inc()
    aliases = dict(voice_aliases or {})
    genders: dict[tuple[str, ...], dict[str, str | None]] = {}
    documents = PoolDocuments(pool)  # SSML input: one Document over the ready voices

    def alias_target(name: str) -> str | None:
        if name in aliases:
            return aliases[name]
        ready = tuple(pool.ready_names())
        if ready not in genders:  # read once per set of ready voices: describe() builds the block tree
            genders.clear()
            genders[ready] = {e.name: e.describe().get("gender") for e in pool if e.name in ready}
        return default_target(name, genders[ready])

    def resolve(req: SpeechRequest) -> ServedVoice:
        entry = pool.find(req.voice) or pool.find(req.model)
        if entry is None and req.voice is not None:
            target = alias_target(req.voice)
            entry = pool.find(target)
            if entry is None and target is not None:
                raise APIError(404, f"voice {req.voice!r} is an alias of {target!r}, which this server does "
                               f"not serve (--voice-alias); it has: {', '.join(pool.ready_names())}",
                               param="voice", code="voice_not_found")
        if entry is None and req.voice is None and req.model is not None and is_openai_model(req.model):
            entry = pool.find(next(iter(pool.ready_names()), None))
        if entry is None:
            served = ", ".join(pool.ready_names()) or "none"
            if req.voice is None:
                raise APIError(400, f"model {req.model!r} is neither one of OpenAI's TTS models "
                               f"({', '.join(OPENAI_MODELS)}) nor a served voice; this server has: {served}",
                               param="model")
            raise APIError(404, f"no voice {req.voice!r}; this server has: {served} (and OpenAI's voice "
                           f"names: {', '.join(OPENAI_VOICES)})", param="voice", code="voice_not_found")
        if req.model is not None and not is_openai_model(req.model) and pool.find(req.model) is None:
            raise APIError(400, f"model {req.model!r} is neither one of OpenAI's TTS models "
                           f"({', '.join(OPENAI_MODELS)}) nor a served voice", param="model")
        if entry.status != READY:
            if entry.error:
                raise APIError(503, f"voice {entry.name!r} failed to load: {entry.error}",
                               type="server_error", param="voice")
            raise APIError(503, f"voice {entry.name!r} is still loading", type="server_error", param="voice",
                           headers={"Retry-After": str(retry_after)})
        if req.speed != 1.0 and not entry.supports_pace and not is_ssml(req.input):  # SSML: stretched
            raise APIError(400, f"voice {entry.name!r} has no pace control in its stack, so only speed 1.0 "
                           "works with it", param="speed")
        return entry

    async def open_stream(request: Request) -> tuple[SpeechRequest, ServedVoice, Speech]:
        """Parse, resolve and start a request's stream; its first chunk is made before anything is sent."""
        try:
            req = parse_speech_request(await request.body(), max_chars)
            entry = resolve(req)
        except APIError as exc:  # refused before a voice was chosen: counted under voice ""
            metrics.requests.labels("", str(exc.status)).inc()
            raise
        speech = Speech(entry, req, documents)
        status = "200"
        try:
            stream = scheduler.open(speech.start, label=entry.name, frame_rate=entry.sample_rate)
        except CapacityError as exc:
            metrics.rejected.inc()
            metrics.requests.labels(entry.name, "429").inc()
            raise APIError(429, f"{exc}; retry shortly", type="rate_limit_error", code="too_many_streams",
                           headers={"Retry-After": str(exc.retry_after)}) from exc
        try:
            first = await stream.next()
        except CapacityError as exc:  # admitted, then refused at its first step: the workers are behind
            status = "429"
            metrics.rejected.inc()
            raise APIError(429, f"{exc}; retry shortly", type="rate_limit_error", code="too_many_streams",
                           headers={"Retry-After": str(exc.retry_after)}) from exc
        except ttsint.FrontendError as exc:
            status = "400"
            raise APIError(400, f"voice {entry.name!r} cannot speak this input: {exc}",
                           param="input") from exc
        except Exception as exc:
            status = "500"
            metrics.errors.labels(entry.name, "before_audio").inc()
            _log_failure(entry, stream, exc)
            raise APIError(500, f"voice {entry.name!r} failed: {exc}", type="server_error") from exc
        except asyncio.CancelledError:
            stream.cancel()
            raise
        finally:
            metrics.requests.labels(entry.name, status).inc()
        if first is None:
            raise APIError(400, "the input produced no audio", param="input")
        first_at = stream.first_chunk_at or stream.opened_at
        metrics.first_chunk.labels(entry.name).observe(first_at - stream.opened_at)
        stream.add_done_callback(lambda s: _observe_rtf(metrics, entry, s))
        speech.stream, speech.first = stream, first
        return req, entry, speech

    async def speech_endpoint(request: Request) -> Response:
        req, entry, speech = await open_stream(request)
        return AudioStream(speech, metrics)

    async def timestamps(request: Request) -> Response:
        """The whole audio (base64) and every word's start and end, in one JSON body."""
        req, entry, speech = await open_stream(request)
        try:
            parts = [speech.encode(speech.first)]
            while (chunk := await speech.stream.next()) is not None:
                parts.append(speech.encode(chunk))
            parts.append(speech.finish())
        except Exception as exc:
            metrics.errors.labels(entry.name, "mid_stream").inc()
            _log_failure(entry, speech.stream, exc)
            raise APIError(500, f"voice {entry.name!r} failed: {exc}", type="server_error") from exc
        finally:
            if not speech.stream.finished:
                speech.stream.cancel()
        audio = b"".join(parts)
        if req.format.name == "wav":  # the whole length is known here: exact sizes in the header
            audio = exact_wav(audio, speech.rate)
        segments = speech.segment_words(final=True)
        return JSONResponse({
            "voice": entry.name, "response_format": req.format.name, "sample_rate": speech.rate,
            "duration": round(speech.samples_out / speech.rate, 4),
            "audio": base64.b64encode(audio).decode("ascii"),
            "words": [w for seg in segments for w in seg["words"]],
            "segments": segments,
        }, headers=speech.headers(with_type=False))

    async def voices(request: Request) -> Response:
        # Addons skipped for making no audio are in /readyz, not here: they are not voices.
        return JSONResponse({"object": "list", "data": [e.describe() for e in pool if e.status != SKIPPED],
                             "aliases": {name: aliases.get(name) or alias_target(name)
                                         for name in [*OPENAI_VOICES, *aliases]}})

    async def models(request: Request) -> Response:
        created = int(time.time())
        data = []
        for e in pool:
            if e.status == READY:
                info = e.describe()
                data.append({"id": e.name, "object": "model", "created": created,
                             "owned_by": info.get("distribution") or "local",
                             **{k: info[k] for k in _MODEL_FIELDS if k in info}})
        data += [{"id": name, "object": "model", "created": created, "owned_by": "ttsint",
                  "description": "OpenAI's model name: the voice asked for, or the first served voice"}
                 for name in OPENAI_MODELS]
        return JSONResponse({"object": "list", "data": data})

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(request: Request) -> Response:
        body = pool.readiness()
        return JSONResponse(body, status_code=200 if body["ready"] else 503)

    async def metrics_endpoint(request: Request) -> Response:
        data, content_type = metrics.render()
        return Response(data, media_type=content_type)

    async def index(request: Request) -> Response:
        return HTMLResponse(resources.files("ttsint_serve").joinpath("static/index.html").read_text("utf-8"))

    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, APIError)
        return JSONResponse(exc.body(), status_code=exc.status, headers=exc.headers)

    async def announce_ready() -> None:
        await asyncio.to_thread(pool.loaded.wait)
        ready = [e for e in pool if e.status == READY]
        await asyncio.to_thread(lambda: [e.describe() for e in ready])  # /v1/voices' cards, made once
        log.info("%s", ready_line(url or "", [(e.name, e.sample_rate) for e in ready]))

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool.start()
        scheduler.start()
        # The encoders (PyAV, soxr: ~0.16 s of imports holding the GIL) warm up once the voices are loaded,
        # not while they load: on two cores they slowed the voices' readiness.
        threading.Thread(target=lambda: (pool.loaded.wait(), warm()), name="ttsint-warm-encoders",
                         daemon=True).start()
        stop_reclaim = threading.Event()
        threading.Thread(target=reclaim_memory, args=(pool.loaded, stop_reclaim), name="ttsint-reclaim",
                         daemon=True).start()
        announce = asyncio.create_task(announce_ready()) if url else None
        try:
            yield
        finally:
            if announce is not None:
                announce.cancel()
            stop_reclaim.set()
            await asyncio.to_thread(scheduler.close)
            pool.close()

    static = StaticFiles(directory=str(resources.files("ttsint_serve").joinpath("static")))
    routes = [
        Route("/v1/audio/speech", speech_endpoint, methods=["POST"]),
        Route("/v1/audio/speech/timestamps", timestamps, methods=["POST"]),
        Route("/v1/voices", voices),
        Route("/v1/models", models),
        Route("/healthz", healthz),
        Route("/readyz", readyz),
        Route("/metrics", metrics_endpoint),
        Route("/", index),
        Mount("/static", static, name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={APIError: api_error})
    app.state.pool, app.state.scheduler, app.state.metrics = pool, scheduler, metrics
    return app


def ready_line(url: str, voices: list[tuple[str, int]]) -> str:
    """The line a server logs once its voices are loaded: its URL, its voices and rates, the page."""
    listed = ", ".join(f"{name} ({rate} Hz)" for name, rate in voices) or "none (see the errors above)"
    return f"ttsint serve is ready at {url} (OpenAI base_url {url}/v1); voices: {listed}; try them at {url}/"


_MODEL_FIELDS = ("architecture", "language", "native_sample_rate", "license", "source", "honours", "version")


class Speech:
    """One request's audio path: the voice's chunks resampled and encoded, and its words timed.

    ``start`` runs on a scheduler worker and keeps the ``SpeechStream`` it makes, whose finished
    segments carry the durations that time their words.
    """

    def __init__(self, entry: ServedVoice, req: SpeechRequest,
                 documents: PoolDocuments | None = None) -> None:
        self.entry, self.req, self.documents = entry, req, documents
        self.native = entry.sample_rate
        wanted = req.sample_rate or (PCM_DEFAULT_RATE if req.format.name == "pcm" else self.native)
        self.rate = req.format.rate_for(wanted)
        self.resample = Resampler(self.native, self.rate)
        self.encoder = req.format.encoder(self.rate)
        self.voice: ttsint.Voice | None = None
        self.speech: Any = None
        self.stream: Any = None
        self.first: ttsint.Chunk | None = None
        self.samples_in = 0
        self.samples_out = 0
        self.words_sent = 0
        self.length: int | None = None
        """The samples a WAV's header announces, when its length was learnt before the first byte."""
        self.buffered = False
        """A WAV held back until its end to give it exact sizes (``wav_length: "exact"``, length unknown)."""

    def start(self) -> Any:
        if self.documents is not None and is_ssml(self.req.input):  # docs/ssml.md
            self.speech = self.documents.stream(self.req.input, self.entry.name, self.native, self.req.speed)
            self.plan_wav()  # a Document has no SpeechStream to plan: "exact" holds its WAV back
            return self.speech.chunks()
        voice = self.entry.paced(self.req.speed)
        self.speech = self.entry.stream(self.req.input, self.req.speed)
        if isinstance(voice, ttsint.Voice):
            self.voice = voice
        self.plan_wav()
        return self.speech

    def plan_wav(self) -> None:
        """A streamed WAV's header: exact sizes when the durations give the length before the first byte.

        The sentences are readied now (front end, sequence blocks, first chunk: work the stream does
        anyway, played as readied) and their durations × hop, plus the pauses, are the length; the
        resampled length follows exactly. With ``wav_length: "auto"`` the sentences after the first
        are readied only when the first one's time foretells they fit in ``WAV_PLAN_BUDGET`` (Kokoro's
        network makes each sentence whole, so its readying is its synthesis), else the header says "unknown";
        ``"exact"`` readies them all, or holds the WAV back when there are no durations (SSML).
        """
        req = self.req
        if not self.wants_length:
            return
        budget = None if req.wav_length == "exact" else WAV_PLAN_BUDGET
        if isinstance(self.speech, ttsint.SpeechStream) and self.voice is not None:
            self.set_length(self.speech.plan_length(self.voice.addon.hop_length, budget=budget))
        elif hasattr(self.speech, "plan_length_remotely"):  # a voice replica plans it (rayserve.ReplicaCall)
            self.speech.plan_length_remotely(budget)
        else:
            self.set_length(None)

    @property
    def wants_length(self) -> bool:
        """A streamed WAV whose header should carry exact sizes when they can be had."""
        return self.req.format.name == "wav" and not self.req.sse and self.req.wav_length != "streamed"

    def set_length(self, planned: int | None) -> None:
        """The WAV's header from the planned length at the voice's rate, or None when it is not known."""
        if planned is not None and isinstance(self.encoder, PcmEncoder):
            self.length = resampled_length(planned, self.native, self.rate)
            self.encoder.set_length(self.length)
        elif self.req.wav_length == "exact":
            self.buffered = True

    def headers(self, with_type: bool = True) -> dict[str, str]:
        """The response's headers: its rate, voice, and whether ``instructions`` was followed."""
        out = {"x-sample-rate": str(self.rate), "x-ttsint-voice": self.entry.name,
               "cache-control": "no-store"}
        if with_type:
            out["content-type"] = "text/event-stream" if self.req.sse else self.req.format.media_type
        if self.req.format.name == "wav" and not self.req.sse:
            out["x-ttsint-wav-length"] = "exact" if self.length is not None or self.buffered else "streamed"
        if self.req.instructions is not None:
            out["x-ttsint-instructions"] = (f"ignored: voice {self.entry.name!r} cannot follow instructions; "
                                            "its style is fixed by its addon")
        return out

    def encode(self, chunk: ttsint.Chunk) -> bytes:
        if self.samples_in == 0 and self.wants_length and hasattr(self.speech, "plan_length_remotely"):
            self.set_length(self.speech.planned_length)  # it came with the first chunk
        samples = ttsint.to_numpy(chunk.frames).reshape(-1).astype(np.float32, copy=False)
        self.samples_in += len(samples)
        return self.encoder.encode(self._announced(self.resample(samples)))

    def finish(self) -> bytes:
        tail = self._announced(self.resample(np.zeros(0, dtype=np.float32), last=True))
        if self.length is not None and self.samples_out < self.length:  # never seen; the header must hold
            log.warning("voice %r made %d samples fewer than its durations said; padded with silence",
                        self.entry.name, self.length - self.samples_out)
            tail = np.concatenate([tail, np.zeros(self.length - self.samples_out, dtype=np.float32)])
            self.samples_out = self.length
        return self.encoder.encode(tail) + self.encoder.finish()

    def _announced(self, out: np.ndarray) -> np.ndarray:
        """``out``, counted, and cut where a WAV's header says the audio ends (it never goes past it)."""
        if self.length is not None and self.samples_out + len(out) > self.length:
            log.warning("voice %r made more samples than its durations said; cut at %d", self.entry.name,
                        self.length)
            out = out[:max(0, self.length - self.samples_out)]
        self.samples_out += len(out)
        return out

    def segment_words(self, final: bool = False) -> list[dict[str, Any]]:
        """Segments whose audio has all been made since the last call, each with its words' times.

        A segment's durations are recorded when its last chunk is made, so a segment counts as
        done once a later chunk (or the end) has come.
        """
        if isinstance(self.speech, ttsint.DocumentStream):  # SSML: each finished run, its words and marks
            runs = self.speech.runs[self.words_sent:]
            first = self.words_sent
            self.words_sent += len(runs)
            return [{"segment": first + i, **{k: v for k, v in run.items() if k != "type"}}
                    for i, run in enumerate(runs)]
        remote = getattr(self.speech, "timed_segments", None)
        if remote is not None:  # timed on the voice's replica (rayserve.ReplicaCall), sent with the chunks
            out = list(remote[self.words_sent:])
        elif isinstance(self.speech, ttsint.SpeechStream) and self.voice is not None:
            out = timed_segments(self.speech, self.voice, self.words_sent, None if final else self.samples_in)
        else:
            return []
        self.words_sent += len(out)
        return out

    def usage(self) -> dict[str, int]:
        """OpenAI's usage fields: input characters, and output audio frames at the voice's hop (~16 ms)."""
        hop = self.voice.addon.hop_length if self.voice is not None else 256
        out = self.samples_in // hop
        return {"input_tokens": len(self.req.input), "output_tokens": out,
                "total_tokens": len(self.req.input) + out}

    def close(self) -> None:
        self.encoder.close()


def timed_segments(speech: ttsint.SpeechStream, voice: ttsint.Voice, sent: int,
                   made: int | None) -> list[dict[str, Any]]:
    """The segments of ``speech`` after the first ``sent`` whose audio is all made, each with its words'
    start and end from the model's durations (frames × hop); ``made``: frames made so far (None: all).

    A segment's durations are recorded when its last chunk is made, so a segment counts as done once
    a later chunk (or the end) has come.
    """
    hop = voice.addon.hop_length / voice.addon.sample_rate
    frame = voice.frame_seconds
    out = []
    for info in list(speech.segments)[sent:]:
        if info.end is None or (made is not None and made < info.end):
            break
        start = info.start * frame
        seg = {"segment": info.index, "text": info.text, "start": round(start, 4),
               "end": round(info.end * frame, 4), "words": ttsint.word_timings(info, hop, start)}
        if info.symbol_frames is not None:  # where the model's durations end: the audio's end, to a frame
            seg["timed_end"] = round(start + hop * int(info.symbol_frames.sum()), 4)
        out.append(seg)
    return out


def exact_wav(data: bytes, rate: int) -> bytes:
    """A whole 16-bit mono WAV (header and samples) with exact sizes in its header."""
    return wav_header(rate, (len(data) - 44) // 2) + data[44:]


def _sse(event: dict[str, Any]) -> bytes:
    return b"data: " + json.dumps(event, separators=(",", ":")).encode() + b"\n\n"


class AudioStream:
    """An ASGI response that sends a stream's audio as it is made, chunked, with no Content-Length.

    Raw audio in the response format, or with ``stream_format: "sse"`` OpenAI's ``speech.audio.delta``
    events (base64 audio), ``ttsint.words`` events as each sentence ends, and ``speech.audio.done``.
    A client that disconnects cancels the stream. A stream that fails after its first bytes are
    sent is cut off without the final empty chunk, so the client sees an incomplete body rather
    than a short file that looks whole.
    """

    def __init__(self, speech: Speech, metrics: ServeMetrics) -> None:
        self.speech, self.metrics = speech, metrics

    def _pack(self, audio: bytes) -> bytes:
        speech = self.speech
        if not speech.req.sse:
            return audio
        out = b""
        if audio:
            out = _sse({"type": "speech.audio.delta", "audio": base64.b64encode(audio).decode("ascii")})
        for seg in speech.segment_words():
            out += _sse({"type": "ttsint.words", **seg})
        return out

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        speech = self.speech
        stream, name = speech.stream, speech.entry.name
        gone = asyncio.Event()

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()
            stream.cancel()

        watcher = asyncio.create_task(watch_disconnect())
        try:
            body = self._pack(speech.encode(speech.first))  # first: a replica's planned length comes with it
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(k.encode(), v.encode("latin-1", "replace"))
                                    for k, v in speech.headers().items()]})
            held: list[bytes] = []  # a WAV sent whole at its end (wav_length "exact", length unknown)
            while not gone.is_set():
                if body and speech.buffered:
                    held.append(body)
                elif body:
                    await send({"type": "http.response.body", "body": body, "more_body": True})
                try:
                    chunk = await stream.next()
                except Exception as exc:
                    self.metrics.errors.labels(name, "mid_stream").inc()
                    _log_failure(speech.entry, stream, exc)
                    return  # the server logs that the response was not completed, and closes it
                if chunk is None and (gone.is_set() or stream.cancelled):
                    return  # cut short (the client went away): not finished, padded or logged as whole
                if chunk is None:
                    last = self._pack(speech.finish())
                    if speech.req.sse:
                        last += b"".join(_sse({"type": "ttsint.words", **seg})
                                         for seg in speech.segment_words(final=True))
                        last += _sse({"type": "speech.audio.done", "usage": speech.usage()})
                    if speech.buffered:
                        last = exact_wav(b"".join([*held, last]), speech.rate)
                    await send({"type": "http.response.body", "body": last, "more_body": False})
                    return
                body = self._pack(speech.encode(chunk))
        finally:
            watcher.cancel()
            speech.close()
            if not stream.finished:
                stream.cancel()
            if gone.is_set():
                self.metrics.cancelled.labels(name).inc()


def _observe_rtf(metrics: ServeMetrics, entry: ServedVoice, stream: SynthesisStream) -> None:
    """At a stream's end, its real-time factor if it ran to completion."""
    if stream.error is None and not stream.cancelled and stream.samples_made and stream.finished_at:
        seconds = stream.samples_made / entry.sample_rate
        metrics.rtf.labels(entry.name).observe((stream.finished_at - stream.opened_at) / seconds)


def _log_failure(entry: ServedVoice, stream: SynthesisStream, exc: BaseException) -> None:
    where = entry.voice.addon.path if entry.voice is not None else entry.spec.source
    log.error("voice %r (addon %s, --addon %s) failed after %d chunk(s): %s: %s", entry.name, where,
              entry.spec.text, stream.chunks_made, type(exc).__name__, exc)
    log.debug("traceback of the failure in voice %r", entry.name, exc_info=exc)

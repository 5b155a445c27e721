"""The Starlette app: OpenAI's speech endpoint, voice listings, health, metrics and the try-it page."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from importlib import resources

import ttsint
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import Receive, Scope, Send

from .errors import APIError
from .formats import FORMATS, AudioFormat
from .metrics import ServeMetrics
from .pool import READY, SKIPPED, ServedVoice, VoicePool
from .scheduler import CapacityError, Scheduler, SynthesisStream

__all__ = ["create_app", "SpeechRequest", "parse_speech_request"]

log = logging.getLogger("ttsint.serve")

MIN_SPEED, MAX_SPEED = 0.25, 4.0


@dataclass(frozen=True)
class SpeechRequest:
    """A checked ``POST /v1/audio/speech`` body."""

    input: str
    voice: str
    model: str | None
    format: AudioFormat
    speed: float


def parse_speech_request(body: bytes, max_chars: int) -> SpeechRequest:
    """Check a request body field by field; APIError names the field that is wrong."""
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise APIError(400, f"the request body is not valid JSON: {exc}") from exc
    except RecursionError:
        raise APIError(400, "the request body nests arrays or objects far too deep") from None
    if not isinstance(data, dict):
        raise APIError(400, f"the request body must be a JSON object, got {type(data).__name__}")
    text = data.get("input")
    if not isinstance(text, str) or not text.strip():
        raise APIError(400, "'input' must be a non-empty string: the text to speak", param="input")
    if len(text) > max_chars:
        raise APIError(413, f"'input' has {len(text)} characters; this server takes at most {max_chars} "
                       "(--max-chars)", param="input", code="input_too_long")
    voice, model = data.get("voice"), data.get("model")
    for key, value in (("voice", voice), ("model", model)):
        if value is not None and not isinstance(value, str):
            raise APIError(400, f"'{key}' must be a string naming a voice", param=key)
    if voice is None and model is None:
        raise APIError(400, "'voice' is required: the name of a served voice (GET /v1/voices)", param="voice")
    fmt_name = data.get("response_format", "wav")
    if not isinstance(fmt_name, str) or fmt_name not in FORMATS:
        raise APIError(400, f"response_format {fmt_name!r} is not supported; use one of: "
                       f"{', '.join(FORMATS)}", param="response_format", code="unsupported_format")
    speed = data.get("speed", 1.0)
    if isinstance(speed, bool) or not isinstance(speed, (int, float)) or not math.isfinite(speed) \
            or not MIN_SPEED <= speed <= MAX_SPEED:
        raise APIError(400, f"'speed' must be a number from {MIN_SPEED} to {MAX_SPEED}, got {speed!r}",
                       param="speed")
    return SpeechRequest(text, voice or model, model, FORMATS[fmt_name], float(speed))


def create_app(pool: VoicePool, scheduler: Scheduler, *, max_chars: int = 50_000,
               metrics: ServeMetrics | None = None, retry_after: int = 1) -> Starlette:
    """Build the ASGI app; its lifespan starts loading the voices and stops the scheduler at shutdown."""
    metrics = metrics or ServeMetrics()
    metrics.track_active(lambda: scheduler.active)
    scheduler.on_chunk = lambda stream, chunk: metrics.chunks.labels(stream.label).inc()

    def resolve(req: SpeechRequest) -> ServedVoice:
        entry = pool.find(req.voice) or pool.find(req.model)
        if entry is None:
            served = ", ".join(pool.ready_names()) or "none"
            raise APIError(404, f"no voice {req.voice!r}; this server has: {served}", param="voice",
                           code="voice_not_found")
        if entry.status != READY:
            if entry.error:
                raise APIError(503, f"voice {entry.name!r} failed to load: {entry.error}",
                               type="server_error", param="voice")
            raise APIError(503, f"voice {entry.name!r} is still loading", type="server_error", param="voice",
                           headers={"Retry-After": str(retry_after)})
        if req.speed != 1.0 and not entry.supports_pace:
            raise APIError(400, f"voice {entry.name!r} has no pace control in its stack, so only speed 1.0 "
                           "works with it", param="speed")
        return entry

    async def speech(request: Request) -> Response:
        try:
            req = parse_speech_request(await request.body(), max_chars)
            entry = resolve(req)
        except APIError as exc:  # refused before a voice was chosen: counted under voice ""
            metrics.requests.labels("", str(exc.status)).inc()
            raise
        status = "200"
        try:
            stream = scheduler.open(lambda: entry.paced(req.speed).stream(req.input), label=entry.name)
        except CapacityError as exc:
            metrics.rejected.inc()
            metrics.requests.labels(entry.name, "429").inc()
            raise APIError(429, f"{exc}; retry shortly", type="rate_limit_error", code="too_many_streams",
                           headers={"Retry-After": str(retry_after)}) from exc
        try:
            first = await stream.next()
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
        return AudioStream(stream, first, req.format, entry, metrics)

    async def voices(request: Request) -> Response:
        # Addons skipped for making no audio are in /readyz, not here: they are not voices.
        return JSONResponse({"object": "list", "data": [e.describe() for e in pool if e.status != SKIPPED]})

    async def models(request: Request) -> Response:
        created = int(time.time())
        data = [{"id": e.name, "object": "model", "created": created,
                 "owned_by": e.describe().get("distribution") or "local"}
                for e in pool if e.status == READY]
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

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        pool.start()
        scheduler.start()
        try:
            yield
        finally:
            await asyncio.to_thread(scheduler.close)
            pool.close()

    static = StaticFiles(directory=str(resources.files("ttsint_serve").joinpath("static")))
    routes = [
        Route("/v1/audio/speech", speech, methods=["POST"]),
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


class AudioStream:
    """An ASGI response that sends a stream's chunks as they are made, chunked, with no Content-Length.

    A client that disconnects cancels the stream. A stream that fails after its first bytes are
    sent is cut off without the final empty chunk, so the client sees an incomplete body rather
    than a short file that looks whole.
    """

    def __init__(self, stream: SynthesisStream, first: ttsint.Chunk, fmt: AudioFormat, entry: ServedVoice,
                 metrics: ServeMetrics) -> None:
        self.stream, self.first, self.format, self.entry, self.metrics = stream, first, fmt, entry, metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        stream, name = self.stream, self.entry.name
        gone = asyncio.Event()

        async def watch_disconnect() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass
            gone.set()
            stream.cancel()

        watcher = asyncio.create_task(watch_disconnect())
        try:
            await send({"type": "http.response.start", "status": 200, "headers": [
                (b"content-type", self.format.media_type.encode()),
                (b"x-sample-rate", str(self.entry.sample_rate).encode()),
                (b"cache-control", b"no-store"),
            ]})
            body = self.format.start(self.entry.sample_rate) + self.format.encode(self.first.frames)
            while not gone.is_set():
                await send({"type": "http.response.body", "body": body, "more_body": True})
                try:
                    chunk = await stream.next()
                except Exception as exc:
                    self.metrics.errors.labels(name, "mid_stream").inc()
                    _log_failure(self.entry, stream, exc)
                    return  # the server logs that the response was not completed, and closes it
                if chunk is None:
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
                    return
                body = self.format.encode(chunk.frames)
        finally:
            watcher.cancel()
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

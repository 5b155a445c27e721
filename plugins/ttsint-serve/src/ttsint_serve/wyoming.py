"""The Wyoming protocol (Home Assistant, Rhasspy): ``describe``, ``synthesize`` and streamed-text synthesis.

It shares the HTTP server's voice pool and scheduler: every utterance is one scheduler stream, so
Wyoming and HTTP clients take turns on the same workers, chunk by chunk, and their chunks leave as
``audio-chunk`` events as they are made. Text that arrives in pieces (``synthesize-chunk``) is cut
into sentences by core's splitter, and each sentence is spoken as soon as it is complete.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import socket
from collections.abc import Awaitable, Callable
from importlib import metadata
from urllib.parse import urlparse

import ttsint
import uvicorn
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.info import Attribution, Describe, Info, TtsProgram, TtsVoice
from wyoming.server import AsyncEventHandler
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

from .catalog import frontend_language, voice_languages
from .errors import APIError
from .listen import listen
from .metrics import ServeMetrics
from .pool import READY, ServedVoice, VoicePool
from .scheduler import CapacityError, Scheduler
from .schema import check_wyoming_event
from .ssml import PoolDocuments, is_ssml

__all__ = ["SentenceBuffer", "WyomingHandler", "WyomingServer", "parse_wyoming_uri", "run_wyoming",
           "wyoming_info"]

log = logging.getLogger("ttsint.serve.wyoming")

_SPEAKABLE = re.compile(r"\w")
_WIDTH = 2  # bytes per sample: audio leaves as 16-bit PCM


class WyomingError(Exception):
    """A request this server refuses: sent to the client as an ``error`` event, then the connection closes."""

    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code, self.text = code, text


def parse_wyoming_uri(uri: str) -> tuple[str, str, int | None]:
    """``tcp://HOST:PORT`` as ("tcp", host, port) or ``unix://PATH`` as ("unix", path, None).

    Raises ConfigError naming ``--wyoming`` for anything else.
    """
    try:
        parts = urlparse(uri)
        port = parts.port
    except ValueError as exc:
        raise ttsint.ConfigError("--wyoming", f"{uri!r} is not a URI: {exc}",
                                 "give tcp://HOST:PORT, e.g. tcp://127.0.0.1:10200") from exc
    if parts.scheme == "tcp" and parts.hostname and port is not None:
        return "tcp", parts.hostname, port
    if parts.scheme == "unix" and parts.path:
        return "unix", parts.path, None
    raise ttsint.ConfigError("--wyoming", f"{uri!r} names no address to listen on",
                             "give tcp://HOST:PORT (e.g. tcp://127.0.0.1:10200, Home Assistant's usual port) "
                             "or unix:///PATH/TO/SOCKET")


def _version(distribution: str) -> str | None:
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return None


def wyoming_info(pool: VoicePool) -> Info:
    """``info`` for ``describe``: one TTS program whose voices are the pool's ready voices, by name."""
    voices = []
    for entry in pool:
        if entry.status != READY or entry.voice is None:
            continue
        addon = entry.voice.addon
        registry = addon.registry or ttsint.get_registry()
        regs = registry.addons.get(entry.spec.source, [])
        who = regs[0].distribution if len(regs) == 1 and regs[0].distribution else "ttsint"
        url = str(addon.config.get("url") or addon.config.get("homepage") or "")
        description = str(addon.config.get("description") or f"ttsint addon {addon.name}")
        voices.append(TtsVoice(name=entry.name, attribution=Attribution(name=who, url=url), installed=True,
                               description=description, version=addon.version,
                               languages=voice_languages(entry)))
    program = TtsProgram(name="ttsint", attribution=Attribution(name="ttsint", url=""), installed=True,
                         description="ttsint voices, streamed chunk by chunk as they are made",
                         version=_version("ttsint-serve"), voices=voices, supports_synthesize_streaming=True)
    return Info(tts=[program])


class SentenceBuffer:
    """Text that arrives in pieces, handed out a sentence at a time as each one is complete.

    A sentence is complete once text of the next one has begun (core's splitter needs that right
    context to tell "Dr. Smith" from two sentences); ``finish`` hands out what is left.
    """

    def __init__(self, language: str = "en") -> None:
        self.language = language
        self.text = ""

    def add(self, piece: str) -> list[str]:
        """Append ``piece``; return the sentences it completed, in order."""
        self.text += piece
        sentences = list(ttsint.split_sentences(self.text, self.language))
        if len(sentences) < 2:
            return []
        # The sentences rejoin with single spaces to the normalised text, so the last is its tail.
        self.text = sentences[-1] + (" " if self.text[-1:].isspace() else "")
        return sentences[:-1]

    def finish(self) -> str:
        """What is left (possibly an unfinished sentence), and an empty buffer."""
        rest, self.text = " ".join(self.text.split()), ""
        return rest


class WyomingHandler(AsyncEventHandler):
    """One client connection: reads its events and answers them in order on a task of its own.

    Reading goes on while audio is sent, so a client that leaves is noticed at once and its stream
    cancelled (the scheduler closes the generator on a worker, off the event loop).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                 server: WyomingServer) -> None:
        super().__init__(reader, writer)
        self.server = server
        self.jobs: asyncio.Queue[Callable[[], Awaitable[None]]] = asyncio.Queue()
        self.idle = asyncio.Event()
        self.idle.set()
        self._speaker: asyncio.Task[None] | None = None
        self._session: _Session | None = None
        self._refused = False

    async def run(self) -> None:
        try:
            await super().run()
        except (ConnectionError, asyncio.IncompleteReadError, KeyError, TypeError) as exc:
            log.debug("a Wyoming client sent something unreadable or left: %s: %s", type(exc).__name__, exc)

    async def handle_event(self, event: Event) -> bool:
        try:
            self._dispatch(event)
        except WyomingError as exc:
            self._refuse(exc)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            self._refuse(WyomingError("bad-request", f"the {event.type!r} event is malformed "
                                      f"({type(exc).__name__}: {exc}); check its fields"))
        return True

    def _refuse(self, error: WyomingError) -> None:
        """Answer with ``error`` after what is already queued, keeping the answers in order."""
        self._queue(lambda: self._fail(error))

    def _dispatch(self, event: Event) -> None:
        problem = check_wyoming_event(event.type, event.data)
        if problem is not None:
            raise WyomingError("bad-request", f"{problem}; check its fields")
        session = self._session
        if Describe.is_type(event.type):
            self._queue(self._describe)
        elif SynthesizeStart.is_type(event.type):
            started = self._session = _Session(SynthesizeStart.from_event(event).voice)
            self._queue(lambda: self._start_session(started))
        elif SynthesizeChunk.is_type(event.type) and session is not None:
            text = SynthesizeChunk.from_event(event).text
            session.chars += len(text)
            self._check_length(session.chars)
            self._queue(lambda: self._add_text(session, text))
        elif SynthesizeStop.is_type(event.type) and session is not None:
            self._session = None
            self._queue(lambda: self._stop_session(session))
        elif Synthesize.is_type(event.type):
            if session is not None:
                return  # sent with a streaming session for servers without streaming: ours speaks the chunks
            request = Synthesize.from_event(event)
            self._check_length(len(request.text))
            self._queue(lambda: self._synthesize(request.text, request.voice))
        # Other events (audio from a microphone, pings of other programs) are not for a TTS server.

    def _check_length(self, chars: int) -> None:
        if chars > self.server.max_chars:
            raise WyomingError("input-too-long", f"the text has {chars} characters; this server takes at "
                               f"most {self.server.max_chars} (--max-chars)")

    def _queue(self, job: Callable[[], Awaitable[None]]) -> None:
        if self._refused:
            return  # an error was sent and the connection is closing: events still in flight are dropped
        self.idle.clear()
        self.jobs.put_nowait(job)
        if self._speaker is None:
            self._speaker = asyncio.create_task(self._speak_jobs(), name="ttsint wyoming speaker")

    async def _speak_jobs(self) -> None:
        await self.server.wait_loaded()
        while True:
            job = await self.jobs.get()
            try:
                await job()
            except WyomingError as exc:
                await self._fail(exc)
            except ConnectionError:
                return  # the client left mid-answer; run() sees the closed connection and cleans up
            except Exception as exc:  # a bug here must cost one connection, never the server
                log.exception("answering a Wyoming client failed")
                await self._fail(WyomingError("internal", f"the server failed: {type(exc).__name__}: {exc}"))
            finally:
                if self.jobs.empty() or self._refused:
                    self.idle.set()
            if self._refused:
                return

    async def _fail(self, exc: WyomingError) -> None:
        """Send the error, then close: clients wait for ``audio-stop`` and would otherwise hang."""
        log.info("Wyoming client refused (%s): %s", exc.code, exc.text)
        self._refused = True
        while not self.jobs.empty():
            self.jobs.get_nowait()
        try:
            await self.write_event(Error(text=exc.text, code=exc.code).event())
        finally:
            await self.stop()

    async def disconnect(self) -> None:
        """The client left (or the server stops): cancel what it was being sent."""
        speaker, self._speaker = self._speaker, None
        if speaker is not None and speaker is not asyncio.current_task():
            speaker.cancel()
            try:
                await speaker
            except (asyncio.CancelledError, Exception):  # its stream was cancelled in its finally
                pass
        self.idle.set()

    # -- the jobs, run one after another ----------------------------------------------------
    async def _describe(self) -> None:
        await self.write_event(wyoming_info(self.server.pool).event())

    async def _synthesize(self, text: str, wanted: SynthesizeVoice | None) -> None:
        entry = self.server.voice(wanted)
        if not _SPEAKABLE.search(text):
            raise WyomingError("nothing-to-say", f"the text {text[:60]!r} has no letters or digits to speak")
        await self._speak(entry, text)

    async def _start_session(self, session: _Session) -> None:
        session.entry = self.server.voice(session.wanted)
        session.buffer = SentenceBuffer(frontend_language(session.entry))

    async def _add_text(self, session: _Session, text: str) -> None:
        assert session.entry is not None and session.buffer is not None
        for sentence in session.buffer.add(text):
            await self._speak_sentence(session, sentence)

    async def _stop_session(self, session: _Session) -> None:
        if session.entry is not None and session.buffer is not None:
            await self._speak_sentence(session, session.buffer.finish())
        await self.write_event(SynthesizeStopped().event())

    async def _speak_sentence(self, session: _Session, sentence: str) -> None:
        assert session.entry is not None
        if not _SPEAKABLE.search(sentence):
            return  # an emoji or a stray quote between sentences: nothing to say, no error either
        pause = session.entry.voice.segment_settings.pause if session.spoken and session.entry.voice else 0.0
        await self._speak(session.entry, sentence, lead_silence=pause)
        session.spoken += 1

    async def _speak(self, entry: ServedVoice, text: str, lead_silence: float = 0.0) -> None:
        """Send ``audio-start``, the chunks as the scheduler makes them, then ``audio-stop``."""
        assert entry.voice is not None
        try:
            start = ((lambda: self.server.documents.chunks(text, entry.name, entry.sample_rate))
                     if is_ssml(text) else (lambda: entry.stream(text)))  # SSML: docs/ssml.md
            stream = self.server.scheduler.open(start, label=entry.name, frame_rate=entry.sample_rate)
        except CapacityError as exc:
            raise WyomingError("too-many-streams", f"{exc}; try again shortly") from exc
        try:
            first = await stream.next()
            rate = entry.sample_rate
            channels = 1 if first is None else int(first.frames.shape[1])
            await self.write_event(AudioStart(rate=rate, width=_WIDTH, channels=channels).event())
            silence = round(lead_silence * rate)
            if silence:  # the voice's pause between sentences, which one stream per sentence lacks
                await self.write_event(AudioChunk(rate=rate, width=_WIDTH, channels=channels, timestamp=0,
                                                  audio=bytes(silence * _WIDTH * channels)).event())
            chunk = first
            while chunk is not None:
                await self.write_event(AudioChunk(rate=rate, width=_WIDTH, channels=channels,
                                                  audio=ttsint.to_pcm16(chunk.frames),
                                                  timestamp=(1000 * (silence + chunk.start)) // rate).event())
                chunk = await stream.next()
            if stream.cancelled:
                raise WyomingError("server-stopping", "the server is shutting down; the speech was cut short")
            end_ms = (1000 * (silence + stream.samples_made)) // rate
            await self.write_event(AudioStop(timestamp=end_ms).event())
        except ttsint.FrontendError as exc:
            raise WyomingError("bad-input", f"voice {entry.name!r} cannot speak this text: {exc}") from exc
        except WyomingError:
            raise
        except (ConnectionError, asyncio.CancelledError):  # the client left (or the server stops)
            if self.server.metrics is not None:
                self.server.metrics.cancelled.labels(entry.name).inc()
            raise
        except Exception as exc:  # a block's bug: tell this client, keep serving the others
            log.error("voice %r failed after %d chunk(s): %s: %s", entry.name, stream.chunks_made,
                      type(exc).__name__, exc)
            log.debug("traceback of the failure in voice %r", entry.name, exc_info=exc)
            raise WyomingError("synthesis-failed", f"voice {entry.name!r} failed: {type(exc).__name__}: "
                               f"{exc}") from exc
        finally:
            if not stream.finished:
                stream.cancel()


class _Session:
    """A streaming request between ``synthesize-start`` and ``synthesize-stop``."""

    def __init__(self, wanted: SynthesizeVoice | None) -> None:
        self.wanted = wanted
        self.entry: ServedVoice | None = None
        self.buffer: SentenceBuffer | None = None
        self.chars = 0
        self.spoken = 0


class WyomingServer:
    """Listens at a ``tcp://`` or ``unix://`` URI and serves the pool's voices to Wyoming clients."""

    def __init__(self, uri: str, pool: VoicePool, scheduler: Scheduler, *, max_chars: int = 50_000,
                 metrics: ServeMetrics | None = None) -> None:
        """``metrics``: the HTTP app's, when it runs beside, so /metrics counts Wyoming cancellations too."""
        self.uri = uri
        self.metrics = metrics
        self.address = parse_wyoming_uri(uri)
        self.pool, self.scheduler, self.max_chars = pool, scheduler, max_chars
        self.documents = PoolDocuments(pool)
        self.handlers: set[WyomingHandler] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._server: asyncio.AbstractServer | None = None
        self._sock = None
        if self.address[0] == "tcp":
            self._sock = listen(self.address[1], int(self.address[2] or 0), "--wyoming port")

    @property
    def port(self) -> int | None:
        """The TCP port listened on (the real one when the URI asked for port 0)."""
        return None if self._sock is None else int(self._sock.getsockname()[1])

    def voice(self, wanted: SynthesizeVoice | None) -> ServedVoice:
        """The voice a request names, else the first ready voice in its language, else the first ready one."""
        ready = [e for e in self.pool if e.status == READY]
        name = getattr(wanted, "name", None)
        if name:
            try:
                entry = self.pool.find(name)  # a mix named here is made on first use, or refused
            except APIError as exc:
                raise WyomingError("voice-not-found", str(exc)) from None
            if entry is None:
                raise WyomingError("voice-not-found", f"no voice {name!r}; this server has: "
                                   f"{', '.join(e.name for e in ready) or 'none'} (see describe)")
            if entry.status != READY:
                raise WyomingError("voice-not-ready", f"voice {entry.name!r} failed to load: "
                                   f"{entry.error or 'unknown error'}")
            return entry
        language = getattr(wanted, "language", None)
        if language:
            wanted_lang = language.replace("-", "_").lower()
            for entry in ready:
                for lang in voice_languages(entry):
                    lang = lang.replace("-", "_").lower()
                    if lang == wanted_lang or lang.split("_")[0] == wanted_lang.split("_")[0]:
                        return entry
            raise WyomingError("voice-not-found", f"no voice speaks {language!r}; this server has: "
                               f"{', '.join(f'{e.name} ({voice_languages(e)[0]})' for e in ready) or 'none'}")
        if not ready:
            raise WyomingError("no-voices", "no voice could be loaded; see the server's log")
        return ready[0]

    async def wait_loaded(self) -> None:
        """Until every voice has been tried, so ``describe`` lists them all."""
        if not self.pool.loaded.is_set():
            await asyncio.to_thread(self.pool.loaded.wait)

    def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        handler = WyomingHandler(reader, writer, self)
        self.handlers.add(handler)
        task = asyncio.create_task(handler.run(), name="ttsint wyoming connection")
        self._tasks.add(task)

        def done(t: asyncio.Task[None]) -> None:
            self._tasks.discard(t)
            self.handlers.discard(handler)

        task.add_done_callback(done)

    async def start(self) -> None:
        """Start accepting clients (the TCP socket was bound when this object was made)."""
        if self._sock is not None:
            self._server = await asyncio.start_server(self._connected, sock=self._sock)
        else:
            path = self.address[1]
            if os.path.exists(path):
                os.unlink(path)
            try:
                self._server = await asyncio.start_unix_server(self._connected, path=path)
            except OSError as exc:
                raise ttsint.TTSIntError(f"cannot listen on {self.uri}: {exc.strerror or exc}; give "
                                         "--wyoming a socket path in a directory you can write") from exc
        log.info("Wyoming server on %s", self.uri)

    async def stop(self, timeout: float = 30.0) -> None:
        """Stop accepting, give running syntheses ``timeout`` seconds to finish, then close connections."""
        if self._server is not None:
            self._server.close()
        busy = [asyncio.ensure_future(h.idle.wait()) for h in self.handlers if not h.idle.is_set()]
        if busy:
            _, pending = await asyncio.wait(busy, timeout=timeout)
            for waiter in pending:
                waiter.cancel()
        await asyncio.gather(*(h.stop() for h in list(self.handlers)), return_exceptions=True)
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=timeout)
        if self.address[0] == "unix" and os.path.exists(self.address[1]):
            os.unlink(self.address[1])


class _HttpBeside(uvicorn.Server):
    """uvicorn's server, stopping the Wyoming side first at shutdown (while the scheduler still runs)."""

    def __init__(self, config: uvicorn.Config, wyoming: WyomingServer) -> None:
        super().__init__(config)
        self.wyoming = wyoming

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await self.wyoming.stop(self.config.timeout_graceful_shutdown or 0)
        await super().shutdown(sockets=sockets)


def run_wyoming(wyoming: WyomingServer, http: uvicorn.Config | None, sockets: list[socket.socket],
                shutdown_timeout: float) -> None:
    """Serve Wyoming, beside the HTTP server when ``http`` is given, until SIGINT or SIGTERM.

    With HTTP, uvicorn handles the signals and the app's lifespan starts and stops the pool and the
    scheduler; alone, this does.
    """
    if http is not None:
        server = _HttpBeside(http, wyoming)

        async def both() -> None:
            await wyoming.start()
            try:
                await server.serve(sockets=sockets)
            finally:
                await wyoming.stop(0)  # at once: after a clean shutdown there is nothing left to stop

        asyncio.run(both())
    else:
        asyncio.run(_alone(wyoming, shutdown_timeout))


async def _alone(wyoming: WyomingServer, shutdown_timeout: float) -> None:
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stopping.set)
    wyoming.pool.start()
    wyoming.scheduler.start()
    await wyoming.start()
    try:
        await stopping.wait()
        log.info("stopping: running syntheses get %ss to finish (--shutdown-timeout)", shutdown_timeout)
    finally:
        await wyoming.stop(shutdown_timeout)
        await asyncio.to_thread(wyoming.scheduler.close)
        wyoming.pool.close()

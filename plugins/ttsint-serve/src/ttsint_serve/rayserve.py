"""Ray Serve: each voice a deployment of its own, behind an ingress that serves `ttsint serve`'s HTTP API.

One deployment per voice, rather than one deployment multiplexing voices with ``serve.multiplexed``:
voices differ in cost, traffic and hardware, so each gets its own replica count, autoscaling and
``ray_actor_options`` (a GPU or Neuron node for one, CPUs for another); a voice stays loaded instead
of being evicted and reloaded (seconds before a first chunk); and a voice that fails to load fails
alone. Multiplexing suits many rarely used models of one shape sharing replicas, which a few warm
voices are not.

The ingress mounts the same Starlette app as ``ttsint serve`` (``create_app``), with its voice pool
and scheduler replaced by ``RemotePool`` and ``RemoteScheduler``: a request becomes a streaming
handle call to the voice's deployment, and each chunk is forwarded as it arrives; a client that goes
away cancels the replica's stream. Ray Serve's streaming handles have no back-pressure (and the
ingress's ASGI ``send`` never blocks), so the flow control is the replica's: its scheduler makes each
stream at most ``REPLICA_LEAD`` seconds of audio beyond real time. What a client slower than real time
has not read waits in Ray Serve's HTTP proxy, at most the utterance (``max_chars`` bounds it).
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import threading
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import numpy as np
import torch
import ttsint
from ray import serve
from ray.exceptions import RayTaskError
from ray.serve.exceptions import RequestCancelledError
from ray.serve.handle import DeploymentHandle, DeploymentResponseGenerator

from .app import create_app, ready_line, timed_segments
from .pool import READY, SKIPPED, PaceUnsupported, ServedVoice, VoicePool
from .scheduler import CapacityError, Scheduler, StreamRecord
from .schema import RayAppArgs, RayVoiceOptions
from .specs import VoiceSpec, parse_voice_spec

__all__ = ["VoiceReplica", "Ingress", "RemotePool", "RemoteScheduler", "RemoteStream", "ReplicaCall",
           "build_app", "run"]

log = logging.getLogger("ttsint.serve")

APP_NAME = "ttsint"
INGRESS_NAME = "ttsint-ingress"
VOICE_OPTIONS = RayVoiceOptions.__struct_fields__
"""Keys of a voice entry passed to ``serve.deployment`` as they are (Ray Serve's own meaning)."""
PROXY_READY_TIMEOUT = 60.0
"""Seconds Ray Serve's HTTP proxy gets to report ready, when `ttsint serve --ray` starts Ray itself."""


def deployment_name(label: str) -> str:
    """The deployment of the voice called ``label``: ``voice-`` and the label in safe characters."""
    return "voice-" + re.sub(r"[^A-Za-z0-9_.-]+", "_", label).strip("_")


REPLICA_LEAD = 5.0
"""Seconds of audio a voice replica makes beyond real time per stream (``Scheduler(lead=...)``): Ray Serve's
streaming handles have no flow control, so this bounds what the ingress holds for a client that reads no
faster than it listens."""
PRESSURE_TARGET = 0.6
"""The share of a replica's synthesis worker its open streams may need, by measured cost, before the
voice's deployment scales out (``realtime_pressure_policy``)."""
PRESSURE_POLICY = "ttsint_serve.rayserve:realtime_pressure_policy"


def realtime_pressure_policy(ctx: Any) -> tuple[float, dict[str, Any]]:
    """Ray Serve autoscaling policy for a voice deployment: replicas from the real-time pressure its replicas
    report (``VoiceReplica.record_autoscaling_stats``), the same signal their schedulers admit by.

    Desired replicas = the worker share the open streams need, summed over replicas, ÷ ``PRESSURE_TARGET``;
    at least one more than now while replicas are refusing streams. Ray Serve applies the
    ``autoscaling_config``'s min/max replicas, factors and delays around it. Before any replica has
    reported, Ray Serve's own queue-length policy decides.
    """
    from ray.serve.autoscaling_policy import replica_queue_length_autoscaling_policy

    metrics = ctx.aggregated_metrics or {}
    loads = metrics.get("realtime_load") or {}
    if not loads:
        return replica_queue_length_autoscaling_policy(ctx)
    desired = sum(loads.values()) / PRESSURE_TARGET
    if sum((metrics.get("refused") or {}).values()) > 0:
        desired = max(desired, ctx.current_num_replicas + 1)
    return desired, {}


class VoiceReplica:
    """One voice, loaded once per replica; ``speak`` streams its chunks as the replica's scheduler makes them.

    A voice that fails to load keeps the replica up and says why in ``describe``, as ``ttsint serve``
    keeps a failed voice in its pool.
    """

    def __init__(self, addon: str, *, audio_only: bool = False, max_streams: int = 16,
                 torch_threads: int = 1) -> None:
        torch.set_num_threads(torch_threads)  # a replica's share of the node, not every core
        self.pool = VoicePool([parse_voice_spec(addon)])
        self.entry = self.pool.entries[0]
        self.entry.audio_only = audio_only
        self.pool.load()
        self.scheduler = Scheduler(workers=1, max_streams=max_streams, on_chunk=self._made, lead=REPLICA_LEAD)
        self._refused_reported = 0
        self.chunks_made = 0
        self.cancelled = 0

    def _made(self, stream: Any, chunk: ttsint.Chunk) -> None:
        self.chunks_made += 1

    def describe(self) -> dict[str, Any]:
        """What ``/v1/voices`` shows for this voice, as ``ServedVoice.describe``."""
        return self.entry.describe()

    async def speak(self, text: str, speed: float = 1.0, plan: bool = False,
                    budget: float | None = None) -> AsyncIterator[dict[str, Any]]:
        """Each chunk as soon as it is made: ``start`` frame, ``frames`` ([samples, 1] float32) and the
        ``segments`` finished since the last, their words timed from the durations (``app.timed_segments``);
        a last item with ``frames`` None carries the segments that end the stream. With ``plan``, the
        first item's ``length`` is the stream's length (``SpeechStream.plan_length`` within ``budget``
        seconds; None when not learnt), for a WAV header with exact sizes."""
        made: dict[str, Any] = {}

        def start() -> Any:
            made["speech"] = speech = self.entry.stream(text, speed)
            if plan and isinstance(speech, ttsint.SpeechStream) and self.entry.voice is not None:
                made["length"] = speech.plan_length(self.entry.voice.addon.hop_length, budget=budget)
            return speech

        stream = self.scheduler.open(start, label=self.entry.name, frame_rate=self.entry.sample_rate)
        sent = 0
        try:
            async for chunk in stream:
                segments = self._timed(made.get("speech"), sent, chunk.start)
                sent += len(segments)
                yield {"start": chunk.start, "frames": ttsint.to_numpy(chunk.frames),
                       "segments": segments, "length": made.pop("length", None)}
            yield {"start": None, "frames": None, "segments": self._timed(made.get("speech"), sent, None),
                   "length": None}
        finally:
            if not stream.finished:  # the caller stopped early: its client went away
                self.cancelled += 1
                stream.cancel()

    def _timed(self, speech: Any, sent: int, made: int | None) -> list[dict[str, Any]]:
        if not isinstance(speech, ttsint.SpeechStream) or self.entry.voice is None:
            return []
        return timed_segments(speech, self.entry.voice, sent, made)

    def stats(self) -> dict[str, int]:
        """Counters of this replica: chunks made, streams cancelled by their caller, streams running."""
        return {"chunks_made": self.chunks_made, "cancelled": self.cancelled, "active": self.scheduler.active}

    def record_autoscaling_stats(self) -> dict[str, float]:
        """Ray Serve's custom autoscaling metrics (``realtime_pressure_policy``): the share of this replica's
        worker its open streams need to stay real-time, and the streams it refused since the last report."""
        refused = self.scheduler.refused + self.scheduler.refused_late
        new, self._refused_reported = refused - self._refused_reported, refused
        return {"realtime_load": self.scheduler.load, "refused": float(new)}

    def __del__(self) -> None:
        scheduler = getattr(self, "scheduler", None)
        if scheduler is not None:
            scheduler.close()
        self.pool.close()


class RemoteVoice(ServedVoice):
    """A voice served by a deployment, seen from the ingress: its description (fetched once) and handle."""

    def __init__(self, spec: VoiceSpec, handle: DeploymentHandle) -> None:
        super().__init__(spec)
        self.handle = handle
        self.info: dict[str, Any] = {}
        self.skipped = False

    @property
    def sample_rate(self) -> int:
        return int(self.info["sample_rate"])

    @property
    def supports_pace(self) -> bool:
        return bool(self.info.get("speed"))

    def load(self, registry: ttsint.Registry | None) -> None:
        """Wait for the deployment's replica to load the voice; raise its error if it failed."""
        info = self.handle.describe.remote().result()
        self.name = info["name"]
        if info["status"] != READY:
            self.skipped = info["status"] == SKIPPED
            raise ttsint.TTSIntError(info.get("error") or f"voice {self.name!r} is {info['status']}")
        self.info = info

    def paced(self, speed: float) -> RemoteSpeech:  # type: ignore[override]
        if speed != 1.0 and not self.supports_pace:
            raise PaceUnsupported(f"voice {self.name!r} speaks at one speed only; send speed 1.0")
        return RemoteSpeech(self.handle, speed)

    def stream(self, text: str, speed: float = 1.0) -> ReplicaCall:  # type: ignore[override]
        """A streaming handle call: the voice's replica makes the chunks on its own scheduler."""
        return self.paced(speed).stream(text)

    def describe(self) -> dict[str, Any]:
        if self.info:
            return dict(self.info)
        info: dict[str, Any] = {"name": self.name, "status": self.status, "addon": self.spec.source,
                                "overrides": self.spec.overrides}
        if self.error:
            info["error"] = self.error
        return info

    def close(self) -> None:
        pass


class RemoteSpeech:
    """A voice at one speed on its deployment: ``stream(text)`` makes its streaming handle call."""

    def __init__(self, handle: DeploymentHandle, speed: float) -> None:
        self.handle, self.speed = handle, speed

    def stream(self, text: str) -> ReplicaCall:
        return ReplicaCall(self.handle, text, self.speed)


class ReplicaCall:
    """A ``speak`` call to a voice replica, made when its first chunk is asked for; ``__anext__`` gives each
    chunk's start and frames, and keeps what came with them: the words of finished segments
    (``timed_segments``, read by ``app.Speech``) and the planned length (``planned_length``).
    """

    def __init__(self, handle: DeploymentHandle, text: str, speed: float) -> None:
        self.handle, self.text, self.speed = handle, text, speed
        self.plan, self.budget = False, None
        self.response: DeploymentResponseGenerator | None = None
        self.cancelled = False
        self.timed_segments: list[dict[str, Any]] = []
        self.planned_length: int | None = None

    def plan_length_remotely(self, budget: float | None) -> None:
        """Before the call: the replica plans the stream's length (within ``budget`` seconds) first."""
        self.plan, self.budget = True, budget

    def __aiter__(self) -> ReplicaCall:
        return self

    async def __anext__(self) -> tuple[int, np.ndarray]:
        if self.cancelled:
            raise StopAsyncIteration
        if self.response is None:
            self.response = self.handle.options(stream=True).speak.remote(self.text, self.speed, self.plan,
                                                                          self.budget)
        while True:
            item = await self.response.__anext__()
            self.timed_segments += item["segments"]
            if item["length"] is not None:
                self.planned_length = item["length"]
            if item["frames"] is not None:
                return item["start"], item["frames"]

    def cancel(self) -> None:
        self.cancelled = True
        if self.response is not None:
            self.response.cancel()


class RemotePool(VoicePool):
    """The ingress's voice pool: a ``RemoteVoice`` per voice deployment, described on a background thread."""

    def __init__(self, voices: Sequence[tuple[VoiceSpec, DeploymentHandle]]) -> None:
        super().__init__([spec for spec, _ in voices])
        self.entries = [RemoteVoice(spec, handle) for spec, handle in voices]

    def _fail(self, entry: ServedVoice, message: str, *, skip: bool = False) -> None:
        super()._fail(entry, message, skip=skip or getattr(entry, "skipped", False))


class RemoteStream(StreamRecord):
    """One utterance made on a voice replica, read chunk by chunk from its streaming handle call.

    It offers what the app uses of a ``SynthesisStream``: ``next``, ``cancel`` and done callbacks.
    """

    def __init__(self, scheduler: RemoteScheduler, response: ReplicaCall, label: str) -> None:
        super().__init__(label)
        self._scheduler = scheduler
        self._response = response
        self._owner = asyncio.current_task()

    @property
    def finished(self) -> bool:
        return self.finished_at is not None

    def add_done_callback(self, callback: Callable[[RemoteStream], None]) -> None:
        if self.finished:
            callback(self)
        else:
            self._on_finish.append(callback)

    async def next(self) -> ttsint.Chunk | None:
        """The next chunk, or None after the last; raises what the voice's stack raised."""
        if self.finished:
            if self.error is not None:
                raise self.error
            return None
        try:
            start, frames = await self._response.__anext__()
        except StopAsyncIteration:
            self._finish()
            return None
        except RequestCancelledError as exc:  # the client went away and Ray cancelled this call first
            self.cancel()
            raise asyncio.CancelledError from exc
        except RayTaskError as exc:
            cause = exc.cause if isinstance(exc.cause, BaseException) else exc
            self._finish(cause)
            raise cause from None
        except Exception as exc:
            self._finish(exc)
            raise
        chunk = ttsint.Chunk(torch.from_numpy(np.array(frames)), int(start))
        now = time.perf_counter()
        self.first_chunk_at = self.first_chunk_at or now
        self.chunks_made += 1
        self.samples_made += len(chunk)
        if self._scheduler.on_chunk is not None:
            self._scheduler.on_chunk(self, chunk)
        return chunk

    def cancel(self) -> None:
        """Cancel the handle call: Ray cancels the replica's ``speak``, which stops making chunks."""
        if not self.finished:
            self.cancelled = True
            self._response.cancel()
            self._finish()
            # The request's own task gives its stream up only when its client has gone: Ray Serve
            # cancels that task (or this call, or fails a send) instead of the app seeing an
            # http.disconnect, which the app counts itself, from another task.
            if asyncio.current_task() is self._owner and self._scheduler.on_cancel is not None:
                self._scheduler.on_cancel(self)

    def _finish(self, error: BaseException | None = None) -> None:
        self.error = error
        self.finished_at = time.perf_counter()
        self._scheduler._active.discard(self)
        callbacks, self._on_finish = self._on_finish, []
        for callback in callbacks:
            try:
                callback(self)
            except Exception:
                log.exception("a done-callback of stream %s failed", self.label)


class RemoteScheduler:
    """The ingress's scheduler: admits up to ``max_streams`` streams; the voice replicas make them."""

    def __init__(self, max_streams: int = 64) -> None:
        self.max_streams = max_streams
        self.on_chunk: Callable[[RemoteStream, ttsint.Chunk], None] | None = None
        self.on_cancel: Callable[[RemoteStream], None] | None = None
        self._active: set[RemoteStream] = set()

    @property
    def active(self) -> int:
        return len(self._active)

    def start(self) -> None:
        pass

    def open(self, start: Callable[[], ReplicaCall], label: str = "", *,
             frame_rate: float | None = None) -> RemoteStream:
        """Start the handle call ``start()`` makes; CapacityError when ``max_streams`` streams are open.

        ``frame_rate`` is accepted as ``Scheduler.open`` takes it; the voice replica's own scheduler
        orders and admits the work by deadline."""
        if len(self._active) >= self.max_streams:
            raise CapacityError(self.max_streams)
        stream = RemoteStream(self, start(), label)
        self._active.add(stream)
        return stream

    def close(self, timeout: float | None = 5.0) -> None:
        for stream in list(self._active):
            stream.cancel()


@serve.ingress()
class Ingress:
    """The HTTP front door: ``ttsint serve``'s app, its voices on the deployments it was bound to."""

    def __init__(self, voices: Sequence[tuple[str, DeploymentHandle]], max_streams: int = 64,
                 max_chars: int = 50_000, voice_aliases: dict[str, str] | None = None) -> None:
        self.voices = [(parse_voice_spec(text), handle) for text, handle in voices]
        self.max_streams, self.max_chars = max_streams, max_chars
        self.voice_aliases = dict(voice_aliases or {})

    def __serve_build_asgi_app__(self) -> Any:
        pool, scheduler = RemotePool(self.voices), RemoteScheduler(self.max_streams)
        app = create_app(pool, scheduler, max_chars=self.max_chars, voice_aliases=self.voice_aliases)
        scheduler.on_cancel = lambda stream: app.state.metrics.cancelled.labels(stream.label).inc()
        return app


def build_app(args: dict[str, Any]) -> serve.Application:
    """The application ``serve run`` deploys (``import_path: ttsint_serve.rayserve:build_app``).

    ``args``: ``voices``, a list of ``{"addon": "NAME|PATH[:KEY=VALUE,...]", ...}`` (the ``--addon``
    syntax, plus Ray Serve's ``num_replicas``, ``autoscaling_config``, ``ray_actor_options``,
    ``max_ongoing_requests``, ``max_queued_requests``); with no voices, every installed addon that
    makes audio. Also ``voice_defaults`` (those Ray Serve keys, for every voice), ``max_streams``
    (streams open at once in the ingress), ``max_chars``, ``voice_streams`` (streams one voice
    replica interleaves), ``torch_threads`` (per voice replica), ``ingress`` (its deployment options)
    and ``voice_aliases`` (``{NAME: VOICE}`` as ``--voice-alias``; OpenAI's names default as locally).
    """
    checked = ttsint.validate(args, RayAppArgs, "args")  # keys, types and bounds (schema.py)
    voices = args.get("voices") or [{"addon": e.spec.source} for e in VoicePool().entries]
    audio_only = not args.get("voices")
    defaults = args.get("voice_defaults") or {}
    voice_streams, torch_threads = checked.voice_streams, checked.torch_threads
    bound: list[tuple[str, serve.Application]] = []
    names: dict[str, int] = {}
    for i, entry in enumerate(voices):
        path = f"args.voices[{i}]"
        if isinstance(entry, str):
            entry = {"addon": entry}
        entry = {**defaults, **entry}
        spec = parse_voice_spec(entry["addon"])
        name = deployment_name(spec.label)
        if name in names:
            raise ttsint.ConfigError(f"{path}.addon", f"voice {spec.label!r} is also "
                                     f"args.voices[{names[name]}]", "give each voice its own name=")
        names[name] = i
        options = {key: entry[key] for key in VOICE_OPTIONS if key in entry}
        options.setdefault("max_ongoing_requests", voice_streams)
        if isinstance(options.get("autoscaling_config"), dict):  # scaled on real-time pressure unless told
            options["autoscaling_config"] = {"policy": {"policy_function": PRESSURE_POLICY},
                                             **options["autoscaling_config"]}
        deployment = serve.deployment(VoiceReplica).options(name=name, **options)
        replica = deployment.bind(entry["addon"], audio_only=audio_only, max_streams=voice_streams,
                                  torch_threads=torch_threads)
        bound.append((entry["addon"], replica))
    max_streams = checked.max_streams
    ingress_options = {"num_replicas": 1, "max_ongoing_requests": max_streams + 16,
                       "ray_actor_options": {"num_cpus": 0}, **(args.get("ingress") or {})}
    aliases = checked.voice_aliases or {}
    ingress = serve.deployment(Ingress).options(name=INGRESS_NAME, **ingress_options)
    return ingress.bind(bound, max_streams=max_streams, max_chars=checked.max_chars,
                        voice_aliases=aliases)


def _ready_voices() -> list[tuple[str, int]]:
    """The name and rate of each voice whose replica loaded it, asked of the voice deployments."""
    out = []
    for name in sorted(serve.status().applications[APP_NAME].deployments):
        if name.startswith("voice-"):
            info = serve.get_deployment_handle(name, app_name=APP_NAME).describe.remote().result()
            if info.get("status") == READY:
                out.append((info["name"], int(info["sample_rate"])))
    return out


def run(specs: Sequence[VoiceSpec], *, host: str, port: int, max_streams: int, max_chars: int,
        address: str | None = None, replicas: int = 1, voice_cpus: float = 1.0,
        voice_aliases: dict[str, str] | None = None) -> None:
    """``ttsint serve --ray``: deploy the voices on Ray Serve and serve HTTP on ``host:port`` until stopped.

    ``address`` names an existing cluster ("auto" finds a local one); without it Ray starts on this machine.
    """
    import ray

    defaults = {"num_replicas": replicas, "ray_actor_options": {"num_cpus": voice_cpus}}
    app = build_app({"voices": [s.text or s.source for s in specs], "voice_defaults": defaults,
                     "max_streams": max_streams, "max_chars": max_chars,
                     "voice_aliases": voice_aliases or {}})
    if not address:
        # Ray Serve gives its HTTP proxy 5 s to report ready, three times, then kills it and
        # serve.start fails; on a busy small machine the proxy's start-up takes longer than that. The
        # Ray started here inherits this environment (a cluster joined keeps its own settings).
        os.environ.setdefault("RAY_SERVE_PROXY_READY_CHECK_TIMEOUT_S", str(PROXY_READY_TIMEOUT))
    ray.init(address=address or "local", include_dashboard=False)
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):  # after ray.init, whose own SIGTERM handler aborts
        signal.signal(sig, lambda *_: stop.set())
    try:
        serve.start(http_options={"host": host, "port": port})
        serve.run(app, name=APP_NAME, route_prefix="/")
        url = f"http://{f'[{host}]' if ':' in host else host}:{port}"
        log.info("%s (on Ray Serve; Ctrl-C stops it)", ready_line(url, _ready_voices()))
        stop.wait()
    finally:
        if address:  # a cluster this command joined keeps running, with its other applications
            serve.delete(APP_NAME)
        else:
            serve.shutdown()
        ray.shutdown()

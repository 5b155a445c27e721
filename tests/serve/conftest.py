"""Real `ttsint serve` processes on 127.0.0.1 at free ports, and helpers to read their metrics and audio."""

from __future__ import annotations

import contextlib
import io
import itertools
import os
import shutil
import signal
import socket
import subprocess
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from commands import ttsint_command
from prometheus_client.parser import text_string_to_metric_families

# The demo voice with a cheap Griffin-Lim: audio out, little CPU (CI has two cores for everything).
DEMO = "demo:stack.1.type=GriffinLim,stack.1.n_iter=2"
LONG_TEXT = "This is a long text for the stream, and it goes on. " * 40
"""About 2,000 characters: some 8 MB of audio from the demo voice, twice what the kernel buffers
between a server and a client that stops reading, so such a stream cannot finish unread."""
START_TIMEOUT = 600.0


def demo(name: str, extra: str = "") -> str:
    """An --addon spec for the demo voice under another name."""
    return f"{DEMO},name={name}" + (f",{extra}" if extra else "")


def turn_into_file(path: Path, timeout: float = 60.0) -> None:
    """Replace the directory ``path`` by a regular file, though a server's Tap may make it again meanwhile
    (it does at every sentence): remove it and create the file exclusively until the file wins."""
    deadline = time.monotonic() + timeout
    while True:
        shutil.rmtree(path, ignore_errors=True)
        try:
            with open(path, "x", encoding="utf-8") as file:
                file.write("not a directory")
            return
        except FileExistsError:  # made again between the two calls
            assert time.monotonic() < deadline, f"{path} kept coming back as a directory"


def turn_back_into_directory(path: Path) -> None:
    """Undo ``turn_into_file``, whatever the path is now."""
    if not path.is_dir():
        path.unlink(missing_ok=True)
        path.mkdir(exist_ok=True)


def free_ports(count: int) -> list[int]:
    """``count`` different ports that are free now; another process may still take one before it is bound,
    so a server started on them is started again when it reports a port in use (see ``port_taken``)."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(count)]
        for sock in socks:  # all bound at once, so the kernel cannot hand out the same port twice
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def free_port() -> int:
    return free_ports(1)[0]


def port_taken(output: str) -> bool:
    """Whether a `ttsint serve` that exited said that a port it was given is in use, or (with --ray) that
    Ray's node did not register within the 30 s Ray allows it (ray/_private/node.py; a machine this loaded
    starts the next attempt in time)."""
    return "cannot listen on 127.0.0.1:" in output or "The current node timed out during startup" in output


PORT_ATTEMPTS = 3


@dataclass
class Server:
    """A running `ttsint serve` process, its base URL, its log file and its Wyoming port if it has one."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path
    wyoming_port: int | None = None

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(base_url=self.url, timeout=120, **kwargs)  # type: ignore[arg-type]

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=60)

    def speech(self, **body: object) -> httpx.Response:
        """POST /v1/audio/speech; WAV unless the body names another format (OpenAI's default is mp3)."""
        return httpx.post(self.url + "/v1/audio/speech", json={"response_format": "wav", **body}, timeout=300)

    def metrics(self) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
        """Every sample of /metrics, keyed by (name, sorted labels)."""
        text = self.get("/metrics").text
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(text) for s in family.samples}

    def metric(self, name: str, **labels: str) -> float:
        return self.metrics().get((name, tuple(sorted(labels.items()))), 0.0)

    def wait_for(self, predicate: object, what: str, timeout: float = 120.0) -> None:
        """Poll until ``predicate()`` holds (an event, not a duration under test); fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while not predicate():  # type: ignore[operator]
            assert self.process.poll() is None, f"the server exited waiting for {what}:\n{self.output()}"
            assert time.monotonic() < deadline, f"gave up waiting for {what}"
            time.sleep(0.1)

    def rss_bytes(self) -> int:
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
        raise AssertionError("no VmRSS")

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 60.0) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return int(self.process.returncode)


def start_server(log_dir: Path, *args: str, ready: bool = True, wyoming: bool = False) -> Server:
    """Start `ttsint serve ARGS` on a free port and wait until /readyz answers (200, or 503 once loaded).

    ``wyoming``: serve Wyoming too, on another free port. A port taken by another process between
    choosing and binding it (the server then exits saying so) is chosen again.
    """
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for attempt in itertools.count(1):
        port, wyoming_port = free_ports(2)
        log = log_dir / f"serve-{port}.log"
        command = [*ttsint_command(), "serve", "--host", "127.0.0.1", "--port", str(port), *args]
        if wyoming:
            command += ["--wyoming", f"tcp://127.0.0.1:{wyoming_port}"]
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
        server = Server(process, f"http://127.0.0.1:{port}", log, wyoming_port if wyoming else None)

        def answered(server: Server = server) -> bool:
            try:
                body = server.get("/readyz").json()
            except (httpx.HTTPError, ValueError):  # not up yet (Ray Serve's proxy answers 404 in plain text)
                return False
            return bool(body["ready"]) or (not ready and not body["loading"])

        try:
            server.wait_for(answered, "the server to load its voices", START_TIMEOUT)
        except AssertionError:
            server.stop()
            if server.process.returncode == 1 and port_taken(server.output()) and attempt < PORT_ATTEMPTS:
                continue
            raise
        except BaseException:
            server.stop()
            raise
        return server


def read_wav(data: bytes) -> tuple[wave._wave_params, bytes]:
    """Parse a streamed WAV (sizes unknown) with the standard library; return its params and samples."""
    with wave.open(io.BytesIO(data), "rb") as src:
        params = src.getparams()
        frames = src.readframes(len(data))
    return params, frames


def assert_valid_wav(data: bytes, sample_rate: int = 16000) -> int:
    """A streamed 16-bit mono WAV with some audio in it; returns the sample count."""
    assert data[:4] == b"RIFF" and data[8:12] == b"WAVE", data[:16]
    params, frames = read_wav(data)
    assert (params.nchannels, params.sampwidth, params.framerate) == (1, 2, sample_rate)
    assert len(frames) == len(data) - 44 and len(frames) % 2 == 0 and len(frames) > 0
    return len(frames) // 2


@pytest.fixture(scope="session")
def broken_addon(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An addon directory whose config has no stack: the core reports it with the config path."""
    directory = tmp_path_factory.mktemp("broken-addon")
    (directory / "addon.toml").write_text(
        'name = "broken"\nversion = "0.1.0"\nsample_rate = 16000\nn_mels = 80\nhop_length = 256\n'
        '[frontend]\ntype = "characters"\nsymbols = "abc "\n', encoding="utf-8")
    return directory


@pytest.fixture(scope="session")
def tap_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the demo-tap voice writes each mel chunk (a test blocks one file to fail a stream midway)."""
    return tmp_path_factory.mktemp("tap")


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, broken_addon: Path, tap_dir: Path) -> Iterator[Server]:
    """Two demo voices, a demo voice that writes its chunks (Tap), and a broken addon; 4 streams at most."""
    tap = (f"stack.1.type=Tap,stack.1.directory={tap_dir},stack.1.concat=false,"
           "stack.2.type=GriffinLim,stack.2.n_iter=2")
    srv = start_server(
        tmp_path_factory.mktemp("logs"),
        "--addon", demo("demo-a"),
        "--addon", demo("demo-b", "stack.0.streamable_block.stack.0.pace=0.8"),
        "--addon", f"demo:name=demo-tap,{tap}",
        "--addon", str(broken_addon),
        "--max-streams", "4", "--max-chars", "3000", "--workers", "2",
    )
    yield srv
    srv.stop()


def chromium_path() -> str | None:
    """Debian's chromium binary (the /usr/bin/chromium wrapper is a shell script Playwright cannot drive)."""
    for candidate in ("/usr/lib/chromium/chromium", shutil.which("chromium") or ""):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


@pytest.fixture(scope="session")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """`ttsint serve` with no --addon: every installed addon that makes audio (en-rms; demo makes mel)."""
    srv = start_server(tmp_path_factory.mktemp("default-logs"), "--workers", "2")
    yield srv
    srv.stop()


PIPER, KOKORO = "en_US-joe-medium", "kokoro-af_heart"
"""The Piper (22.05 kHz) and Kokoro (24 kHz) voices served beside en-rms (16 kHz) when installed."""


@pytest.fixture(scope="session")
def every_voice_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """en-rms, the demo voice (cheap, for long streams), and Piper's and Kokoro's voices when their
    addons are installed; HTTP and Wyoming; OpenAI's "nova" aliased to the demo voice."""
    import ttsint

    extra: list[str] = []
    for name in (PIPER, KOKORO):
        if name in ttsint.get_registry().addons:
            extra += ["--addon", name]
    srv = start_server(tmp_path_factory.mktemp("every-voice-logs"), "--addon", "en-rms",
                       "--addon", f"{DEMO},name=demo-a", *extra, "--voice-alias", "nova=demo-a",
                       "--workers", "2", ready=False, wyoming=True)
    yield srv
    srv.stop()


def voice_or_skip(server: Server, name: str) -> None:
    """Skip, saying why, when ``name`` is not installed or did not load on ``server``."""
    status = server.get("/readyz").json()
    if name not in status["voices"]:
        pytest.skip(f"addon {name!r} is not installed (its plugin installs it: see the README's voice table)")
    if status["voices"][name] != "ready":
        pytest.skip(f"addon {name!r} is installed but did not load: {status['failed'].get(name, '')[:300]}")

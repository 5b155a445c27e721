"""`ttsint serve` as a command: bad options exit 1 with one paragraph, and SIGTERM drains running streams."""

from __future__ import annotations

import signal
import socket
import subprocess

import httpx
import pytest

from .conftest import DEMO, LONG_TEXT, assert_valid_wav, start_server, ttsint_command


def serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*ttsint_command(), "serve", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--addon", ":name=x"], "--addon: ':name=x' names no addon"),
        (["--addon", "demo:name=same", "--addon", "demo:name=same"], "voice name 'same' is given to more"),
    ],
    ids=["no-addon-name", "same-name-twice"],
)
def test_bad_options_exit_1_with_one_paragraph(args: list[str], words: str) -> None:
    done = serve(*args)
    assert done.returncode == 1
    assert words in done.stderr and "Traceback" not in done.stderr


def test_a_negative_headroom_is_a_usage_error() -> None:
    done = serve("--addon", DEMO, "--headroom", "-0.5")
    assert done.returncode == 2 and "--headroom" in done.stderr and "Traceback" not in done.stderr


def test_a_port_in_use_is_reported(tmp_path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        done = serve("--addon", DEMO, "--port", str(taken.getsockname()[1]))
    assert done.returncode == 1
    assert "cannot listen on 127.0.0.1:" in done.stderr and "--port" in done.stderr


@pytest.mark.slow
def test_sigterm_refuses_new_connections_and_lets_running_streams_finish(tmp_path) -> None:
    server = start_server(tmp_path, "--addon", DEMO, "--shutdown-timeout", "120")
    try:
        with server.client() as client, client.stream(
                "POST", "/v1/audio/speech", json={"voice": "demo", "input": LONG_TEXT[:600],
                                                  "response_format": "wav"}) as response:
            assert response.status_code == 200
            body = response.iter_raw()
            data = next(body)
            server.process.send_signal(signal.SIGTERM)

            def refused() -> bool:
                """True once a connection is refused; a probe that the closing listener accepted and then
                reset (ReadError, RemoteProtocolError, a timeout) raced the close, so it is tried again."""
                try:
                    httpx.get(server.url + "/healthz", timeout=5)
                except httpx.ConnectError:
                    return True
                except httpx.TransportError:
                    return False
                return False

            server.wait_for(refused, "the listening socket to close")
            data += b"".join(body)
        assert_valid_wav(data)
        # uvicorn re-raises the signal once it has shut down, so the exit status says what stopped it.
        assert server.process.wait(120) in (0, -signal.SIGTERM)
        log = server.output()
        assert "Waiting for connections to close" in log and "Application shutdown complete" in log
    finally:
        server.stop()

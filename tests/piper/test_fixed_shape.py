"""A Piper decoder on fixed shapes by config alone: runtime onnx-static (ttsint-inferentia) pads its windows
to buckets and masks them, and `ttsint verify` finds the same audio as on plain onnxruntime."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
import ttsint
from commands import ttsint_command

pytestmark = pytest.mark.slow  # imports and runs Piper voices

SEED = "stack.0.sequence_block.seed=3"
DECODER_RUNTIME = "stack.0.streamable_block.stack.1.runtime"
TEXTS = ["Why?",
         "The quick brown fox jumps over the lazy dog, and then it runs away into the forest. "
         "On March 3, 2024, Dr. Smith paid $1,250 for 12 books!",
         "A longer sentence makes the decoder's windows grow to their widest, so that every bucket size "
         "the streamed path uses is compiled at least once, and the final window of each is padded too."]


def test_ttsint_verify_reports_the_fixed_shape_decoder_equal_to_the_plain_one(joe_cache: Path,
                                                                              tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS) + "\n", encoding="utf-8")
    done = subprocess.run([*ttsint_command(), "verify", "en_US-joe-medium", "--json", "--texts", str(texts),
                           "--vs", SEED, "--vs", f"{SEED} {DECODER_RUNTIME}=onnx-static"],
                          env={**os.environ, "TTSINT_CACHE_DIR": str(joe_cache)}, capture_output=True,
                          text=True, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    rows = json.loads(done.stdout)["rows"]
    assert rows[1]["compared"] == "waveform" and rows[0]["frames"] == rows[1]["frames"] > 22050
    assert 0 <= rows[1]["max_diff"] <= 1e-4


@pytest.mark.parametrize("addon", ["joe_addon", "tiny_addon"])
def test_streamed_on_buckets_equals_streamed_plain(addon: str, request: pytest.FixtureRequest) -> None:
    """On joe and on the random-weight tiny VITS (another hop, another rate): nothing tuned to one file."""
    folder = request.getfixturevalue(addon)
    seed = {"stack.0.sequence_block.seed": 5}
    plain = ttsint.Voice.load(folder, seed)
    fixed = ttsint.Voice.load(folder, {**seed, DECODER_RUNTIME: {"type": "onnx-static", "buckets": [16, 64]}})
    for text in TEXTS:
        a = np.concatenate([c.frames for _, u in plain.segments(text) for c in plain.stream_utterance(u)])
        b = np.concatenate([c.frames for _, u in fixed.segments(text) for c in fixed.stream_utterance(u)])
        assert a.shape == b.shape and float(np.abs(a - b).max()) <= 1e-4
    report = next(r for k, r in fixed.network_reports().items() if k.endswith(":decoder"))
    # Windows wider than 64 frames were split; only the two bucket shapes were ever compiled.
    assert report["runtime"] == "onnx-static" and report["compiles"] == report["shapes"] == 2
    assert report["compile_ms"] > 0 and report["padded"] > 0

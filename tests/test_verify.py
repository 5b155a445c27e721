"""`ttsint verify` as a user runs it: every runtime against torch on the demo and en-rms voices (1e-4)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from ttsint._verify import parse_configuration, sample_texts

# The decoder's whole spec is replaced: en-rms's Decoder grows its windows, which a fixed window cannot.
NEURON_BLOCKS = ("stack.0.sequence_block.type=NeuronEncoders "
                 "stack.0.streamable_block.stack.1='{\"type\": \"NeuronDecoder\"}'")


def verify(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TTSINT_CACHE_DIR": str(cache), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-c", "from ttsint.cli import main; main()", "verify", *args],
                          env=env, capture_output=True, text=True, timeout=1200)


@pytest.mark.slow
@pytest.mark.parametrize("addon", ["demo", "en-rms"])
def test_every_runtime_matches_torch(addon: str, onnx_cache: Path) -> None:
    done = verify(onnx_cache, addon, "--texts", "3", "--json",
                  "--vs", "runtime=torch",
                  "--vs", "runtime=onnxruntime",
                  "--vs", f"runtime=onnxruntime {NEURON_BLOCKS}",
                  "--vs", NEURON_BLOCKS)  # NeuronEncoders and NeuronDecoder on their default, cpu-static
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    rows = report["rows"]
    assert len(rows) == 4 and rows[1]["label"] == "runtime=onnxruntime"
    assert {r["compared"] for r in rows} == {"mel"}  # en-rms ends in Griffin-Lim: its mel is compared
    assert rows[0]["max_diff"] is None and all(0 <= r["max_diff"] <= 1e-4 for r in rows[1:])
    assert len({r["frames"] for r in rows}) == 1 and rows[0]["frames"] > 100


def test_a_difference_over_the_tolerance_exits_1(onnx_cache: Path, tmp_path: Path) -> None:
    texts = tmp_path / "texts.txt"
    texts.write_text("one short line\n\nand another one\n", encoding="utf-8")
    done = verify(onnx_cache, "demo", "--texts", str(texts), "--tolerance", "0",
                  "--vs", "runtime=torch", "--vs", "runtime=onnxruntime",
                  "--vs", "stack.0.streamable_block.stack.0.pace=1.5")
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert lines[0] == ("verify demo: 2 texts of 14-15 characters, mel compared with the first "
                        "configuration, tolerance 0")
    assert lines[1].split() == ["CONFIGURATION", "MAX_ABS_DIFF", "WORST_TEXT", "FRAMES", "RESULT"]
    assert lines[2].split()[:2] == ["runtime=torch", "reference"]
    assert lines[3].startswith("runtime=onnxruntime") and lines[3].endswith("DIFFERS")
    assert "stack.0.streamable_block.stack.0.pace=1.5: text 1: output shape" in done.stderr


def test_bad_arguments_are_one_clear_error(onnx_cache: Path) -> None:
    done = verify(onnx_cache, "demo", "--texts", "nofile.txt", "--vs", "runtime=torch")
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert "--texts: 'nofile.txt' is neither a number nor a file" in done.stderr
    done = verify(onnx_cache, "demo", "--texts", "1", "--vs", "runtime=onnxrt")
    assert done.returncode == 1 and "voice: runtime: unknown runtime 'onnxrt'" in done.stderr


def test_configurations_split_voice_settings_from_overrides() -> None:
    config = parse_configuration('runtime=onnxruntime device=cpu stack.0.sequence_block.buckets=[16,32]')
    assert config.voice == {"runtime": "onnxruntime", "device": "cpu"}
    assert config.overrides == {"stack.0.sequence_block.buckets": [16, 32]}
    table = parse_configuration('''runtime='{"type": "onnxruntime", "threads": 1}' ''')  # shell quoting
    assert table.voice == {"runtime": {"type": "onnxruntime", "threads": 1}}


def test_generated_texts_span_one_to_two_thousand_characters() -> None:
    texts = sample_texts(50)
    assert len(texts) == 50 and len(texts[0]) == 1 and 1990 <= len(texts[-1]) <= 2010
    assert sorted(texts, key=len) == texts and len(set(texts)) == 50

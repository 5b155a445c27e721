"""ChunkStats, Tap and NaNGuard: frames pass through unchanged, and each reports what it should."""

from __future__ import annotations

import itertools
import json
import logging
import math
import re

import numpy as np
import pytest
import torch
import ttsint
import ttsint.testing
from ttsint_dsp import ChunkStats, NaNGuard, Tap


def test_chunk_stats_writes_json_lines(tmp_path, run):
    frames = torch.arange(20.0).reshape(10, 2)
    frames[3, 1] = math.nan
    frames[7, 0] = math.inf
    path = tmp_path / "stats" / "chunks.jsonl"
    out = run(ChunkStats(path=str(path), log=False), frames, 4)
    assert torch.equal(out.nan_to_num(), frames.nan_to_num())
    records = [json.loads(line) for line in path.read_text().splitlines()]
    assert [(r["start"], r["end"], r["frames"]) for r in records] == [(0, 4, 4), (4, 8, 4), (8, 10, 2)]
    assert [(r["nan"], r["inf"]) for r in records] == [(1, 0), (0, 1), (0, 0)]
    assert records[0]["min"] == 0.0 and records[0]["max"] == 6.0 and records[2]["mean"] == 17.5
    assert len({r["stream"] for r in records}) == 1
    latencies = [r["latency_ms"] for r in records]
    assert latencies == sorted(latencies) and latencies[0] >= 0


def test_chunk_stats_logs_with_its_config_path(caplog):
    block = ttsint.build_stack(
        {"type": "StreamableStack", "stack": [{"type": "Gain", "db": 0}, {"type": "ChunkStats"}]}
    )
    with caplog.at_level(logging.INFO, logger="ttsint_dsp.stats"):
        list(block.stack[1].stream({}, iter([ttsint.Chunk(torch.zeros(3, 2), 0)])))
    assert "stack.stack[1] chunk 0 frames 0-3" in caplog.text


def test_tap_writes_every_chunk_and_the_whole(tmp_path, run, random_mel):
    out = run(Tap(str(tmp_path / "tap"), prefix="mel"), random_mel, 40)
    assert torch.equal(out, random_mel)
    names = sorted(p.name for p in (tmp_path / "tap").iterdir())
    stream = names[0][: len("mel-0000-xxxxxx")]
    assert re.fullmatch(r"mel-\d{4}-[0-9a-f]{6}", stream)
    assert names == [f"{stream}-000000-000040.npy", f"{stream}-000040-000080.npy",
                     f"{stream}-000080-000097.npy", f"{stream}.npy"]
    np.testing.assert_array_equal(np.load(tmp_path / "tap" / f"{stream}-000040-000080.npy"),
                                  random_mel[40:80].numpy())
    np.testing.assert_array_equal(np.load(tmp_path / "tap" / f"{stream}.npy"), random_mel.numpy())


def test_tap_keeps_concurrent_streams_apart(tmp_path, random_mel):
    tap = Tap(str(tmp_path), prefix="mel")
    first = tap.stream({}, ttsint.testing.ArrayStream(random_mel, 40).stream({}, None))
    second = tap.stream({}, ttsint.testing.ArrayStream(-random_mel, 40).stream({}, None))
    for _ in itertools.zip_longest(first, second):
        pass
    wholes = sorted(p for p in tmp_path.iterdir() if p.name.count("-") == 2)
    assert len(wholes) == 2 and len(list(tmp_path.iterdir())) == 8
    np.testing.assert_array_equal(np.load(wholes[0]), random_mel.numpy())
    np.testing.assert_array_equal(np.load(wholes[1]), -random_mel.numpy())


def test_nanguard_passes_clean_frames(run, random_mel):
    assert torch.equal(run(NaNGuard(), random_mel, 9), random_mel)


def test_a_nan_parameter_is_refused_before_anything_streams():
    with pytest.raises(ttsint.ConfigError, match=r"stack\[1\]\.db: expected a finite number, got nan"):
        ttsint.Voice.load("demo", {"stack.1": {"type": "Gain", "db": float("nan")}})


def test_nanguard_names_its_path_and_the_frames(run):
    guard = NaNGuard()
    guard.config_path = "stack[2]"
    frames = torch.zeros(6, 2)
    frames[3, 1] = math.nan
    with pytest.raises(ttsint.StreamError) as info:
        run(guard, frames, 2)
    text = str(info.value)
    assert text.startswith("stack[2] (NaNGuard): ")
    assert " NaN and 0 Inf value(s) in frames 3-3" in text and "the block before stack[2]" in text


def test_nanguard_can_let_infinities_through(run):
    frames = torch.zeros(6, 2)
    frames[4, 0] = math.inf
    assert torch.equal(run(NaNGuard(inf=False), frames, 2), frames)
    with pytest.raises(
        ttsint.StreamError, match="0 NaN and 1 Inf value.s. in frames 4-4 .chunk 2, frames 4-5."
    ):
        run(NaNGuard(), frames, 2)

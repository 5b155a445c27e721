"""The back-end protocols: the in-process pool and scheduler (and the Ray ones, where Ray loads) satisfy
them, and the serve modules import one another without a cycle."""

from __future__ import annotations

import ast
import asyncio
import inspect
from pathlib import Path

import pytest
import torch
import ttsint
import ttsint_serve
from ttsint_serve.backend import Stream, Streams, Voice, Voices
from ttsint_serve.pool import ServedVoice, VoicePool
from ttsint_serve.scheduler import Scheduler
from ttsint_serve.specs import parse_voice_spec

from .conftest import DEMO


def test_the_in_process_back_end_satisfies_the_protocols() -> None:
    pool = VoicePool([parse_voice_spec(f"{DEMO},name=p")])
    pool.load()  # a protocol check reads every property, the sample rate of a loaded voice among them
    assert isinstance(pool, Voices) and isinstance(pool.entries[0], Voice)
    scheduler = Scheduler(workers=1)

    async def main() -> None:
        stream = scheduler.open(lambda: iter([ttsint.Chunk(frames=torch.zeros(4, 1), start=0)]),
                                "x", frame_rate=16000)
        assert isinstance(stream, Stream)
        assert await stream.next() is not None and await stream.next() is None

    assert isinstance(scheduler, Streams)
    asyncio.run(main())
    scheduler.close()


def test_the_ray_back_end_satisfies_the_protocols() -> None:
    try:
        rayserve = pytest.importorskip("ttsint_serve.rayserve")
    except Exception as exc:  # Ray installed but broken (e.g. a protobuf it cannot use)
        pytest.skip(f"Ray Serve does not import here: {exc}")
    assert isinstance(rayserve.RemoteScheduler(), Streams)
    assert "frame_rate" in inspect.signature(rayserve.RemoteScheduler.open).parameters
    assert issubclass(rayserve.RemotePool, VoicePool) and issubclass(rayserve.RemoteVoice, ServedVoice)
    assert rayserve.RemoteVoice.stream is not ServedVoice.stream


def test_no_import_cycle_among_the_serve_modules() -> None:
    """Every import between ttsint_serve's modules, top-level or inside a function, forms no cycle (imports
    under ``if TYPE_CHECKING:`` are not counted here)."""
    root = Path(ttsint_serve.__file__).parent
    edges: dict[str, set[str]] = {}
    for path in root.glob("*.py"):
        found = set()
        tree = ast.parse(path.read_text())
        for block in ast.walk(tree):
            if isinstance(block, ast.If) and "TYPE_CHECKING" in ast.dump(block.test):
                block.body = []
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(alias.name for alias in node.names)
        edges[path.stem] = found & {p.stem for p in root.glob("*.py")}

    def reaches(start: str, goal: str, seen: set[str]) -> bool:
        for nxt in edges.get(start, ()):
            if nxt == goal or (nxt not in seen and reaches(nxt, goal, seen | {nxt})):
                return True
        return False

    cycles = sorted(m for m in edges if reaches(m, m, {m}))
    assert not cycles, {m: sorted(edges[m]) for m in cycles}

"""Test doubles and a conformance suite that plugin authors run on their own blocks.

``ArrayStream`` is an upstream made from a tensor or a NumPy array, so a block can be tested without an
addon. Every check hands a block its inputs in the kind it declares (``Block.arrays``), as containers do.
``parametrize_with_checks`` turns (block sample, check) pairs into pytest cases, as scikit-learn's
does for estimators: each check asserts one contract every block must keep.
``check_sequence_block`` and ``check_streamable_block`` run all checks on one built block;
``check_runtime`` checks a network runtime against torch; ``check_batching`` a batchable network against
itself unbatched.
"""

from __future__ import annotations

import collections
import copy
import functools
import itertools
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ._addon import Addon, load_addon
from ._arrays import concat, is_torch, to_numpy
from ._batching import BatchGroup
from ._blocks import Block, SequenceBlock, StreamableBlock, chunks_for, utterance_for, walk
from ._chunking import concat_chunks
from ._data import Chunk, Utterance
from ._errors import TTSIntError
from ._network import Network
from ._registry import ENTRY_POINT_GROUP, Registry, get_registry
from ._runtimes import Runtime
from ._stack import build_stack

if TYPE_CHECKING:
    import torch

__all__ = [
    "ArrayStream",
    "BlockSample",
    "CountingStream",
    "check_batched_streams",
    "check_batching",
    "check_bounded_lookahead",
    "check_chunk_invariance",
    "check_contiguous_chunks",
    "check_early_close",
    "check_entry_module",
    "check_plugin_entry_module",
    "check_fresh_output",
    "check_interleaved_streams",
    "check_keeps_input_keys",
    "check_per_stream_side_effects",
    "check_runtime",
    "check_sequence_block",
    "check_streamable_block",
    "example_inputs",
    "parametrize_with_checks",
    "yield_checks",
]

Check = Callable[["BlockSample"], None]


class ArrayStream(StreamableBlock):
    """Streams a fixed [T, C] tensor (or NumPy array) in chunks of ``chunk_frames``: a stand-in upstream."""

    arrays = "any"

    def __init__(self, frames: Any, chunk_frames: int = 16) -> None:
        if frames.ndim != 2:
            raise ValueError(f"frames must be [T, C], got {tuple(frames.shape)}")
        if chunk_frames < 1:
            raise ValueError(f"chunk_frames must be >= 1, got {chunk_frames}")
        self.frames = frames
        self.chunk_frames = chunk_frames

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        for start in range(0, self.frames.shape[0], self.chunk_frames):
            yield Chunk(frames=self.frames[start:start + self.chunk_frames], start=start)


class CountingStream:
    """An upstream of one-frame chunks that counts how many frames a block has pulled from it."""

    def __init__(self, frames: Any) -> None:
        self.frames = frames
        self.pulled = 0

    def __iter__(self) -> Iterator[Chunk]:
        for start in range(self.frames.shape[0]):
            self.pulled = start + 1
            yield Chunk(frames=self.frames[start:start + 1], start=start)


@dataclass
class BlockSample:
    """A block (a config ``spec`` built by name, or a ready ``block``) and the inputs its checks feed it.

    ``lookahead`` declares the most upstream frames the block may pull before each chunk it yields.
    ``writes`` names the spec key that says where the block writes files: the side-effect check points
    it at a fresh directory. ``utt`` may be text, which the addon's front end turns into tensors;
    ``addon`` and ``utt`` may also be functions that make them, so collecting tests stays cheap.
    """

    spec: Mapping[str, Any] | None = None
    block: Block | None = None
    addon: str | Path | Addon | Callable[[], Addon] | None = None
    utt: Utterance | str | Callable[[], Utterance] | None = None
    upstream: Any = None
    """[T, C] frames (a torch tensor or a NumPy array) fed to a streamable block through ArrayStream."""
    lookahead: int | None = None
    chunk_invariant: bool = True
    chunkings: Sequence[int] = (1, 7, 64)
    atol: float = 1e-5
    writes: str | None = None
    id: str | None = None
    registry: Registry | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if (self.spec is None) == (self.block is None):
            raise ValueError("give a BlockSample either a config spec or a built block")
        if self.writes is not None and self.spec is None:
            raise ValueError("'writes' names a spec key, so it needs a spec")

    @property
    def name(self) -> str:
        """The readable part of a test id: ``id``, else the block's type name."""
        if self.id:
            return self.id
        return str(self.spec["type"]) if self.spec is not None else type(self.block).type_name

    def block_class(self) -> type[Block]:
        """The block's class, loaded from the registry without building it."""
        if self.block is not None:
            return type(self.block)
        registry = self.registry or get_registry()
        return registry.find(registry.blocks, str(self.spec["type"]), what="block type", path="type").load()

    def build(self, writes_to: Path | None = None) -> Block:
        """The block to check; with ``writes``, its output location is set to ``writes_to``."""
        if self.block is not None:
            return self.block
        spec = dict(self.spec)
        if self.writes is not None:
            spec[self.writes] = str(writes_to if writes_to is not None else Path(tempfile.mkdtemp()) / "out")
        return build_stack(spec, self._addon(), registry=self.registry)

    def inputs(self) -> Utterance:
        """A fresh copy of the utterance the block is given."""
        if isinstance(self.utt, str):
            addon = self._addon()
            if addon is None:
                raise ValueError("a text utt needs an addon whose front end reads it")
            return addon.frontend(self.utt)
        utt = self.utt() if callable(self.utt) else self.utt or {}
        return {k: _copy(v) for k, v in utt.items()}

    def _addon(self) -> Addon | None:
        if self.addon is None or isinstance(self.addon, Addon):
            return self.addon
        if callable(self.addon):
            return self.addon()
        return _cached_addon(str(self.addon), self.registry)

    def streams(self, block: StreamableBlock, chunk_frames: int, other: bool = False) -> Iterator[Chunk]:
        """One stream of ``block``; ``other`` feeds a different upstream of the same shape."""
        utt = self.inputs()
        source = None
        if self.upstream is not None:
            frames = _flip(self.upstream) if other else self.upstream
            source = ArrayStream(frames, chunk_frames).stream(utt, None)
        return block.stream(utterance_for(utt, block), chunks_for(source, block))


@functools.lru_cache(maxsize=8)
def _cached_addon(name: str, registry: Registry | None) -> Addon:
    return load_addon(name, registry=registry)


def _copy(v: Any) -> Any:
    return v.clone() if is_torch(v) else np.array(v, copy=True)


def _flip(v: Any) -> Any:
    return v.flip(0) if is_torch(v) else np.ascontiguousarray(v[::-1])


def _assert_same(a: Any, b: Any, atol: float, what: str) -> None:
    assert tuple(a.shape) == tuple(b.shape), f"{what}: shapes differ, {tuple(a.shape)} vs {tuple(b.shape)}"
    a, b = to_numpy(a).astype(np.float64), to_numpy(b).astype(np.float64)
    diff = float(np.abs(a - b).max()) if a.size else 0.0
    assert diff <= atol, f"{what}: max abs difference {diff:.3g} exceeds {atol:g}"


def _is_kind(v: Any, block: Block) -> bool:
    """Whether ``v`` is an array of the kind ``block`` declares."""
    return is_torch(v) if block.arrays == "torch" else isinstance(v, np.ndarray) if block.arrays == "numpy" \
        else is_torch(v) or isinstance(v, np.ndarray)


# -- sequence blocks ---------------------------------------------------------------------------

def check_fresh_output(sample: BlockSample) -> None:
    """forward returns a new dict of arrays of its declared kind, leaves its input alone, and gives the same
    answer twice."""
    block = sample.build()
    utt = dict(utterance_for(sample.inputs(), block))
    before = {k: _copy(v) for k, v in utt.items()}
    keys = set(utt)
    out = block.forward(utt)
    assert isinstance(out, dict), f"forward must return a dict, got {type(out).__name__}"
    assert out is not utt, "forward must return a new dict, not its input"
    assert set(utt) == keys, "forward must not add or remove keys of its input"
    for k, v in before.items():
        assert np.array_equal(to_numpy(utt[k]), to_numpy(v)), f"forward modified its input tensor {k!r}"
    for k, v in out.items():
        kind = "a tensor" if block.arrays == "torch" else f"a NumPy array (arrays = {block.arrays!r})"
        assert _is_kind(v, block), f"output {k!r} is a {type(v).__name__}, not {kind}"
    again = block.forward(dict(utt))
    assert set(again) == set(out), "forward gave different keys on a second call"
    for k in out:
        _assert_same(out[k], again[k], sample.atol, f"output {k!r} on a second call")


def check_keeps_input_keys(sample: BlockSample) -> None:
    """forward's output holds every key of its input: blocks add to the utterance, never drop from it.

    Core's containers merge a returned dict of new keys into the utterance (``merge_outputs``), but
    code that calls ``forward`` directly sees only what it returns; a conforming block returns it whole.
    """
    block = sample.build()
    utt = utterance_for(sample.inputs(), block)
    out = block.forward(dict(utt))
    dropped = sorted(set(utt) - set(out))
    assert not dropped, (f"{sample.name}.forward dropped input key(s) {dropped}; return "
                         "{**utt, **new} so every caller still sees them")


# -- streamable blocks -------------------------------------------------------------------------

def check_contiguous_chunks(sample: BlockSample) -> None:
    """Chunks are 2-D and contiguous from frame 0 (concat_chunks checks every start)."""
    out = concat_chunks(sample.streams(sample.build(), sample.chunkings[0]))
    assert out.ndim == 2, "chunk frames must be 2-D [T, C]"


def check_chunk_invariance(sample: BlockSample) -> None:
    """The output does not depend on how the upstream was chunked."""
    block = sample.build()
    reference = concat_chunks(sample.streams(block, sample.chunkings[0]))
    for size in sample.chunkings[1:]:
        _assert_same(concat_chunks(sample.streams(block, size)), reference, sample.atol,
                     f"output with upstream chunks of {size}")


def check_interleaved_streams(sample: BlockSample) -> None:
    """Two streams advanced together each equal the same stream run alone: block holds no stream state."""
    block = sample.build()
    state_before = copy.copy(vars(block)) if hasattr(block, "__dict__") else None
    size = sample.chunkings[-1]
    solo = [concat_chunks(sample.streams(block, size, other)) for other in (False, True)]
    got: list[list[Any]] = [[], []]
    for pair in itertools.zip_longest(sample.streams(block, size), sample.streams(block, size, True)):
        for i, chunk in enumerate(pair):
            if chunk is not None:
                got[i].append(chunk.frames)
    _assert_same(concat(got[0]), solo[0], sample.atol, "first of two interleaved streams")
    _assert_same(concat(got[1]), solo[1], sample.atol, "second of two interleaved streams")
    if state_before is not None:
        assert set(vars(block)) == set(state_before), "streaming added or removed attributes of the block"


def _networks(block: Block) -> list[Network]:
    """The networks the blocks of ``block``'s tree hold."""
    return [v for node in walk(block) for v in vars(node.block).values() if isinstance(v, Network)]


def check_batched_streams(sample: BlockSample) -> None:
    """Three streams stepped together (``BatchGroup``: each on a thread, calls of a ``batch = true`` network
    stacked into one) each equal the same stream run alone; a block holding such a network batches a call."""
    block = sample.build()
    size = sample.chunkings[-1]
    kinds = (False, True, True)  # one upstream and two of the flipped: a slice given to a wrong stream shows
    solo = {other: concat_chunks(sample.streams(block, size, other)) for other in set(kinds)}
    streams = [sample.streams(block, size, other) for other in kinds]
    got: list[list[Any]] = [[] for _ in kinds]
    with ThreadPoolExecutor(len(kinds) - 1, thread_name_prefix="ttsint-check") as pool:
        group = BatchGroup(pool, patience=1.0)  # generous: this checks equality, not speed
        live = list(range(len(kinds)))
        while live:
            chunks = group.run([functools.partial(next, streams[i], None) for i in live])
            for i, chunk in zip(list(live), chunks, strict=True):
                if chunk is None:
                    live.remove(i)
                else:
                    got[i].append(chunk.frames)
    for i, other in enumerate(kinds):
        _assert_same(concat(got[i]), solo[other], sample.atol, f"stream {i} of {len(kinds)} stepped together")
    batchable = sorted({n.name for n in _networks(block) if n.batch})
    assert not batchable or group.batched > 0, (
        f"{sample.name} holds network(s) {batchable} declared batch = true, yet three streams of equal shape "
        "stepped together made no batched call; run them through Network.run")


def check_batching(network: Network, feeds: Sequence[Mapping[str, Any]], atol: float = 1e-5) -> None:
    """The batch contract: ``network.run_batch(feeds)`` (one call over inputs of one shape) gives each feed
    what ``network.run`` gives it alone, within ``atol``."""
    assert len(feeds) > 1, "give at least two feeds of one shape"
    together = network.run_batch(feeds)
    assert len(together) == len(feeds), f"run_batch gave {len(together)} results for {len(feeds)} feeds"
    for i, feed in enumerate(feeds):
        alone = network.run(feed)
        assert set(together[i]) == set(alone), f"feed {i}: outputs {sorted(together[i])} vs {sorted(alone)}"
        for name in alone:
            _assert_same(together[i][name], alone[name], atol,
                         f"network {network.name!r}, output {name!r}, feed {i} of a batch of {len(feeds)}")


def check_early_close(sample: BlockSample) -> None:
    """A consumer may stop after the first chunk; closing the stream must be clean."""
    early = sample.streams(sample.build(), sample.chunkings[-1])
    next(early)
    early.close()


def check_bounded_lookahead(sample: BlockSample) -> None:
    """The block pulls nothing before it is asked for a chunk, and at most ``lookahead`` frames per chunk."""
    assert sample.lookahead is not None and sample.upstream is not None
    block = sample.build()
    source = CountingStream(sample.upstream)
    stream = block.stream(utterance_for(sample.inputs(), block), chunks_for(iter(source), block))
    assert source.pulled == 0, (
        f"{sample.name} pulled {source.pulled} upstream frames before the first chunk was asked for")
    last, index = 0, 0
    for index, _ in enumerate(stream):
        read = source.pulled - last
        assert read <= sample.lookahead, (
            f"{sample.name} read {read} upstream frames before yielding chunk {index}, more than its "
            f"declared lookahead of {sample.lookahead}; yield as soon as a chunk's frames are known")
        last = source.pulled


def check_per_stream_side_effects(sample: BlockSample) -> None:
    """Files written by two concurrent streams are the files each writes alone: none overwrites another's."""
    assert sample.writes is not None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        block = sample.build(writes_to=root / "out")
        size = sample.chunkings[-1]

        def written() -> collections.Counter[bytes]:
            found = collections.Counter(p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file())
            for p in root.iterdir():
                shutil.rmtree(p) if p.is_dir() else p.unlink()
            return found

        for _ in sample.streams(block, size):
            pass
        alone = written()
        for _ in sample.streams(block, size, other=True):
            pass
        alone += written()
        for _ in itertools.zip_longest(sample.streams(block, size), sample.streams(block, size, True)):
            pass
        together = written()
    assert together == alone, (
        f"two concurrent streams of {sample.name} left {sum(together.values())} files with "
        f"{len(together)} distinct contents; run one after the other they wrote {sum(alone.values())} "
        f"with {len(alone)}: one stream's files overwrote the other's. Name files per stream")


# -- plugins -----------------------------------------------------------------------------------

_PROBE = """\
import importlib, json, sys
import ttsint
before = set(sys.modules)
importlib.import_module(sys.argv[1])
print(json.dumps(sorted(set(sys.modules) - before)))
"""


@functools.lru_cache(maxsize=64)
def _imported_by(module: str, path: tuple[str, ...] = ()) -> tuple[str, ...]:
    """Modules that loading ``module`` imports beyond what ``import ttsint`` did (in a fresh process)."""
    env = dict(os.environ)
    if path:
        env["PYTHONPATH"] = os.pathsep.join([*path, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    done = subprocess.run([sys.executable, "-c", _PROBE, module], capture_output=True, text=True, env=env,
                          timeout=300)
    assert done.returncode == 0, f"importing {module} failed:\n{done.stderr}"
    return tuple(json.loads(done.stdout.strip().splitlines()[-1]))


def check_entry_module(module: str, lazy_targets: Iterable[str] = (), *, path: Sequence[str] = ()) -> None:
    """Loading a plugin's entry module imports neither torch nor the modules of its lazy targets.

    Registering "module:attr" strings lets ``ttsint plugins`` and ``ttsint blocks`` run without
    importing any block; an entry module that imports them anyway loses that.
    """
    new = set(_imported_by(module, tuple(path)))
    heavy = sorted(m for m in new if m == "torch" or m.startswith("torch."))
    eager = sorted(t for t in {t.partition(":")[0] for t in lazy_targets} if t in new and t != module)
    assert not eager, (f"loading the entry module {module} imports {', '.join(eager)}, which it registers as "
                       "lazy target(s); import them only inside the classes' modules")
    assert not heavy, (f"loading the entry module {module} imports torch; register blocks as "
                       "'module:Class' strings and import torch only in those modules")


def check_plugin_entry_module(sample: BlockSample) -> None:
    """The entry module of the plugin that registers this block keeps its lazy targets lazy."""
    registry = sample.registry or get_registry()
    reg = registry.find(registry.blocks, str(sample.spec["type"]), what="block type", path="type")
    module = _entry_module(reg.plugin, reg.distribution)
    assert module is not None, f"no entry point found for plugin {reg.plugin!r}"
    targets = [r.target for table in (registry.blocks, registry.frontends) for regs in table.values()
               for r in regs if r.plugin == reg.plugin and isinstance(r.target, str)]
    check_entry_module(module, targets)


def _entry_module(plugin: str, distribution: str | None) -> str | None:
    if plugin == "ttsint":
        return "ttsint._core_plugin"
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == plugin and (ep.dist is None or ep.dist.name == distribution):
            return ep.value.partition(":")[0]
    return None


# -- collecting checks -------------------------------------------------------------------------

def yield_checks(sample: BlockSample) -> Iterator[Check]:
    """The checks that apply to a sample's block, given its kind and what the sample declares."""
    cls = sample.block_class()
    if issubclass(cls, SequenceBlock):
        yield check_fresh_output
        yield check_keeps_input_keys
    elif issubclass(cls, StreamableBlock):
        yield check_contiguous_chunks
        if sample.chunk_invariant and sample.upstream is not None:
            yield check_chunk_invariance
        yield check_interleaved_streams
        yield check_batched_streams
        yield check_early_close
        if sample.lookahead is not None and sample.upstream is not None:
            yield check_bounded_lookahead
        if sample.writes is not None:
            yield check_per_stream_side_effects
    if sample.spec is not None:
        registry = sample.registry or get_registry()
        reg = registry.find(registry.blocks, str(sample.spec["type"]), what="block type", path="type")
        if _entry_module(reg.plugin, reg.distribution) is not None:
            yield check_plugin_entry_module


def _raise(error: Exception, sample: BlockSample) -> None:
    raise error


def _has_sample(sample: BlockSample) -> None:
    raise AssertionError(f"block type {sample.name!r} is registered but has no BlockSample; add one so the "
                         "conformance checks run on it")


def parametrize_with_checks(samples: Iterable[BlockSample], *, registered: Iterable[str] = ()) -> Any:
    """A ``pytest.mark.parametrize("sample, check", ...)`` over every check of every sample.

    Ids read ``Gain-keeps_input_keys``. Each name in ``registered`` that no sample covers becomes a
    failing ``NAME-has_sample`` case, so a newly registered block cannot go unchecked.
    """
    import pytest

    params = []
    covered = set()
    for sample in samples:
        covered.add(sample.spec["type"] if sample.spec is not None else sample.name)
        try:
            checks = list(yield_checks(sample))
        except TTSIntError as exc:  # e.g. the block's plugin is not installed: one failing case says so
            checks = [functools.partial(_raise, exc)]
            checks[0].__name__ = "check_loads"  # type: ignore[attr-defined]
        for check in checks:
            label = check.__name__.removeprefix("check_")
            params.append(pytest.param(sample, check, id=f"{sample.name}-{label}"))
    for name in registered:
        if name not in covered:
            params.append(pytest.param(BlockSample({"type": name}), _has_sample, id=f"{name}-has_sample"))
    return pytest.mark.parametrize("sample, check", params)


# -- all checks on one built block ---------------------------------------------------------------

def check_sequence_block(block: SequenceBlock, utt: Utterance, atol: float = 0.0) -> Utterance:
    """Run every SequenceBlock check on ``block`` with ``utt``; returns the block's output."""
    sample = BlockSample(block=block, utt=utt, atol=atol)
    for check in yield_checks(sample):
        check(sample)
    return block.forward(utterance_for(sample.inputs(), block))


def check_streamable_block(
    block: StreamableBlock,
    utt: Utterance | None = None,
    upstream: Any = None,
    *,
    chunkings: Sequence[int] = (1, 7, 64),
    chunk_invariant: bool = True,
    atol: float = 1e-5,
    lookahead: int | None = None,
) -> Any:
    """Run every StreamableBlock check on ``block``; ``upstream`` is a [T, C] array fed through ArrayStream.

    Checks: contiguous 2-D chunks; interleaved streams, and streams stepped together with their network calls
    batched, equal solo ones; a clean early close; with
    ``chunk_invariant``, output independent of upstream chunking; with ``lookahead``, bounded reads.
    Returns the output of one full stream.
    """
    sample = BlockSample(block=block, utt=utt, upstream=upstream, chunkings=chunkings,
                         chunk_invariant=chunk_invariant, atol=atol, lookahead=lookahead)
    for check in yield_checks(sample):
        check(sample)
    return concat_chunks(sample.streams(block, chunkings[0]))


# -- runtimes ----------------------------------------------------------------------------------

def example_inputs(network: Network, length: int, seed: int = 0) -> dict[str, torch.Tensor]:
    """Batched inputs of ``length`` positions for ``network``, shaped as its torch.export graph records:
    random symbol ids for integer inputs, random frames for float ones, a mask of ones, and a zero
    ``state`` (a step network's state at the start of a stream: random caches are no state it can be in)."""
    import torch

    specs = network.input_specs()
    if specs is None:
        raise TTSIntError(f"network {network.name!r} records no input shapes; export it with torch.export")
    gen = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, (shape, dtype) in specs.items():
        dims = [length if d is None else d for d in shape]
        if name == "mask":
            tensors[name] = torch.ones(dims)
        elif name == "state":
            tensors[name] = torch.zeros(dims, dtype=dtype)
        elif dtype in (torch.int64, torch.int32):
            tensors[name] = torch.randint(1, 30, dims, generator=gen, dtype=dtype)
        else:
            tensors[name] = torch.randn(dims, generator=gen, dtype=dtype)
    return tensors


def check_runtime(runtime: Runtime, addon: str | Addon = "demo", lengths: Sequence[int] = (1, 7, 300),
                  atol: float = 1e-4) -> None:
    """Each network of ``addon`` on ``runtime`` gives torch's outputs within ``atol``, at each length."""
    if not isinstance(addon, Addon):
        addon = _cached_addon(addon, None)
    for network in addon.networks.values():
        executable = runtime.load(network)
        for length in lengths:
            inputs = example_inputs(network, length, seed=length)
            want = network.run(inputs, batched=True)  # the network as loaded: torch on the CPU
            got = executable({k: v.to(executable.tensor_device) for k, v in inputs.items()})
            for name in network.outputs:
                _assert_same(want[name], got[name].cpu(), atol,
                             f"{runtime.name}: network {network.name!r}, output {name!r}, length {length}")

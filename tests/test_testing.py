"""The conformance suite in ttsint.testing passes first-party blocks and catches broken ones."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
import ttsint
from ttsint import Chunk, SequenceBlock, StreamableBlock
from ttsint.testing import (
    ArrayStream,
    BlockSample,
    check_bounded_lookahead,
    check_entry_module,
    check_keeps_input_keys,
    check_per_stream_side_effects,
    check_sequence_block,
    check_streamable_block,
    parametrize_with_checks,
)


@pytest.fixture(scope="module")
def demo() -> ttsint.Voice:
    return ttsint.Voice.load("demo")


def test_array_stream_chunks_a_tensor():
    frames = torch.arange(10.0).reshape(5, 2)
    chunks = list(ArrayStream(frames, 2).stream({}, None))
    assert [c.start for c in chunks] == [0, 2, 4] and torch.equal(ttsint.concat_chunks(chunks), frames)


@pytest.mark.parametrize("spec", [
    {"type": "Decoder", "chunk_frames": 16, "first_chunk_frames": 4},
    {"type": "Smooth", "frames": 5},
    {"type": "Gain", "db": -6.0},
    {"type": "MelShift", "bins": 1.5},
    {"type": "NeuronDecoder", "chunk_frames": 16},
])
def test_first_party_streamable_blocks_conform(demo, spec, tmp_path):
    if spec["type"] == "NeuronDecoder":
        spec = {**spec, "runtime": {"type": "cpu-static", "cache_dir": str(tmp_path)}}
    block = ttsint.build_stack(spec, demo.addon)
    width = 64 if spec["type"] in ("Decoder", "NeuronDecoder") else 80
    upstream = torch.randn(150, width, generator=torch.Generator().manual_seed(0))
    out = check_streamable_block(block, upstream=upstream, atol=1e-4)
    assert out.shape[0] == 150


def test_griffin_lim_conforms_with_its_declared_tolerance(demo):
    block = ttsint.build_stack({"type": "GriffinLim", "n_iter": 4}, demo.addon)
    mel = -6 + torch.randn(40, 80, generator=torch.Generator().manual_seed(1)).clamp(-2, 2)
    out = check_streamable_block(block, upstream=mel, chunkings=(1, 5, 40))
    assert out.shape == (40 * demo.addon.hop_length, 1)


def test_first_party_sequence_blocks_conform(demo):
    utt = demo.encode("conformance checks for sequence blocks")
    encoded = check_sequence_block(demo.block.sequence_block, utt)
    check_sequence_block(ttsint.build_stack({"type": "Pace", "factor": 1.25}, demo.addon), encoded)


class _Remembers(StreamableBlock):
    """Broken on purpose: keeps its running frame count on the block, shared by every stream."""

    def __init__(self) -> None:
        self.count = 0

    def stream(self, utt, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        for chunk in upstream:
            self.count += len(chunk)
            yield Chunk(frames=chunk.frames + self.count, start=chunk.start)


class _Mutates(SequenceBlock):
    """Broken on purpose: writes into its input."""

    def forward(self, utt):
        utt["symbols"] += 1
        return {**utt, "extra": utt["symbols"]}


def test_a_block_with_per_stream_state_on_itself_fails_the_suite():
    with pytest.raises(AssertionError):
        check_streamable_block(_Remembers(), upstream=torch.zeros(20, 3))


def test_a_block_that_mutates_its_input_fails_the_suite():
    with pytest.raises(AssertionError, match="modified its input"):
        check_sequence_block(_Mutates(), {"symbols": torch.arange(4)})


class _DropsKeys(SequenceBlock):
    """Broken on purpose: returns only its new key, so later blocks lose the input's."""

    def forward(self, utt):
        return {"extra": utt["symbols"] * 2}


def test_a_block_that_drops_input_keys_fails_the_suite():
    sample = BlockSample(block=_DropsKeys(), utt={"symbols": torch.arange(4)})
    with pytest.raises(AssertionError, match=r"dropped input key\(s\) \['symbols'\]"):
        check_keeps_input_keys(sample)


class _ReadsEverything(StreamableBlock):
    """Broken on purpose: a frame-by-frame effect that reads the whole upstream before its first chunk."""

    def stream(self, utt, upstream):
        chunks = list(upstream)
        yield from chunks


class _PullsEagerly(StreamableBlock):
    """Broken on purpose: not a generator, so it pulls upstream when the stream is created."""

    def stream(self, utt, upstream):
        first = next(upstream)
        return iter([first])


def test_unbounded_lookahead_fails_the_suite():
    frames = torch.randn(30, 4)
    with pytest.raises(AssertionError, match="read 30 upstream frames before yielding chunk 0"):
        check_bounded_lookahead(BlockSample(block=_ReadsEverything(), upstream=frames, lookahead=1))
    with pytest.raises(AssertionError, match="pulled 1 upstream frames before the first chunk"):
        check_bounded_lookahead(BlockSample(block=_PullsEagerly(), upstream=frames, lookahead=1))
    check_bounded_lookahead(BlockSample(block=ttsint.build_stack({"type": "Gain", "db": 1}), upstream=frames,
                                        lookahead=1))


class _FrameRangeTap(StreamableBlock):
    """Broken on purpose: Tap as it was, naming files by frame range only."""

    def __init__(self, directory: str) -> None:
        self.directory = Path(directory)

    def stream(self, utt, upstream):
        self.directory.mkdir(parents=True, exist_ok=True)
        for chunk in upstream:
            np.save(self.directory / f"chunk-{chunk.start:06d}-{chunk.end:06d}.npy", chunk.frames.numpy())
            yield chunk


class _TapPlugin:
    @ttsint.hookimpl
    def ttsint_register_blocks(self, register):
        register("FrameRangeTap", _FrameRangeTap)


def test_streams_that_overwrite_each_others_files_fail_the_suite():
    registry = ttsint.Registry(load_entry_points=False, plugins={"taps": _TapPlugin()})
    broken = BlockSample({"type": "FrameRangeTap"}, upstream=torch.randn(40, 3), writes="directory",
                         registry=registry)
    with pytest.raises(AssertionError, match="one stream's files overwrote the other's"):
        check_per_stream_side_effects(broken)
    fixed = BlockSample({"type": "Tap"}, upstream=torch.randn(40, 3), writes="directory")
    check_per_stream_side_effects(fixed)


def _package(root: Path, name: str, plugin: str) -> None:
    (root / name).mkdir()
    (root / name / "__init__.py").write_text("")
    (root / name / "blocks.py").write_text(
        "import json\nimport ttsint\n\n\nclass Echo(ttsint.StreamableBlock):\n"
        "    def stream(self, utt, upstream):\n        yield from upstream\n")
    (root / name / "plugin.py").write_text(plugin)


def test_an_entry_module_that_imports_its_lazy_targets_fails_the_suite(tmp_path):
    register = ("@ttsint.hookimpl\ndef ttsint_register_blocks(register):\n"
                "    register('Echo', '{pkg}.blocks:Echo')\n")
    _package(tmp_path, "eager_pkg", 
             "import ttsint\nfrom .blocks import Echo\n\n" + register.format(pkg="eager_pkg"))
    _package(tmp_path, "lazy_pkg", "import ttsint\n\n" + register.format(pkg="lazy_pkg"))
    with pytest.raises(AssertionError, match="imports eager_pkg.blocks, which it registers as lazy target"):
        check_entry_module("eager_pkg.plugin", ["eager_pkg.blocks:Echo"], path=[str(tmp_path)])
    check_entry_module("lazy_pkg.plugin", ["lazy_pkg.blocks:Echo"], path=[str(tmp_path)])


def test_parametrize_with_checks_names_cases_and_flags_blocks_without_a_sample():
    mark = parametrize_with_checks(
        [BlockSample({"type": "Gain", "db": 1.0}, upstream=torch.randn(8, 2), lookahead=1),
         BlockSample({"type": "Pace", "factor": 2.0}, utt={"durations": torch.tensor([2, 2])})],
        registered=["Gain", "Pace", "Smooth"],
    )
    assert mark.args[0] == "sample, check"
    ids = [p.id for p in mark.args[1]]
    assert ids == ["Gain-contiguous_chunks", "Gain-chunk_invariance", "Gain-interleaved_streams",
                   "Gain-batched_streams", "Gain-early_close", "Gain-bounded_lookahead",
                   "Gain-plugin_entry_module", "Pace-fresh_output", "Pace-keeps_input_keys",
                   "Pace-plugin_entry_module", "Smooth-has_sample"]
    sample, check = mark.args[1][-1].values
    with pytest.raises(AssertionError, match="'Smooth' is registered but has no BlockSample"):
        check(sample)

"""The two block abstractions, Chunk, and the three containers."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator

import pytest
import torch
import toyblocks
from ttsint import (
    Block,
    Chunk,
    SequenceBlock,
    SequenceBlockContainer,
    StreamableBlock,
    StreamablePipeline,
    StreamableStack,
    Utterance,
    concat_chunks,
    merge_outputs,
)


class Counter(StreamableBlock):
    """Yields ``n`` one-frame chunks, logging each pull and whether its generator was finalised."""

    def __init__(self, n: int, log: list[str]) -> None:
        self.n = n
        self.log = log

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        try:
            for i in range(self.n):
                self.log.append(f"pull {i}")
                yield Chunk(frames=torch.full((1, 1), float(i)), start=i)
        finally:
            self.log.append("closed")


class AddKey(SequenceBlock):
    """Adds ``key`` = symbols + ``offset`` (or the previous key + offset)."""

    def __init__(self, key: str, source: str = "symbols", offset: int = 1) -> None:
        self.key, self.source, self.offset = key, source, offset

    def forward(self, utt: Utterance) -> Utterance:
        return {self.key: utt[self.source] + self.offset}


class Plain(StreamableBlock):
    # A third-party block: constructor plus stream, no super().__init__(), no docstring needed.
    def __init__(self, scale: float) -> None:
        self.scale = scale

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        assert upstream is not None
        for chunk in upstream:
            yield Chunk(frames=chunk.frames * self.scale, start=chunk.start)


def test_chunk_is_frozen_time_first_with_start_and_end() -> None:
    chunk = Chunk(frames=torch.zeros(5, 2), start=10)
    assert (chunk.start, chunk.end, len(chunk)) == (10, 15, 5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        chunk.start = 3  # type: ignore[misc]


@pytest.mark.parametrize(
    ("frames", "start", "message"),
    [
        (torch.zeros(5), 0, r"must be 2-D \[T, C\], got shape \(5,\)"),
        (torch.zeros(1, 2, 3), 0, r"must be 2-D"),
        (torch.zeros(2, 1), -1, r"start must be >= 0, got -1"),
    ],
)
def test_chunk_rejects_bad_shapes_and_starts(frames: torch.Tensor, start: int, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Chunk(frames=frames, start=start)


def test_type_name_defaults_to_the_class_name_and_can_be_set() -> None:
    class Named(SequenceBlock):
        type_name = "custom-name"

    class Child(Named):
        pass

    assert Plain.type_name == "Plain" and Named.type_name == "custom-name" and Child.type_name == "Child"
    assert (Plain.kind, AddKey.kind, Block.kind) == ("streamable", "sequence", "block")


def test_default_from_config_calls_the_constructor_with_the_params() -> None:
    block = Plain.from_config({"scale": 3.0}, ctx=None)  # type: ignore[arg-type]
    assert isinstance(block, Plain) and block.scale == 3.0


def test_base_classes_say_which_method_is_missing() -> None:
    with pytest.raises(NotImplementedError, match="SequenceBlock must implement forward"):
        SequenceBlock().forward({})
    with pytest.raises(NotImplementedError, match="StreamableBlock must implement stream"):
        StreamableBlock().stream({}, None)


def test_sequence_block_container_runs_blocks_in_order_without_mutating_input() -> None:
    container = SequenceBlockContainer([AddKey("a"), AddKey("b", source="a", offset=10)])
    utt = {"symbols": torch.tensor([1, 2])}
    out = container(utt)
    assert list(utt) == ["symbols"]
    assert out["a"].tolist() == [2, 3] and out["b"].tolist() == [12, 13] and out["symbols"] is utt["symbols"]
    assert [label for label, _ in container.children()] == ["blocks[0]", "blocks[1]"]


def test_streamable_stack_chains_blocks() -> None:
    log: list[str] = []
    stack = StreamableStack([Counter(3, log), Plain(2.0), Plain(5.0)])
    chunks = list(stack.stream({}, None))
    assert [(c.start, c.frames.item()) for c in chunks] == [(0, 0.0), (1, 10.0), (2, 20.0)]
    assert [label for label, _ in stack.children()] == ["stack[0]", "stack[1]", "stack[2]"]


def test_streaming_is_pull_based_and_closing_stops_upstream_work() -> None:
    log: list[str] = []
    stack = StreamableStack([Counter(100, log), Plain(1.0), toyblocks.ToyGain(2.0)])
    stream = stack.stream({}, None)
    assert log == []  # nothing runs until the consumer asks
    assert next(stream).start == 0
    assert next(stream).start == 1
    assert log == ["pull 0", "pull 1"]
    stream.close()
    assert log == ["pull 0", "pull 1", "closed"]


def test_pipeline_runs_its_sequence_block_on_first_pull_and_feeds_its_output() -> None:
    calls: list[Utterance] = []

    class Spy(toyblocks.ToyEmbed):
        def forward(self, utt: Utterance) -> Utterance:
            calls.append(utt)
            return super().forward(utt)

    pipeline = StreamablePipeline(Spy(dim=2), toyblocks.ToyUpsample(repeat=1, chunk_frames=2))
    stream = pipeline.stream({"symbols": torch.tensor([1, 2, 3])}, None)
    assert calls == []
    first = next(stream)
    assert len(calls) == 1
    torch.testing.assert_close(first.frames, torch.tensor([[0.1, 0.2], [0.2, 0.4]]))
    assert [label for label, _ in pipeline.children()] == ["sequence_block", "streamable_block"]


def test_containers_nest_arbitrarily() -> None:
    log: list[str] = []
    inner = StreamablePipeline(AddKey("unused"), StreamableStack([Counter(4, log), Plain(3.0)]))
    outer = StreamableStack([inner, StreamablePipeline(AddKey("also_unused"), Plain(-1.0))])
    frames = torch.cat([c.frames for c in outer.stream({"symbols": torch.tensor([0])}, None)])
    assert frames.flatten().tolist() == [0.0, -3.0, -6.0, -9.0]


def test_output_kind_follows_the_stack() -> None:
    assert toyblocks.ToyGain().output_kind("waveform") == "waveform"
    decoder = toyblocks.ToyDecoder(network=None)  # type: ignore[arg-type]
    stack = StreamableStack([toyblocks.ToyUpsample(), decoder, toyblocks.ToyGain()])
    assert stack.output_kind() == "mel"
    assert StreamablePipeline(toyblocks.ToyEmbed(), stack).output_kind() == "mel"


class NewKeysOnly(SequenceBlock):
    """Returns only the key it adds, as the return rule allows."""

    def forward(self, utt: Utterance) -> Utterance:
        return {"doubled": utt["symbols"] * 2}


class ReadsBoth(StreamableBlock):
    """Streams symbols and doubled side by side: fails if the pipeline dropped either key."""

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        yield Chunk(frames=torch.stack([utt["symbols"], utt["doubled"]], dim=1).float(), start=0)


def test_a_block_returning_only_its_new_keys_works_in_both_containers() -> None:
    utt = {"symbols": torch.tensor([1, 2, 3])}
    container = SequenceBlockContainer([NewKeysOnly(), AddKey("after", source="doubled")])
    out = container.forward(utt)
    assert set(out) == {"symbols", "doubled", "after"}
    assert torch.equal(out["after"], torch.tensor([3, 5, 7]))
    frames = concat_chunks(StreamablePipeline(NewKeysOnly(), ReadsBoth()).stream(utt, None))
    assert frames.tolist() == [[1.0, 2.0], [2.0, 4.0], [3.0, 6.0]]
    assert set(utt) == {"symbols"}


def test_returned_keys_replace_and_calling_a_block_gives_the_whole_utterance() -> None:
    utt = {"symbols": torch.tensor([1, 2])}
    replacing = AddKey("symbols", offset=10)
    assert merge_outputs(utt, replacing.forward(utt))["symbols"].tolist() == [11, 12]
    assert NewKeysOnly()(utt).keys() == {"symbols", "doubled"}
    with pytest.raises(TypeError, match="must return a dict"):
        merge_outputs(utt, [1, 2])  # type: ignore[arg-type]


def test_close_is_forwarded_by_every_container() -> None:
    closed: list[str] = []

    class Closing(Plain):
        def close(self) -> None:
            closed.append(self.name)

    def named(name: str) -> Closing:
        block = Closing(1.0)
        block.name = name  # type: ignore[attr-defined]
        return block

    class ClosingSeq(NewKeysOnly):
        def close(self) -> None:
            closed.append("seq")

    tree = StreamableStack([StreamablePipeline(SequenceBlockContainer([ClosingSeq()]), named("inner")),
                            named("last")])
    with tree:
        pass
    assert closed == ["seq", "inner", "last"]

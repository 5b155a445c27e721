"""The one walk over a block tree and what is asked through it: find, flows, last_of_kind, replace, cut."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import ttsint
from ttsint import (
    Chunk,
    SequenceBlock,
    StreamableBlock,
    StreamablePipeline,
    StreamableStack,
    Utterance,
    cut,
    find,
    flows,
    last_of_kind,
    replace,
)


class Enc(SequenceBlock):
    def forward(self, utt: Utterance) -> Utterance:
        return {}


class Makes(StreamableBlock):
    """Hands on frames of ``kind``."""

    def __init__(self, kind: str) -> None:
        self.made = kind

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        yield from upstream or ()

    def output_kind(self, upstream_kind: str | None = None) -> str | None:
        return self.made


def acoustic() -> tuple[StreamableStack, dict[str, StreamableBlock]]:
    """stack[0] = pipeline(Enc, stack[up, dec]) making mel, stack[1] a vocoder making waveform."""
    parts = {"up": Makes("frames"), "dec": Makes("mel"), "voc": Makes("waveform")}
    inner = StreamableStack([parts["up"], parts["dec"]])
    root = StreamableStack([StreamablePipeline(Enc(), inner), parts["voc"]])
    root.config_path = "stack"
    return root, parts


def test_find_takes_a_class_or_a_predicate_and_gives_the_path() -> None:
    root, parts = acoustic()
    node = find(root, SequenceBlock)
    assert node is not None and node.path == "stack[0].sequence_block"
    node = find(root, lambda b: b is parts["dec"])
    assert node is not None and node.path == "stack[0].streamable_block.stack[1]" and node.label == "stack[1]"
    assert find(root, lambda b: False) is None


def test_flows_give_each_streamable_block_the_kinds_in_and_out() -> None:
    root, _ = acoustic()
    got = [(f.node.path, f.upstream_kind, f.kind, f.leaf) for f in flows(root, "text")]
    assert got == [
        ("", "text", "waveform", False),
        ("stack[0]", "text", "mel", False),
        ("stack[0].streamable_block", "text", "mel", False),
        ("stack[0].streamable_block.stack[0]", "text", "frames", True),
        ("stack[0].streamable_block.stack[1]", "frames", "mel", True),
        ("stack[1]", "mel", "waveform", True),
    ]


def test_last_of_kind_is_the_outermost_block_handing_on_the_last_frames_of_a_kind() -> None:
    root, parts = acoustic()
    assert last_of_kind(root, "mel").path == "stack[0]"  # the pipeline, not the decoder inside it
    assert last_of_kind(root, "frames").path == "stack[0].streamable_block.stack[0]"
    assert last_of_kind(root, "waveform").path == ""
    assert last_of_kind(root, "phonemes") is None
    # a second mel maker later in the stream is the one whose mel is last
    root.stack += [Makes("mel"), Makes("waveform")]
    assert last_of_kind(root, "mel").path == "stack[2]"


def test_replace_copies_the_containers_on_the_way_and_shares_the_rest() -> None:
    root, parts = acoustic()
    gain = Makes("mel")
    new = replace(root, "stack[0].streamable_block.stack[1]", parts["dec"], gain)
    leaves = [n.block for n in ttsint.walk(new) if not n.block.children()]
    assert leaves[-3:] == [parts["dec"], gain, parts["voc"]]
    assert new.config_path == "stack" and new is not root
    assert len(root.stack[0].streamable_block.stack) == 2  # the original is untouched
    assert new.stack[0].sequence_block is root.stack[0].sequence_block
    assert replace(root, "", gain) is gain
    with pytest.raises(ValueError, match="holds one block"):
        replace(root, "stack[0].streamable_block", gain, gain)
    with pytest.raises(KeyError, match="no block at 'stack\\[7\\]'"):
        replace(root, "stack[7]", gain)


def test_cut_streams_what_flows_into_or_out_of_a_block() -> None:
    root, parts = acoustic()
    before = cut(root, "stack[1]")
    assert before.output_kind() == "mel" and len(before.stack) == 1 and len(root.stack) == 2
    upto = cut(root, "stack[0].streamable_block.stack[0]", after=True)
    assert upto.output_kind() == "frames"
    assert [f.node.block for f in flows(upto) if f.leaf] == [parts["up"]]
    # nothing before the first block: its input is the tree's own upstream
    assert cut(root, "stack[0].streamable_block.stack[0]") is None
    assert cut(root, "", after=True) is root


def test_replace_names_a_container_whose_labels_are_not_its_attributes() -> None:
    class Odd(StreamableBlock):
        def __init__(self, inner: StreamableBlock) -> None:
            self.inner = inner

        def children(self) -> list[tuple[str, ttsint.Block]]:
            return [("part[0]", self.inner)]

    with pytest.raises(TypeError, match="Odd keeps its children elsewhere than in 'part'"):
        replace(Odd(Makes("mel")), "part[0]", Makes("mel"))


def test_a_rebuilt_container_derives_again_what_its_constructor_derives_from_its_children() -> None:
    class Counted(StreamableStack):
        def __init__(self, stack: list[StreamableBlock]) -> None:
            super().__init__(stack)
            self.count = len(self.stack)

    root = Counted([Makes("mel"), Makes("waveform")])
    root.config_path = "stack"
    longer = replace(root, "stack[0]", Makes("frames"), Makes("mel"))
    assert (longer.count, root.count, longer.config_path) == (3, 2, "stack")
    assert cut(root, "stack[1]").count == 1

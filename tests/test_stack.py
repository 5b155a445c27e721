"""The stack builder: specs become block trees, and every mistake is reported at its config path."""

from __future__ import annotations

import itertools
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import torch
import toyblocks
from ttsint import (
    ConfigError,
    PluginError,
    Registry,
    StreamablePipeline,
    StreamableStack,
    Voice,
    build_stack,
    format_tree,
    load_addon,
)

PIPELINE = {
    "type": "StreamablePipeline",
    "sequence_block": {"type": "ToyEmbed", "dim": 3},
    "streamable_block": {
        "type": "StreamableStack",
        "stack": [{"type": "ToyUpsample", "repeat": 2}, {"type": "ToyGain", "gain": 2.0}],
    },
}


def test_a_stack_list_builds_a_streamable_stack(toy_registry: Registry) -> None:
    block = build_stack([PIPELINE, {"type": "ToyGain", "gain": 0.5}], registry=toy_registry)
    assert isinstance(block, StreamableStack)
    pipeline, gain = block.stack
    assert isinstance(pipeline, StreamablePipeline) and isinstance(gain, toyblocks.ToyGain)
    inner = pipeline.streamable_block
    assert isinstance(inner, StreamableStack)
    assert [b.config_path for b in (block, pipeline, pipeline.sequence_block, inner, *inner.stack, gain)] == [
        "stack",
        "stack[0]",
        "stack[0].sequence_block",
        "stack[0].streamable_block",
        "stack[0].streamable_block.stack[0]",
        "stack[0].streamable_block.stack[1]",
        "stack[1]",
    ]
    assert pipeline.sequence_block.dim == 3 and inner.stack[0].repeat == 2 and gain.gain == 0.5


def test_a_one_block_stack_or_a_single_dict_builds_that_block(toy_registry: Registry) -> None:
    assert isinstance(build_stack([{"type": "ToyGain"}], registry=toy_registry), toyblocks.ToyGain)
    assert isinstance(build_stack({"type": "ToyEmbed"}, registry=toy_registry), toyblocks.ToyEmbed)


def test_built_stack_streams_what_its_blocks_compute(toy_registry: Registry) -> None:
    block = build_stack([PIPELINE, {"type": "ToyGain", "gain": 0.5}], registry=toy_registry)
    chunks = list(block.stream({"symbols": torch.tensor([1, 2, 3])}, None))
    assert [(c.start, len(c)) for c in chunks] == [(0, 4), (4, 2)]
    expected = torch.tensor([[1, 2, 3]], dtype=torch.float32).T.repeat_interleave(2, 0) * torch.tensor(
        [0.1, 0.2, 0.3]
    )
    torch.testing.assert_close(torch.cat([c.frames for c in chunks]), expected)


def test_context_params_come_from_the_addon_not_the_config(tiny_addon: Path, toy_registry: Registry) -> None:
    addon = load_addon(tiny_addon, registry=toy_registry)
    block = build_stack([{"type": "ToyDecoder", "chunk_frames": 3}], addon, registry=toy_registry)
    assert block.network.module is addon.networks["decoder"].module and block.chunk_frames == 3


def test_a_block_after_another_kind_of_frames_says_where_it_fits(tiny_addon: Path,
                                                                 toy_registry: Registry) -> None:
    addon = load_addon(tiny_addon, registry=toy_registry)
    stack = [*addon.stack, {"type": "ToyVocoder"}, {"type": "ToyVocoder"}]
    with pytest.raises(ConfigError) as info:
        build_stack(stack, addon, registry=toy_registry)
    assert info.value.path == "stack[3]"
    assert info.value.message == "ToyVocoder consumes mel; stack[2] produces waveform; put it at stack[2]"
    assert build_stack(stack[:3], addon, registry=toy_registry).output_kind() == "waveform"
    with pytest.raises(ConfigError, match=r"stack\[0\] produces waveform; nothing in this stack makes mel"):
        build_stack([{"type": "ToyVocoder"}, {"type": "ToyVocoder"}], registry=toy_registry)


def test_format_tree_shows_every_block_with_kind_and_origin(toy_registry: Registry) -> None:
    block = build_stack([PIPELINE, {"type": "ToyGain"}], registry=toy_registry)
    core = f"ttsint {metadata.version('ttsint')}"
    assert format_tree(block).splitlines() == [
        "StreamableStack [streamable, ttsint]",
        f"├─ stack[0]: StreamablePipeline [streamable, {core}]",
        "│  ├─ sequence_block: ToyEmbed [sequence]",
        f"│  └─ streamable_block: StreamableStack [streamable, {core}]",
        "│     ├─ stack[0]: ToyUpsample [streamable]",
        "│     └─ stack[1]: ToyGain [streamable]",
        "└─ stack[1]: ToyGain [streamable]",
    ]


def _pipeline(sequence: Any, streamable: Any) -> list[Any]:
    return [{"type": "StreamablePipeline", "sequence_block": sequence, "streamable_block": streamable}]


MALFORMED_STACKS = [
    pytest.param(
        _pipeline(
            {"type": "ToyEmbed"},
            {"type": "StreamableStack", "stack": [{"type": "ToyUpsample"}, {"type": "ToyGian"}]},
        ),
        "stack[0].streamable_block.stack[1].type",
        ["unknown streamable block type 'ToyGian'", "did you mean 'ToyGain'?"],
        id="nested-unknown-type",
    ),
    pytest.param(
        [{"type": "NeuronDecoder"}],
        "stack[0].type",
        [
            "unknown streamable block type 'NeuronDecoder'",
            "'NeuronDecoder' is provided by ttsint-inferentia: pip install ttsint-inferentia",
        ],
        id="first-party-hint",
    ),
    pytest.param(
        [{"type": "Zzzzqq"}],
        "stack[0].type",
        ["unknown streamable block type 'Zzzzqq'", "known: SequenceBlockContainer, StreamablePipeline"],
        id="unknown-lists-known",
    ),
    pytest.param(
        _pipeline({"type": "ToyEmbed"}, {"type": "StreamableStak", "stack": []}),
        "stack[0].streamable_block.type",
        ["did you mean 'StreamableStack'"],
        id="did-you-mean-core",
    ),
    pytest.param(
        [{"type": "ToyGain", "gian": 2}],
        "stack[0].gian",
        ["ToyGain has no parameter 'gian'", "did you mean 'gain'? accepted: gain"],
        id="unknown-parameter",
    ),
    pytest.param(
        [{"type": "ToyUpsample", "repeats": 2, "chunk_frames": 3}],
        "stack[0].repeats",
        ["ToyUpsample has no parameter 'repeats'", "accepted: repeat, chunk_frames"],
        id="unknown-parameter-2",
    ),
    pytest.param(
        [{"type": "StreamablePipeline", "sequence_block": {"type": "ToyEmbed"}}],
        "stack[0].streamable_block",
        ["StreamablePipeline requires 'streamable_block'", "required: sequence_block, streamable_block"],
        id="missing-required-parameter",
    ),
    pytest.param(
        _pipeline({"type": "ToyUpsample"}, {"type": "ToyUpsample"}),
        "stack[0].sequence_block.type",
        ["'ToyUpsample' is a streamable block, but this slot expects a sequence block"],
        id="streamable-as-sequence-block",
    ),
    pytest.param(
        [{"type": "ToyEmbed"}],
        "stack[0].type",
        ["'ToyEmbed' is a sequence block, but this slot expects a streamable block"],
        id="sequence-block-in-stack",
    ),
    pytest.param(
        _pipeline(
            {"type": "SequenceBlockContainer", "blocks": [{"type": "ToyEmbed"}, {"type": "ToyGain"}]},
            {"type": "ToyUpsample"},
        ),
        "stack[0].sequence_block.blocks[1].type",
        ["'ToyGain' is a streamable block"],
        id="wrong-kind-in-container",
    ),
    pytest.param(
        ["ToyGain"],
        "stack[0]",
        ["expected a streamable block spec (a table with a 'type' key), got str 'ToyGain'"],
        id="non-dict-spec",
    ),
    pytest.param(
        _pipeline(["ToyEmbed"], {"type": "ToyUpsample"}),
        "stack[0].sequence_block",
        ["expected a sequence block spec", "got list"],
        id="non-dict-nested-spec",
    ),
    pytest.param(
        [{"gain": 2}],
        "stack[0].type",
        ["missing; every streamable block spec needs a 'type'", "keys given: gain"],
        id="missing-type",
    ),
    pytest.param(
        [{"type": 7}],
        "stack[0].type",
        ["expected the name of a streamable block, got int 7"],
        id="type-not-a-name",
    ),
    pytest.param([], "stack", ["the stack is empty"], id="empty-stack"),
    pytest.param(
        [{"type": "ToyUpsample", "repeat": 0}],
        "stack[0].repeat",
        ["must be >= 1, got 0 and 4"],
        id="constructor-rejects-value",
    ),
    pytest.param(
        _pipeline({"type": "SequenceBlockContainer", "blocks": []}, {"type": "ToyUpsample"}),
        "stack[0].sequence_block.blocks",
        ["must be a non-empty list of sequence block specs"],
        id="empty-container",
    ),
    pytest.param(
        _pipeline({"type": "ToyEncoder"}, {"type": "ToyUpsample"}),
        "stack[0].sequence_block",
        ["ToyEncoder runs an addon's networks; build it with an addon"],
        id="block-needs-addon",
    ),
]


@pytest.mark.parametrize(("spec", "path", "fragments"), MALFORMED_STACKS)
def test_malformed_stack_is_reported_at_its_config_path(
    toy_registry: Registry, spec: Any, path: str, fragments: list[str]
) -> None:
    with pytest.raises(ConfigError) as info:
        build_stack(spec, registry=toy_registry)
    assert info.value.path == path
    text = str(info.value)
    assert text.startswith(f"{path}: ")
    for fragment in fragments:
        assert fragment in text


def test_blocks_needing_the_addon_report_where_in_it(tiny_addon: Path, toy_registry: Registry) -> None:
    addon = load_addon(tiny_addon, registry=toy_registry)
    with pytest.raises(ConfigError) as info:
        build_stack(
            _pipeline({"type": "ToyEncoder", "role": "vocoder"}, {"type": "ToyUpsample"}),
            addon,
            registry=toy_registry,
        )
    assert info.value.path == "stack[0].sequence_block.role"
    assert info.value.message == "the addon has no network with role 'vocoder'"


# -- one built stack, many streams ------------------------------------------------------------------


def _interleave(*streams: Any) -> list[list[torch.Tensor]]:
    outputs: list[list[torch.Tensor]] = [[] for _ in streams]
    for step in itertools.zip_longest(*streams):
        for out, chunk in zip(outputs, step, strict=True):
            if chunk is not None:
                out.append(chunk.frames)
    return outputs


def test_interleaved_streams_give_the_same_output_as_sequential_ones(
    tiny_addon: Path, toy_registry: Registry
) -> None:
    voice = Voice.load(tiny_addon, registry=toy_registry)
    texts = ("hello there, how are you?", "a quick test")
    sequential = [[c.frames for c in voice.stream(t)] for t in texts]
    interleaved = _interleave(*(voice.stream(t) for t in texts))
    for seq, inter in zip(sequential, interleaved, strict=True):
        assert len(seq) == len(inter) > 2
        for a, b in zip(seq, inter, strict=True):
            assert torch.equal(a, b)
    # Two streams of the same text, one step apart, also agree.
    first, second = voice.stream(texts[0]), voice.stream(texts[0])
    head = next(first)
    rest = _interleave(first, second)
    assert torch.equal(torch.cat([head.frames, *rest[0]]), torch.cat(rest[1]))


def test_chunked_stack_matches_the_networks_run_on_the_whole_utterance(
    tiny_addon: Path, toy_registry: Registry, tiny_models: Any
) -> None:
    voice = Voice.load(tiny_addon, registry=toy_registry)
    utt = voice.encode("streaming in windows")
    chunks = list(voice.stream_utterance(utt))
    assert [len(c) for c in chunks[:2]] == [2, 5]  # first_chunk_frames, then chunk_frames
    with torch.no_grad():
        encoding = tiny_models.encoder(utt["symbols"][None])
        reference = tiny_models.decoder(encoding.repeat_interleave(3, dim=1))[0]
    torch.testing.assert_close(torch.cat([c.frames for c in chunks]), reference, rtol=1e-5, atol=1e-5)


def test_an_exception_a_block_does_not_declare_is_reported_as_a_bug_in_it(toy_registry: Registry) -> None:
    with pytest.raises(PluginError) as info:
        build_stack(_pipeline({"type": "ToyRatio", "divisor": 0}, {"type": "ToyUpsample"}),
                    registry=toy_registry)
    assert str(info.value).startswith("stack[0].sequence_block: ToyRatio from plugin 'toy' raised "
                                      "ZeroDivisionError while being built: division by zero\n"
                                      "  this is a bug in ToyRatio")
    assert isinstance(info.value.__cause__, ZeroDivisionError)
    with pytest.raises(ConfigError) as declared:  # a ParameterError is the user's: a ConfigError at its key
        build_stack({"type": "ToyUpsample", "chunk_frames": 0}, registry=toy_registry)
    assert declared.value.path == "stack.chunk_frames"

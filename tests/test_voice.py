"""Voice: an addon with its stack built, text in and chunks out."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch
import toyblocks
from ttsint import Chunk, ConfigError, FrontendError, Registry, Voice, load_addon


def test_load_builds_the_addon_stack(tiny_addon: Path, toy_registry: Registry) -> None:
    voice = Voice.load(tiny_addon, registry=toy_registry)
    assert voice.addon.name == "tiny"
    pipeline, decoder = voice.block.stack
    assert isinstance(pipeline.sequence_block, toyblocks.ToyEncoder)
    assert isinstance(decoder, toyblocks.ToyDecoder)
    assert decoder.network.module is voice.addon.networks["decoder"].module
    assert voice.output_kind == "mel"


def test_stream_yields_contiguous_chunks_and_synthesize_joins_them(
    tiny_addon: Path, toy_registry: Registry
) -> None:
    voice = Voice.load(tiny_addon, registry=toy_registry)
    text = "Hello, world."
    chunks = list(voice.stream(text))
    assert all(isinstance(c, Chunk) for c in chunks)
    assert [c.start for c in chunks] == [0, 2, 7, 12, 17, 22, 27, 32, 37]
    whole = voice.synthesize(text)
    assert whole.shape == (len("hello, world.") * 3, 4)
    assert torch.equal(whole, torch.cat([c.frames for c in chunks]))
    assert voice.encode(text)["symbols"].shape == (13,)
    assert torch.equal(voice.synthesize("hello, world."), whole)  # the front end normalised the case


def test_stream_utterance_skips_the_front_end(tiny_addon: Path, toy_registry: Registry) -> None:
    voice = Voice.load(tiny_addon, registry=toy_registry)
    utt = voice.encode("abc")
    assert torch.equal(torch.cat([c.frames for c in voice.stream_utterance(utt)]), voice.synthesize("abc"))


def test_load_applies_overrides(tiny_addon: Path, toy_registry: Registry) -> None:
    plain = Voice.load(tiny_addon, registry=toy_registry).synthesize("abc")
    louder = Voice.load(tiny_addon, {"stack.2.type": "ToyGain", "stack.2.gain": 2.0}, registry=toy_registry)
    assert isinstance(louder.block.stack[2], toyblocks.ToyGain)
    torch.testing.assert_close(louder.synthesize("abc"), plain * 2)


def test_custom_stack_on_an_addon(tiny_addon: Path, toy_registry: Registry) -> None:
    addon = load_addon(tiny_addon, registry=toy_registry)
    voice = Voice(
        addon,
        stack=[
            {
                "type": "StreamablePipeline",
                "sequence_block": {"type": "ToyEncoder"},
                "streamable_block": {"type": "ToyUpsample", "repeat": 1},
            }
        ],
    )
    frames = voice.synthesize("abcd")
    torch.testing.assert_close(frames, addon.networks["encoder"].run(voice.encode("abcd"))["text_encoding"])
    assert voice.output_kind is None


def test_text_the_voice_cannot_say_fails_before_streaming(tiny_addon: Path, toy_registry: Registry) -> None:
    voice = Voice.load(tiny_addon, registry=toy_registry)
    with pytest.raises(FrontendError, match=r"cannot say the character\(s\) '@' \(U\+0040\)"):
        voice.stream("mail me @ home")


def test_stack_errors_name_the_addon(tiny_addon: Path, toy_registry: Registry) -> None:
    with pytest.raises(ConfigError) as info:
        Voice.load(tiny_addon, {"stack.1.type": "ToyDecodr"}, registry=toy_registry)
    assert info.value.source == str(tiny_addon.resolve())
    assert str(info.value).startswith(f"{tiny_addon.resolve()}: stack[1].type: unknown streamable block type")


def test_a_voice_needs_a_streamable_block_on_top(tiny_addon: Path, toy_registry: Registry) -> None:
    addon = load_addon(tiny_addon, registry=toy_registry)
    with pytest.raises(
        ConfigError, match="ToyEmbed is a sequence block; a voice's stack must produce frames"
    ):
        Voice(addon, stack={"type": "ToyEmbed"})


def test_one_voice_serves_streams_from_several_threads(tiny_addon: Path, toy_registry: Registry) -> None:
    voice = Voice.load(tiny_addon, registry=toy_registry)
    texts = [f"thread number {'abcdef'[i]} says hello" for i in range(6)]
    expected = [voice.synthesize(t) for t in texts]
    results: dict[int, torch.Tensor] = {}
    start = threading.Barrier(len(texts))

    def speak(i: int) -> None:
        start.wait()
        results[i] = torch.cat([c.frames for c in voice.stream(texts[i])])

    threads = [threading.Thread(target=speak, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i, frames in enumerate(expected):
        assert torch.equal(results[i], frames)

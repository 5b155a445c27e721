"""NeuronDecoder against Decoder: fixed windows, padding and context trimmed, streaming."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
import ttsint
from ttsint_inferentia import NeuronDecoder

from .conftest import cpu_static, mel

TOL = 1e-4
DECODER = "stack.0.streamable_block.stack.1"


def decoder_voice(cache_dir: Path, **params: object) -> ttsint.Voice:
    return ttsint.Voice.load("demo", overrides={
        f"{DECODER}.type": "NeuronDecoder", f"{DECODER}.runtime": cpu_static(cache_dir),
        **{f"{DECODER}.{k}": v for k, v in params.items()}})


def upstream(frames: torch.Tensor, size: int = 32) -> Iterator[ttsint.Chunk]:
    for start in range(0, frames.shape[0], size):
        yield ttsint.Chunk(frames[start:start + size], start)


@pytest.fixture(scope="module")
def decoder(cache_dir: Path) -> NeuronDecoder:
    block = decoder_voice(cache_dir).block.streamable_block.stack[1]
    assert isinstance(block, NeuronDecoder)
    return block


@pytest.fixture(scope="module")
def whole(ref_voice: ttsint.Voice) -> Callable[[torch.Tensor], torch.Tensor]:
    net = ref_voice.addon.networks["decoder"]
    return lambda frames: net.run({"frames": frames})["mel"]


def test_every_frame_count_up_to_300(decoder: NeuronDecoder,
                                     whole: Callable[[torch.Tensor], torch.Tensor]) -> None:
    assert decoder.window_frames == 64 + 2 * 14
    gen = torch.Generator().manual_seed(0)
    frames = torch.randn(300, 64, generator=gen)
    worst = 0.0
    for t in range(1, 301):
        out = ttsint.concat_chunks(decoder.stream({}, upstream(frames[:t])))
        assert out.shape == (t, 80)
        worst = max(worst, float((out - whole(frames[:t])).abs().max()))
    assert worst <= TOL


@pytest.mark.parametrize("params", [{}, {"chunk_frames": 7}, {"chunk_frames": 32, "first_chunk_frames": 5},
                                    {"context_frames": 20}])
@pytest.mark.parametrize("n", [1, 33, 257, 2000])
def test_mel_equals_decoder(n: int, params: dict, ref_voice: ttsint.Voice, cache_dir: Path,
                            symbols: Callable[[int], torch.Tensor]) -> None:
    voice = decoder_voice(cache_dir, **params)
    a, b = mel(ref_voice, symbols(n)), mel(voice, symbols(n))
    assert a.shape == b.shape
    assert float((a - b).abs().max()) <= TOL


def test_streams_before_the_utterance_is_upsampled(decoder: NeuronDecoder) -> None:
    pulled = []

    def counting(frames: torch.Tensor) -> Iterator[ttsint.Chunk]:
        for chunk in upstream(frames, 16):
            pulled.append(chunk.end)
            yield chunk

    stream = decoder.stream({}, counting(torch.randn(1000, 64)))
    first = next(stream)
    assert first.start == 0 and len(first) == decoder.first_chunk_frames
    assert pulled[-1] < 1000 and pulled[-1] <= decoder.first_chunk_frames + decoder.context_frames + 16
    stream.close()


def test_one_compiled_shape_and_the_report(cache_dir: Path) -> None:
    block = decoder_voice(cache_dir).block.streamable_block.stack[1]
    ttsint.concat_chunks(block.stream({}, upstream(torch.randn(100, 64))))
    # First window: 78 output frames + 14 right context = 92, no padding. Second: 14 + 22 frames, 56 padded.
    report = block.report()
    assert (report["windows"], report["computed"], report["padded"]) == (2, 184, 56)
    assert report["padding_waste"] == pytest.approx(56 / 184)
    for t in (1, 5, 91, 92, 93, 300):
        ttsint.concat_chunks(block.stream({}, upstream(torch.randn(t, 64))))
    assert block.report()["streams"] == 7
    runtime = block.network.executable.report()
    assert runtime["runtime"] == "cpu-static"
    assert runtime.get("compiles", 0) + runtime.get("cache_hits", 0) == 1
    assert block.network.executable.shapes == ["float32[1x92x64], float32[1x92]"]


def test_abandoned_streams_are_still_counted(cache_dir: Path) -> None:
    block = decoder_voice(cache_dir).block.streamable_block.stack[1]
    stream = block.stream({}, upstream(torch.randn(500, 64)))
    next(stream)
    stream.close()
    assert block.report()["windows"] == 1 and block.report()["streams"] == 1


@pytest.mark.parametrize(("params", "message"), [
    ({"context_frames": 13}, r"less than the receptive field of network 'decoder' \(14\)"),
    ({"first_chunk_frames": 79}, "first_chunk_frames must be between 1 and"),
    ({"runtime": "tpu"}, r"stack\[0\]\.streamable_block\.stack\[1\]\.runtime: unknown runtime 'tpu'"),
])
def test_bad_parameters_are_config_errors(params: dict, message: str, cache_dir: Path) -> None:
    with pytest.raises(ttsint.ConfigError, match=message):
        decoder_voice(cache_dir, **params)

"""WindowedNetworkBlock: context resolved once against the receptive field, one rule in every subclass."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
import ttsint
from ttsint import Network, ParameterError, WindowedNetworkBlock
from ttsint._data import SEGMENT_KEY
from ttsint.testing import check_streamable_block
from ttsint_dsp import NetworkVocoder
from ttsint_encoders import Decoder
from ttsint_inferentia import NeuronDecoder


class Smear(torch.nn.Module):
    """Averages each frame with its neighbours two frames away: a receptive field of 2, masked."""

    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = frames * mask.unsqueeze(-1)
        padded = torch.nn.functional.pad(x.transpose(1, 2), (2, 2)).transpose(1, 2)
        return (padded[:, :-4] + padded[:, 2:-2] + padded[:, 4:]) / 3


@pytest.fixture(scope="module")
def smear_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Smear exported with torch.export: NeuronDecoder keys its compile cache by the file's hash."""
    path = tmp_path_factory.mktemp("smear") / "smear.pt2"
    time = torch.export.Dim("time", min=2, max=4096)
    program = torch.export.export(Smear(), (torch.randn(1, 16, 4), torch.ones(1, 16)),
                                  dynamic_shapes=({1: time}, {1: time}))
    torch.export.save(program, str(path))
    return path


@pytest.fixture
def net(smear_file: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[int | None], Network]:
    monkeypatch.setenv("TTSINT_CACHE_DIR", str(tmp_path))
    module = torch.export.load(str(smear_file)).module()

    def make(receptive_field: int | None) -> Network:
        return Network("smear", "decoder", ["frames", "mask"], ["mel"], path=smear_file, module=module,
                       receptive_field=receptive_field)

    return make


def build(cls: type, network: Network, **params) -> WindowedNetworkBlock:
    if cls is NetworkVocoder:
        return cls(network, 16000, 4, 4, **params)  # each 4-bin frame read as 4 samples
    return cls(network, **params)


SUBCLASSES = [WindowedNetworkBlock, Decoder, NeuronDecoder, NetworkVocoder]


@pytest.mark.parametrize("cls", SUBCLASSES, ids=lambda c: c.__name__)
def test_no_receptive_field_is_an_error_in_every_subclass(cls: type, net) -> None:
    with pytest.raises(ParameterError, match="declares no receptive_field") as info:
        build(cls, net(None))
    assert info.value.key == "exact" and "exact = false" in str(info.value)


@pytest.mark.parametrize("cls", SUBCLASSES, ids=lambda c: c.__name__)
def test_exact_false_streams_and_says_so_in_the_report(cls: type, net) -> None:
    block = build(cls, net(None), exact=False, context_frames=1)
    assert block.context_frames == 1
    assert block.report()["exact"] is False
    assert "exact=false" in block.describe()
    frames = torch.randn(20, 4)
    out = ttsint.concat_chunks(block.stream({}, iter([ttsint.Chunk(frames, 0)])))
    assert out.shape[0] == 20 * block.output_rate


@pytest.mark.parametrize("cls", SUBCLASSES, ids=lambda c: c.__name__)
def test_context_below_the_receptive_field_is_refused_and_default_is_exact(cls: type, net) -> None:
    with pytest.raises(ParameterError, match=r"less than the receptive field of network 'smear' \(2\)"):
        build(cls, net(2), context_frames=1)
    block = build(cls, net(2), chunk_frames=5, first_chunk_frames=3)
    assert block.context_frames == 2 and block.report().get("exact", True) is True
    frames = torch.randn(23, 4)
    streamed = check_streamable_block(block, {}, frames, atol=1e-5)
    whole = block.run_all(frames)
    assert torch.allclose(streamed, whole, atol=1e-5)


def test_one_input_plus_mask_is_checked_once() -> None:
    two = Network("two", "decoder", ["a", "b"], ["mel"], path=None, module=Smear(), receptive_field=0)
    with pytest.raises(ParameterError, match="one frame input plus an optional mask"):
        Decoder(two)
    unmasked = Network("plain", "decoder", ["frames"], ["mel"], path=None, module=Smear(), receptive_field=0)
    with pytest.raises(ParameterError, match="takes no 'mask' input"):
        NeuronDecoder(unmasked)


def test_from_config_reports_the_missing_receptive_field_at_the_blocks_path() -> None:
    with pytest.raises(ttsint.ConfigError, match="declares no receptive_field") as info:
        ttsint.Voice.load("demo", {"networks.decoder.receptive_field": None})
    assert info.value.path == "stack[0].streamable_block.stack[1].exact"
    voice = ttsint.Voice.load("demo", {"networks.decoder.receptive_field": None,
                                       "stack.0.streamable_block.stack.1.exact": False,
                                       "stack.0.streamable_block.stack.1.context_frames": 14})
    assert voice.synthesize("hello").shape[1] == 80
    decoder = voice.block.streamable_block.stack[1]
    assert decoder.report() == {"exact": False, "context_frames": 14}


@pytest.mark.parametrize("cls", [Decoder, NetworkVocoder], ids=lambda c: c.__name__)
def test_growing_windows_stream_exactly_and_say_so(cls: type, net) -> None:
    block = build(cls, net(2), chunk_frames=8, first_chunk_frames=2, chunk_growth=2)
    assert "chunk_growth=2" in block.describe()
    frames = torch.randn(31, 4)
    chunks = list(block.stream({}, iter([ttsint.Chunk(frames, 0)])))
    assert [len(c) // block.output_rate for c in chunks] == [2, 4, 8, 8, 8, 1]
    streamed = check_streamable_block(block, {}, frames, atol=1e-5)
    assert torch.allclose(streamed, block.run_all(frames), atol=1e-5)


@pytest.mark.parametrize("cls", [Decoder, NetworkVocoder], ids=lambda c: c.__name__)
def test_a_later_segment_starts_at_the_second_window_and_streams_exactly(cls: type, net) -> None:
    """Readied while earlier segments play, a later one spares the small first window and its context."""
    block = build(cls, net(2), chunk_frames=8, first_chunk_frames=2, chunk_growth=2)
    frames = torch.randn(31, 4)
    later = {SEGMENT_KEY: np.array(1)}
    chunks = list(block.stream(later, iter([ttsint.Chunk(frames, 0)])))
    assert [len(c) // block.output_rate for c in chunks] == [4, 8, 8, 8, 3]
    first = list(block.stream({SEGMENT_KEY: np.array(0)}, iter([ttsint.Chunk(frames, 0)])))
    assert [len(c) // block.output_rate for c in first] == [2, 4, 8, 8, 8, 1]
    streamed = check_streamable_block(block, later, frames, atol=1e-5)
    assert torch.allclose(streamed, block.run_all(frames), atol=1e-5)


def test_voice_stream_numbers_its_segments(net) -> None:
    seen: list[int] = []
    voice = ttsint.Voice.load("demo")
    real = voice.block.stream

    def stream(utt, upstream):
        seen.append(int(utt[SEGMENT_KEY]))
        return real(utt, upstream)

    voice.block.stream = stream
    list(voice.stream("One. Two. Three.", lookahead=False))
    assert seen == [0, 1, 2]


def test_chunk_growth_is_checked(net) -> None:
    with pytest.raises(ParameterError, match="must be a number > 1"):
        Decoder(net(2), chunk_growth=1)

    class Fixed(WindowedNetworkBlock):
        fixed_window = True

    with pytest.raises(ParameterError, match="cannot grow"):
        Fixed(net(2), chunk_frames=8, chunk_growth=2)

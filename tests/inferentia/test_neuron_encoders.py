"""NeuronEncoders against Encoders on the demo addon: bucket padding, splitting at word starts, stitching."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import ttsint
from ttsint_inferentia import NeuronEncoders
from ttsint_inferentia.encoders import DEFAULT_BUCKETS

from .conftest import mel, neuron_overrides

TOL = 1e-4
OUTPUTS = ("text_encoding", "durations")


def max_diff(a: ttsint.Utterance, b: ttsint.Utterance) -> float:
    assert a["text_encoding"].shape == b["text_encoding"].shape
    assert a["durations"].shape == b["durations"].shape
    return max(float((a[k] - b[k]).abs().max()) for k in OUTPUTS)


def test_every_length_up_to_320_with_small_buckets(ref_voice: ttsint.Voice, small_voice: ttsint.Voice,
                                                   symbols: Callable[[int], torch.Tensor]) -> None:
    ref, fixed = ref_voice.block.sequence_block, small_voice.block.sequence_block
    worst = max(max_diff(ref.forward({"symbols": symbols(n)}), fixed.forward({"symbols": symbols(n)}))
                for n in range(1, 321))
    assert worst <= TOL


@pytest.mark.parametrize("n", [1, 2, 31, 32, 33, 63, 64, 65, 127, 128, 129, 255, 256, 257, 511, 512, 513,
                               1000, 1999, 2000])
def test_bucket_boundaries_and_long_inputs(n: int, ref_voice: ttsint.Voice, neuron_voice: ttsint.Voice,
                                           symbols: Callable[[int], torch.Tensor]) -> None:
    utt = {"symbols": symbols(n)}
    assert max_diff(ref_voice.block.sequence_block.forward(utt),
                    neuron_voice.block.sequence_block.forward(utt)) <= TOL


@pytest.mark.parametrize("n", [1, 31, 32, 33, 64, 256, 257, 2000])
def test_mel_equals_the_dynamic_stack(n: int, ref_voice: ttsint.Voice, neuron_voice: ttsint.Voice,
                                      symbols: Callable[[int], torch.Tensor]) -> None:
    a, b = mel(ref_voice, symbols(n)), mel(neuron_voice, symbols(n))
    assert a.shape == b.shape
    assert float((a - b).abs().max()) <= TOL


def test_text_from_the_front_end(ref_voice: ttsint.Voice, small_voice: ttsint.Voice) -> None:
    text = "Hello world, this is a longer sentence to split. " * 3
    a, b = ref_voice.synthesize(text), small_voice.synthesize(text)
    assert float((a - b).abs().max()) <= TOL


def test_long_utterances_split_at_word_starts(small_voice: ttsint.Voice,
                                              symbols: Callable[[int], torch.Tensor]) -> None:
    block = small_voice.block.sequence_block
    assert isinstance(block, NeuronEncoders)
    assert block.context == 6  # text_encoder's field; duration_predictor's (2) runs beside it
    seq = symbols(700)
    starts = block.word_starts(seq)
    assert starts and all(int(seq[s - 1]) == block.space_id for s in starts)
    spans = ttsint.split_spans(700, 64, block.context, starts)
    assert len(spans) > 10
    assert all(s.keep_start in starts for s in spans[1:])


def test_report_counts_pieces_and_padding(ref_voice: ttsint.Voice, cache_dir, symbols) -> None:
    voice = ttsint.Voice.load("demo", overrides=neuron_overrides(
        cache_dir, **{"stack.0.sequence_block.buckets": [32, 64]}))
    block = voice.block.sequence_block
    block.forward({"symbols": symbols(20)})
    report = block.report()
    assert report["pieces"] == 1 and report["split_utterances"] == 0
    assert report["computed"] == 2 * 32 and report["padded"] == 2 * 12
    assert report["padding_waste"] == pytest.approx(12 / 32)
    assert all(n.executable.shapes == ["int64[1x32], float32[1x32]"] for n in block.networks)  # one bucket
    block.forward({"symbols": symbols(300)})
    after = block.stats.snapshot()
    assert after["utterances"] == 2 and after["split_utterances"] == 1 and after["pieces"] > 5
    assert "approximate" not in block.report()


def test_networks_without_receptive_field_are_reported_approximate(ref_voice: ttsint.Voice, cache_dir,
                                                                   symbols) -> None:
    encoders = ref_voice.addon.networks_with_role("encoder")
    networks = [dataclasses.replace(n, receptive_field=None) for n in encoders]
    block = NeuronEncoders(networks, buckets=[64, 128])
    assert block.context == 32  # a quarter of the largest bucket, for want of a declared field
    block.forward({"symbols": symbols(100)})
    assert "approximate" not in block.report()  # unsplit: exact
    block.forward({"symbols": symbols(300)})
    assert "text_encoder" in block.report()["approximate"]


def test_context_below_receptive_field_is_a_config_error(cache_dir) -> None:
    with pytest.raises(ttsint.ConfigError, match=r"sequence_block\.context_symbols: .*receptive field"):
        ttsint.Voice.load("demo", overrides=neuron_overrides(
            cache_dir, **{"stack.0.sequence_block.context_symbols": 3}))


def test_bucket_too_small_for_context_is_a_config_error(cache_dir) -> None:
    with pytest.raises(ttsint.ConfigError, match="largest bucket 12"):
        ttsint.Voice.load("demo", overrides=neuron_overrides(
            cache_dir, **{"stack.0.sequence_block.buckets": [12]}))


EVERYDAY = Path(__file__).parents[2] / "benchmarks" / "everyday.txt"


@pytest.mark.parametrize("buckets, low, high", [(None, 0.0, 0.20), ([32, 64, 128, 256], 0.20, 1.0)])
def test_sentences_waste_little_on_the_default_buckets(buckets: list[int] | None, low: float,
                                                       high: float) -> None:
    """Texts reach the encoders a sentence at a time, so the default buckets are sized for sentences:
    26 everyday sentences waste at most a fifth of the compute on padding (2x steps waste more)."""
    sentences = [line for line in EVERYDAY.read_text(encoding="utf-8").splitlines() if line.strip()][:26]
    swap = {"stack.0.sequence_block.type": "NeuronEncoders", "stack.0.sequence_block.runtime": "torch"}
    voice = ttsint.Voice.load("demo", {**swap, **({"stack.0.sequence_block.buckets": buckets} if buckets
                                                  else {})})
    block = voice.block.sequence_block
    assert buckets or block.buckets == list(DEFAULT_BUCKETS)
    for _, utt in voice.segments(" ".join(sentences)):
        block(ttsint.utterance_to(utt, None, block.arrays))
    report = block.report()
    assert report["utterances"] == 26
    assert low <= report["padding_waste"] <= high

"""The Decoder streams exactly: chunked mel equals full-utterance mel for every length and chunk size."""

from __future__ import annotations

import pytest
import torch
import ttsint
from ttsint_encoders import Decoder, Upsampler

LENGTHS = [1, 2, 3, 7, 31, 64, 129, 500, 1000, 2000]
CHUNKINGS = [(1, 1), (5, 2), (16, None), (64, 16), (333, 50), (4096, None)]


def _full_mel(voice: ttsint.Voice, utt):
    pipe = voice.block
    encoded = pipe.sequence_block.forward(utt)
    upsampler, decoder = pipe.streamable_block.stack
    frames = torch.cat([c.frames for c in upsampler.stream(encoded, None)])
    return decoder.decode_all(frames), encoded


@pytest.mark.parametrize("n", LENGTHS)
def test_streamed_mel_equals_full_utterance_mel(demo, random_text, n):
    text = random_text(n, seed=n)
    utt = demo.encode(text)
    full, encoded = _full_mel(demo, utt)
    upsampler = demo.block.streamable_block.stack[0]
    for chunk_frames, first in CHUNKINGS:
        if chunk_frames * 100 < n:
            continue  # thousands of network calls: slow, and tiny chunks are covered by shorter inputs
        decoder = Decoder(demo.addon.networks["decoder"], chunk_frames=chunk_frames, first_chunk_frames=first)
        chunks = list(decoder.stream(encoded, upsampler.stream(encoded, None)))
        streamed = ttsint.concat_chunks(chunks)
        assert streamed.shape == full.shape
        assert (streamed - full).abs().max().item() <= 1e-5, (n, chunk_frames, first)
        if first is not None and full.shape[0] > first:
            assert len(chunks[0]) == first


def test_voice_stream_matches_synthesize_and_yields_several_chunks(demo, random_text):
    text = random_text(200, seed=3)
    chunks = list(demo.stream(text))
    assert len(chunks) > 3
    assert [c.start for c in chunks] == [sum(len(c) for c in chunks[:i]) for i in range(len(chunks))]
    assert torch.equal(torch.cat([c.frames for c in chunks]), demo.synthesize(text))


def test_first_chunk_comes_before_the_decoder_has_seen_the_utterance(demo, random_text):
    """Instrumented, not timed: count the upsampled frames pulled when the first mel chunk appears."""
    utt = demo.block.sequence_block.forward(demo.encode(random_text(400, seed=1)))
    upsampler, decoder = demo.block.streamable_block.stack
    total = int(upsampler.frame_counts(utt).sum())
    pulled = 0

    def counting(chunks):
        nonlocal pulled
        for chunk in chunks:
            pulled += len(chunk)
            yield chunk

    stream = decoder.stream(utt, counting(upsampler.stream(utt, None)))
    first = next(stream)
    assert len(first) == decoder.first_chunk_frames
    assert pulled <= decoder.first_chunk_frames + decoder.context_frames + upsampler.chunk_frames
    assert pulled < total / 10
    stream.close()


def test_upsampler_never_materialises_more_than_a_chunk(demo, random_text):
    utt = demo.block.sequence_block.forward(demo.encode(random_text(300, seed=2)))
    up = Upsampler(chunk_frames=40)
    sizes = [len(c) for c in up.stream(utt, None)]
    assert max(sizes) == 40 and sum(sizes) == int(up.frame_counts(utt).sum())


def test_upsampler_repeats_by_rounded_durations_and_pace():
    enc = torch.arange(3, dtype=torch.float32).unsqueeze(1).repeat(1, 2)
    utt = {"text_encoding": enc, "durations": torch.tensor([2.4, 0.2, 3.0])}
    frames = torch.cat([c.frames for c in Upsampler(chunk_frames=2).stream(utt, None)])
    assert frames[:, 0].tolist() == [0, 0, 2, 2, 2]
    fast = torch.cat([c.frames for c in Upsampler(pace=2.0).stream(utt, None)])
    assert fast[:, 0].tolist() == [0, 2, 2]  # 1.2 -> 1, 0.1 -> 0, 1.5 -> 2


def test_pace_makes_speech_shorter(demo):
    text = "the quick brown fox"
    slow = demo.synthesize(text)
    fast = ttsint.Voice.load("demo", {"stack.0.streamable_block.stack.0.pace": 1.5}).synthesize(text)
    assert fast.shape[0] < slow.shape[0] * 0.75


def test_context_below_receptive_field_is_refused():
    with pytest.raises(ttsint.ConfigError, match="receptive field") as info:
        ttsint.Voice.load("demo", {"stack.0.streamable_block.stack.1.context_frames": 3})
    assert info.value.path == "stack[0].streamable_block.stack[1].context_frames"


def test_demo_output_is_plausible(demo):
    text = "hello world, this is the demo voice."
    mel = demo.synthesize(text)
    n = demo.encode(text)["symbols"].shape[0]
    assert mel.shape[1] == 80
    assert 5 <= mel.shape[0] / n <= 10
    assert -12 <= mel.min().item() and mel.max().item() <= 2


def test_sentences_stream_exactly_as_alone_with_durations_for_each_symbol(demo):
    """The demo's real networks, sentence by sentence: each segment equals its own synthesis."""
    text = "the cat sat on the mat. it was warm, and it slept! did it dream?"
    stream = demo.stream(text)
    chunks = list(stream)
    assert [s.text for s in stream.segments] == ["the cat sat on the mat.", "it was warm, and it slept!",
                                                 "did it dream?"]
    whole = torch.cat([c.frames for c in chunks])
    pause = round(demo.segment_settings.pause / demo.frame_seconds)
    for i, segment in enumerate(stream.segments):
        alone = ttsint.concat_chunks(demo.stream_utterance(demo.encode(segment.text)))
        assert torch.equal(whole[segment.start:segment.end], alone)
        assert int(segment.symbol_frames.sum()) == segment.end - segment.start  # the Upsampler's durations
        assert len(segment.word_ids) == len(segment.symbol_frames)
        if i:
            assert segment.start == stream.segments[i - 1].end + pause
            assert not whole[segment.start - pause:segment.start].any()

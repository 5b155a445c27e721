"""Taps: the frames of one kind seen while a voice streams, sentence by sentence, in the one run."""

from __future__ import annotations

import torch
import ttsint
from ttsint._tap import tap


def test_a_tap_sees_each_sentence_in_order_while_the_voice_streams() -> None:
    text = "One sentence here. And a second, longer one follows it. Then a third."
    with ttsint.Voice.load("demo") as mel_voice:  # the demo stack ends in mel
        expected = [ttsint.concat_chunks(mel_voice.stream_utterance(u)) for _, u in mel_voice.segments(text)]
    seen: dict[int, list[ttsint.Chunk]] = {}
    with ttsint.Voice.load("demo", {"stack.1.type": "GriffinLim", "stack.1.n_iter": 2}) as voice:
        tapped = tap(voice.block, "mel", lambda stream, chunk: seen.setdefault(stream, []).append(chunk))
        assert tapped is not None and tapped.output_kind() == "waveform"
        voice.block = tapped
        assert voice.synthesize(text).shape[1] == 1
    mel = [torch.cat([c.frames for c in seen[n]]) for n in sorted(seen)]
    assert len(mel) == len(expected) == 3
    for got, want in zip(mel, expected, strict=True):
        assert torch.allclose(got, want, atol=1e-4)


def test_nothing_to_tap_is_none() -> None:
    with ttsint.Voice.load("demo") as voice:
        assert tap(voice.block, "waveform", lambda stream, chunk: None) is None

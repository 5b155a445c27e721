"""A request's ``speed`` (``Voice.stream(text, params={"speed": s})``) on every architecture: en-rms's
Upsampler, Piper's encoder (length_scale / speed) and Kokoro's network (its speed input), each on one built
stack with no copy, and two requests at different speeds interleaved chunk by chunk hear no each other."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import ttsint

pytestmark = pytest.mark.slow  # loads three real voices and speaks four times on each

TEXT = "Hello world, this is a test of speed. A second sentence follows here."
# Piper's durations are ceil(w * length_scale) per phoneme and the pause between sentences is fixed, so
# its speed-2 speech is not quite half as long (measured 1.65x shorter); en-rms 1.90x, Kokoro 1.81x.
VOICES = {"en-rms": (1.8, 2.1), "en_US-joe-medium": (1.5, 2.1), "kokoro-af_heart": (1.6, 2.1)}
QUIET = {"en_US-joe-medium": {"stack.0.sequence_block.noise_scale": 0, "stack.0.sequence_block.noise_w": 0}}


def _audio(chunks) -> np.ndarray:
    return np.concatenate([ttsint.to_numpy(c.frames) for c in chunks])


@pytest.mark.parametrize("name", list(VOICES))
def test_speed_reaches_the_blocks_of_one_built_stack(name: str) -> None:
    low, high = VOICES[name]
    with ttsint.Voice.load(name, QUIET.get(name)) as voice:
        assert "speed" in voice.request_params
        block = voice.block
        alone = {s: _audio(voice.stream(TEXT, params={"speed": s})) for s in (1.0, 2.0)}
        assert low <= len(alone[1.0]) / len(alone[2.0]) <= high
        # Two requests at speeds 2 and 1, interleaved chunk by chunk on the same stack.
        got: dict[float, list[np.ndarray]] = {2.0: [], 1.0: []}
        for fast, slow in itertools.zip_longest(voice.stream(TEXT, params={"speed": 2.0}),
                                                voice.stream(TEXT, params={"speed": 1.0})):
            if fast is not None:
                got[2.0].append(ttsint.to_numpy(fast.frames))
            if slow is not None:
                got[1.0].append(ttsint.to_numpy(slow.frames))
        for speed, parts in got.items():
            np.testing.assert_array_equal(np.concatenate(parts), alone[speed])
        # No speed at all is the speed-1 speech; the stack was not replaced.
        np.testing.assert_array_equal(_audio(voice.stream(TEXT)), alone[1.0])
        assert voice.block is block


def test_a_speed_out_of_range_is_a_parameter_error() -> None:
    with ttsint.Voice.load("en-rms") as voice, pytest.raises(ttsint.ParameterError, match="speed"):
        _audio(voice.stream("Hello.", params={"speed": 0.0}))

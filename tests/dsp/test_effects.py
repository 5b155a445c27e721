"""Mel effects and Pace: what each does, and chunked output equal to one-shot output."""

from __future__ import annotations

import math

import pytest
import torch
import ttsint
from ttsint_dsp import Gain, MelShift, Normalize, Pace, Smooth, Tilt
from ttsint_dsp.effects import db_to_log

EFFECTS = [
    pytest.param(lambda: Gain(6.0), id="Gain"),
    pytest.param(lambda: Tilt(db=-12.0, eq=[3.0, 0.0, -3.0, 1.0]), id="Tilt"),
    pytest.param(lambda: MelShift(2.5), id="MelShift"),
    pytest.param(lambda: MelShift(-3.0, fill=-11.5), id="MelShift-fill"),
    pytest.param(lambda: Smooth(frames=5, chunk_frames=8), id="Smooth"),
    pytest.param(lambda: Normalize(target_db=-10.0, window=20, lookahead=4, chunk_frames=8), id="Normalize"),
]


@pytest.mark.parametrize("make", EFFECTS)
@pytest.mark.parametrize("size", [1, 3, 16, 1000])
def test_chunked_equals_one_shot(make, size, run, random_mel):
    block = make()
    one_shot = run(block, random_mel, random_mel.shape[0])
    streamed = run(block, random_mel, size)
    assert streamed.shape == random_mel.shape
    assert torch.equal(streamed, one_shot)


def test_gain_adds_decibels(run, random_mel):
    out = run(Gain(20.0), random_mel, 10)
    assert torch.allclose(out - random_mel, torch.full_like(random_mel, math.log(10.0)))


def test_tilt_pivots_in_the_middle_and_eq_interpolates():
    curve = Tilt(db=10.0).curve(81)
    assert (
        curve[0] == pytest.approx(-5.0)
        and curve[40] == pytest.approx(0.0)
        and curve[80] == pytest.approx(5.0)
    )
    eq = Tilt(eq=[0.0, 6.0]).curve(3)
    assert eq.tolist() == pytest.approx([0.0, 3.0, 6.0])


def test_melshift_moves_bins_up():
    frames = torch.arange(10.0).repeat(2, 1)
    out = MelShift(2).apply(frames)
    assert out[0, 2:].tolist() == frames[0, :-2].tolist()
    assert out[0, :2].tolist() == [0.0, 0.0]  # the edge bin repeats


def test_smooth_keeps_a_constant_and_spreads_an_impulse(run):
    frames = torch.zeros(9, 4)
    frames[4] = 1.0
    out = run(Smooth(frames=3), frames, 2)
    assert out[:, 0].tolist() == pytest.approx([0, 0, 0, 0.25, 0.5, 0.25, 0, 0, 0])
    assert torch.allclose(run(Smooth(frames=7), torch.full((5, 3), 2.0), 1), torch.full((5, 3), 2.0))


def test_normalize_reaches_the_target_level(run):
    quiet = torch.full((60, 80), math.log(0.01))  # -40 dB in every bin
    out = run(Normalize(target_db=-20.0, window=10, lookahead=3), quiet, 7)
    assert torch.allclose(out, torch.full_like(out, math.log(0.1)), atol=1e-5)
    limited = run(Normalize(target_db=0.0, max_gain_db=6.0), quiet, 7)
    assert torch.allclose(limited - quiet, torch.full_like(quiet, db_to_log(6.0)), atol=1e-5)


def test_effect_needs_an_upstream():
    with pytest.raises(ttsint.StreamError, match="cannot be the first"):
        list(Gain(1.0).stream({}, None))


def test_bad_parameters_are_config_errors():
    with pytest.raises(ttsint.ConfigError, match=r"stack\[1\]\.frames: must be a positive odd number"):
        ttsint.build_stack([{"type": "Gain", "db": 1}, {"type": "Smooth", "frames": 4}])


def test_pace_scales_float_durations():
    utt = {"durations": torch.tensor([4.0, 6.0, 2.0])}
    assert Pace(2.0).forward(utt)["durations"].tolist() == [2.0, 3.0, 1.0]


def test_pace_rounds_integer_durations_on_their_running_sum():
    out = Pace(1.5).forward({"durations": torch.tensor([3, 3, 3, 3, 3])})["durations"]
    assert out.dtype == torch.int64 and int(out.sum()) == 10


def test_pace_in_a_sequence_slot_shortens_the_demo_utterance():
    normal = ttsint.Voice.load("demo").synthesize("Hello world.")
    faster = ttsint.Voice.load(
        "demo",
        {
            "stack.0.sequence_block": {
                "type": "SequenceBlockContainer",
                "blocks": [{"type": "Encoders"}, {"type": "Pace", "factor": 1.3}],
            }
        },
    )
    fast = faster.synthesize("Hello world.")
    assert fast.shape[0] == pytest.approx(normal.shape[0] / 1.3, abs=6)


def test_pace_without_durations_names_itself():
    with pytest.raises(ttsint.StreamError, match="durations"):
        Pace(1.2).forward({"symbols": torch.tensor([1, 2])})

"""The voice pool in-process: loading with failures, names, readiness, paced copies, the block tree."""

from __future__ import annotations

import threading

import pytest
from ttsint_serve.pool import PaceUnsupported, ServedVoice, VoicePool
from ttsint_serve.specs import parse_voice_spec

from .conftest import DEMO


@pytest.fixture(scope="module")
def pool() -> VoicePool:
    pool = VoicePool([parse_voice_spec(t) for t in (
        f"{DEMO},name=a", "demo:name=mel-only", "no-such-addon", f"{DEMO},name=a", f"{DEMO},name=b")])
    assert not pool.loaded.is_set() and not pool.ready
    pool.load()
    return pool


def test_voices_load_in_order_and_failures_are_kept(pool: VoicePool) -> None:
    status = [(e.name, e.status) for e in pool]
    assert status == [("a", "ready"), ("mel-only", "failed"), ("no-such-addon", "failed"),
                      ("a", "failed"), ("b", "ready")]
    errors = [e.error or "" for e in pool]
    assert "makes mel, not audio" in errors[1] and "--addon demo:stack.1.type=GriffinLim" in errors[1]
    assert "no addon directory or registered addon named 'no-such-addon'" in errors[2]
    assert "already served" in errors[3] and "name=NEW-NAME" in errors[3]
    ready = pool.readiness()
    assert ready["ready"] and not ready["loading"]
    assert set(ready["failed"]) == {"mel-only", "no-such-addon", "a"}
    assert pool.ready_names() == ["a", "b"]
    assert pool.find("b") is pool.entries[4] and pool.find("a") is pool.entries[0]
    assert pool.find("zzz") is None


def test_voices_load_at_once_and_are_settled_in_the_order_given(monkeypatch: pytest.MonkeyPatch) -> None:
    pool = VoicePool([parse_voice_spec(t) for t in (f"{DEMO},name=a", f"{DEMO},name=a")])
    both_loading = threading.Barrier(2, timeout=20)  # broken (an error on each) if they load one by one
    second_done = threading.Event()
    real = ServedVoice.load

    def load(entry: ServedVoice, registry: object) -> None:
        both_loading.wait()
        if entry is pool.entries[0]:
            assert second_done.wait(60)  # the first --addon finishes last
        real(entry, registry)  # type: ignore[arg-type]
        second_done.set()

    monkeypatch.setattr(ServedVoice, "load", load)
    pool.load(threads=2)
    assert [(e.name, e.status) for e in pool] == [("a", "ready"), ("a", "failed")]
    assert "already served" in (pool.entries[1].error or "")


def test_speed_is_a_request_parameter_and_a_paced_copy_only_for_stacks_that_do_not_read_it(
        pool: VoicePool) -> None:
    entry = pool.find("a")
    assert entry is not None and entry.supports_pace and entry.paced_by_copy
    # The demo's Upsampler reads the request's speed: the one built stack serves every speed.
    assert "speed" in entry.voice.request_params
    assert entry.paced(1.0) is entry.voice and entry.paced(2.0) is entry.voice
    text = "One sentence here. And a second one."
    lengths = {s: sum(c.frames.shape[0] for c in entry.stream(text, s)) for s in (1.0, 2.0)}
    assert 1.8 <= lengths[1.0] / lengths[2.0] <= 2.1
    assert not entry._paced  # no copy was built
    # A stack with a pace block that does not read speed (a third-party block): a paced copy.
    entry._reads_speed = False
    try:
        fast = entry.paced(2.0)
        assert fast is entry.paced(2.0) and fast is not entry.voice and fast is entry.paced_copy(2.0)
        upsampler = fast.block.children()[0][1].streamable_block.stack[0]
        assert upsampler.pace == 2.0
        assert entry.voice.block.children()[0][1].streamable_block.stack[0].pace == 1.0
        assert fast.addon is entry.voice.addon  # the networks are shared, not loaded again
        # Neither: one speed only.
        entry._pace_paths = []
        assert not entry.supports_pace
        with pytest.raises(PaceUnsupported, match="speed 1.0"):
            entry.paced(1.5)
    finally:
        entry._reads_speed = True


def test_the_description_credits_each_block_to_its_plugin(pool: VoicePool) -> None:
    info = pool.find("b").describe()
    assert info["distribution"] == "ttsint-encoders" and info["sample_rate"] == 16000
    encoders = info["tree"]["children"][0]["children"][0]
    assert (encoders["type"], encoders["distribution"]) == ("Encoders", "ttsint-encoders")
    # Blocks built inside Encoders (one per network) are credited to the same plugin.
    assert {c["distribution"] for c in encoders["children"]} == {"ttsint-encoders"}


def test_a_served_stream_readies_each_sentence_in_the_pulling_thread(pool: VoicePool) -> None:
    import threading

    import torch

    entry = pool.find("b")
    text = "One sentence here. And a second one. Then a third."
    before = {t.name for t in threading.enumerate()}
    stream = entry.stream(text)
    chunks = list(stream)
    assert "ttsint-lookahead" not in {t.name for t in threading.enumerate()} - before
    assert not stream.lookahead_running and stream.prepared_ahead == 2 and len(stream.segments) == 3
    whole = torch.cat([c.frames for c in entry.voice.stream(text)])
    assert torch.equal(torch.cat([c.frames for c in chunks]), whole)  # the same audio as with look-ahead
    assert len(torch.cat([c.frames for c in entry.stream(text, 2.0)])) < 0.7 * len(whole)

"""The flite-phones front end: Flite's phones in process, identical to those the voice was trained on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import ttsint
from ttsint_voice_en import frontend as flite_frontend
from ttsint_voice_en.frontend import FliteLibrary, text_to_phone_words, text_to_phones

# Recorded with the path this front end replaced (`flite -t TEXT -ps`, full synthesis) by
# record_flite_phones.py; never regenerated from the code under test.
RECORDED = json.loads((Path(__file__).parent / "data" / "flite_phones.json").read_text())["records"]
SET_SIZES = {"everyday": 40, "heldout": 100, "train_sample": 500, "tricky": 18}


@pytest.mark.parametrize("name", SET_SIZES)
def test_phones_are_the_ones_recorded_before(name):
    records = [r for r in RECORDED if r["set"] == name]
    assert len(records) == SET_SIZES[name]
    differ = [(r["text"], r["phones"], " ".join(text_to_phones(r["text"]))) for r in records
              if text_to_phones(r["text"]) != r["phones"].split()]
    assert not differ, f"{len(differ)} of {len(records)} differ, e.g. {differ[:3]}"


def test_each_phone_belongs_to_the_word_it_says():
    for r in RECORDED:
        phones, word_ids = text_to_phone_words(r["text"])
        assert phones == r["phones"].split() and word_ids is not None and len(word_ids) == len(phones)
        spoken = [w for p, w in zip(phones, word_ids, strict=True) if p != "pau"]
        assert all(w == -1 for p, w in zip(phones, word_ids, strict=True) if p == "pau"), r["text"]
        assert spoken == sorted(spoken) and 0 <= spoken[0] and spoken[-1] < len(r["text"].split()), r["text"]
    text = "Dr. Smith paid $3.50 at 9 a.m. \u201cI\u201d \u2014 ok ( I )"
    phones, word_ids = text_to_phone_words(text)
    said = {}
    for p, w in zip(phones, word_ids, strict=True):
        said.setdefault(w, []).append(p)
    words = text.split()
    assert {words[w]: " ".join(p) for w, p in said.items() if w >= 0} == {
        "Dr.": "d aa k t er", "Smith": "s m ih th", "paid": "p ey d",
        "$3.50": "th r iy d aa l er z f ih f t iy s eh n t s", "at": "ae t", "9": "n ay n",
        "a.m.": "ey eh m", "\u201cI\u201d": "ay", "ok": "ow k ey", "I": "ay"}


def test_two_hundred_thousand_characters():
    text = "Hi you. " * 25_000
    assert len(text) == 200_000  # `flite -t TEXT` failed here: "Argument list too long"
    # `flite -t "Hi you. Hi you. Hi you." -ps` printed: pau hh ay y uw pau hh ay y uw pau hh ay y uw pau
    assert text_to_phones(text) == ["pau"] + ["hh", "ay", "y", "uw", "pau"] * 25_000


def test_text_starting_with_a_dash_is_text():
    records = [r for r in RECORDED if r["text"].startswith("-")]
    assert len(records) == 3
    for r in records:
        assert text_to_phones(r["text"]) == r["phones"].split()


def test_control_characters_are_spaces():
    assert text_to_phones("Hello\x00world.\x1b") == text_to_phones("Hello world.")


def test_threads_share_the_library_safely():
    records = RECORDED[:80]
    results: dict[int, list[str]] = {}

    def work(start: int) -> None:
        for i in range(start, len(records), 4):
            results[i] = text_to_phones(records[i]["text"])

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [results[i] for i in range(len(records))] == [r["phones"].split() for r in records]


def test_missing_flite_says_what_to_install(monkeypatch):
    monkeypatch.setattr(flite_frontend, "LIBRARY_FILE", "lib{}.so.0-not-installed")
    monkeypatch.setattr(flite_frontend.ctypes.util, "find_library", lambda name: None)
    missing = r"Flite.s library, which is missing or broken \(.*not-installed.*\): run `apt-get install"
    with pytest.raises(ttsint.FrontendError, match=missing):
        FliteLibrary()


def test_flite_opens_by_its_soname_without_asking_ldconfig(monkeypatch):
    """ctypes.util.find_library runs `ldconfig -p` in a subprocess, ~15 ms of a cold start."""
    def find_library(name):
        raise AssertionError(f"find_library({name!r}) was called although lib{name}.so.1 loads")

    monkeypatch.setattr(flite_frontend.ctypes.util, "find_library", find_library)
    assert FliteLibrary().segments("Hello.")


def test_broken_flite_is_one_clear_paragraph(tmp_path):
    """A libflite.so.1 that is not a library, found first by the dynamic loader, through the real CLI."""
    (tmp_path / "libflite.so.1").write_text("not a shared library\n")
    env = {**os.environ, "LD_LIBRARY_PATH": str(tmp_path)}
    cmd = [sys.executable, "-m", "ttsint", "synth", "Hello.", "-o", str(tmp_path / "x.wav")]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert result.returncode == 1
    assert "Flite's library, which is missing or broken" in result.stderr
    assert "apt-get install flite" in result.stderr and "Traceback" not in result.stderr


def test_unknown_voice_names_the_config_path():
    voice = ttsint.Voice.load("en-rms", {"frontend.voice": "nope"})
    with pytest.raises(ttsint.ConfigError, match=r"frontend.voice: Flite has no voice 'nope'"):
        voice.encode("Hello.")
    with pytest.raises(ttsint.ConfigError, match=r"frontend.voice: '\.\./rms' is not a Flite voice name"):
        ttsint.Voice.load("en-rms", {"frontend.voice": "../rms"}).encode("Hello.")

"""Segmentation: sentences found lazily, split to the addon's symbol limit, errors that name the limit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from ttsint import CharacterFrontend, ConfigError, FrontendError, Registry, Utterance, Voice, load_addon
from ttsint._frontends import normalize_text
from ttsint._segments import normalize_space, segment_settings, segment_text, split_sentences


def by_chars(text: str) -> Utterance:
    """A front end whose symbols are the text's characters: the limit is then a character count."""
    return {"symbols": torch.zeros(len(text), dtype=torch.int64)}


TRICKY = [
    ("Dr. Smith paid $3.50 at 9 a.m. on Jan. 5. He left.",
     ["Dr. Smith paid $3.50 at 9 a.m. on Jan. 5.", "He left."]),
    ("J. R. R. Tolkien wrote it. Mr. and Mrs. Jones read it in the U.S. last year.",
     ["J. R. R. Tolkien wrote it.", "Mr. and Mrs. Jones read it in the U.S. last year."]),
    ("The value is 3.14159. Is it? Yes! It is.", ["The value is 3.14159.", "Is it?", "Yes!", "It is."]),
    ('He said "Stop." Then he left.', ['He said "Stop."', "Then he left."]),
    ("See e.g. the appendix. It lists i.e. everything.",
     ["See e.g. the appendix.", "It lists i.e. everything."]),
    ("I was born in 1990... Then things changed.", ["I was born in 1990...", "Then things changed."]),
    ("Prof. Adams arrived at 5 p.m. Everyone cheered.",
     ["Prof. Adams arrived at 5 p.m.", "Everyone cheered."]),
    ("First line\nsecond line.\n\nA new paragraph.", ["First line second line.", "A new paragraph."]),
    ("Wait . . . what? !", ["Wait . . . what? !"]),  # pieces without letters join the sentence before
    ("no punctuation at all", ["no punctuation at all"]),
]


@pytest.mark.parametrize(("text", "expected"), TRICKY, ids=[t[:24] for t, _ in TRICKY])
def test_tricky_sentences(text: str, expected: list[str]) -> None:
    assert list(split_sentences(text)) == expected


def test_a_small_window_finds_the_same_sentences() -> None:
    text = " ".join(t for t, _ in TRICKY[:7]) * 3
    assert list(split_sentences(text, window=40)) == list(split_sentences(text))


def test_a_sentence_longer_than_the_window_stays_whole() -> None:
    long = "and then " * 100 + "it ended. Short one."
    assert list(split_sentences(long, window=50)) == [normalize_space(long[:-11]), "Short one."]


WORD = st.text(alphabet="abcdefghij", min_size=1, max_size=12)
SEPARATOR = st.sampled_from([" ", "  ", "\n", ". ", "? ", ", ", "; ", " - ", "... ", ".\n\n", " (", ") "])


@st.composite
def texts(draw: st.DrawFn) -> str:
    words = draw(st.lists(WORD, min_size=1, max_size=60))
    seps = draw(st.lists(SEPARATOR, min_size=len(words), max_size=len(words)))
    return "".join(w + s for w, s in zip(words, seps, strict=True))


@given(text=texts(), limit=st.integers(min_value=1, max_value=80))
@settings(max_examples=300, deadline=None)
def test_segments_rejoin_to_the_normalised_text_and_fit_the_limit(text: str, limit: int) -> None:
    try:
        segments = [s for s, _ in segment_text(text, by_chars, limit)]
    except FrontendError as exc:
        # Only when one word, with the letterless tokens beside it, cannot fit.
        assert f"at most {limit} symbols" in str(exc)
        assert any(len(group) > limit for group in _widest_groups(text))
        return
    assert " ".join(segments) == normalize_space(text)
    assert all(len(s) <= limit for s in segments)


def _widest_groups(text: str) -> list[str]:
    """Each word with every letterless token touching it: the most an unsplittable piece can hold."""
    tokens = text.split()
    groups = []
    for i, token in enumerate(tokens):
        if not re.search(r"\w", token):
            continue
        lo, hi = i, i + 1
        while lo > 0 and not re.search(r"\w", tokens[lo - 1]):
            lo -= 1
        while hi < len(tokens) and not re.search(r"\w", tokens[hi]):
            hi += 1
        groups.append(" ".join(tokens[lo:hi]))
    return groups


def test_a_long_sentence_is_split_at_clauses_before_words() -> None:
    text = "one two three four, five six seven eight; nine ten eleven twelve"
    segments = [s for s, _ in segment_text(text, by_chars, 45)]
    assert segments == ["one two three four, five six seven eight;", "nine ten eleven twelve"]
    segments = [s for s, _ in segment_text("aaaa bbbb cccc dddd eeee", by_chars, 10)]
    assert segments == ["aaaa bbbb", "cccc dddd", "eeee"]


def test_each_segment_carries_its_own_utterance() -> None:
    front = CharacterFrontend("abcdefghijklmnopqrstuvwxyz '.,?!")
    pairs = list(segment_text("Hello there. How are you?", front))
    assert [t for t, _ in pairs] == ["Hello there.", "How are you?"]
    for text, utt in pairs:
        assert torch.equal(utt["symbols"], front(text)["symbols"])


@pytest.mark.parametrize("text", ["", "   \n\t ", "... !? --"])
def test_nothing_to_say_is_a_clear_error(text: str) -> None:
    with pytest.raises(FrontendError, match="nothing to say"):
        next(segment_text(text, by_chars, 10))


def test_a_word_over_the_limit_names_the_limit_and_where_it_comes_from() -> None:
    text = "Short. " + "x" * 30 + " tail."
    segments = segment_text(text, by_chars, 20, source="the export bound of networks.encoder")
    assert next(segments)[0] == "Short."
    with pytest.raises(FrontendError) as info:
        list(segments)
    message = str(info.value)
    assert "makes 30 symbols" in message and "at most 20 symbols per segment" in message
    assert "(the export bound of networks.encoder)" in message


def test_the_limit_comes_from_the_exported_encoder(tiny_addon: Path, toy_registry: Registry) -> None:
    addon = load_addon(tiny_addon, registry=toy_registry)
    found = segment_settings(addon)
    assert found.max_symbols == 4096  # torch.export.Dim("length", max=4096) in conftest
    assert found.source == "the export bound of networks.encoder"
    assert found.pause == 0.25


def test_a_declared_limit_and_pause_win(tiny_addon: Path, toy_registry: Registry) -> None:
    addon = load_addon(tiny_addon, {"segments.max_symbols": 12, "segments.pause": 0.5}, registry=toy_registry)
    found = segment_settings(addon)
    assert (found.max_symbols, found.source, found.pause) == (12, "segments.max_symbols", 0.5)
    voice = Voice(addon)
    segments = [t for t, _ in voice.segments("a b c d e f g h i j k l m n")]
    assert segments == ["a b c d e f", "g h i j k l", "m n"]


@pytest.mark.parametrize(
    ("overrides", "path"),
    [
        ({"segments.max_symbols": 0}, "segments.max_symbols"),
        ({"segments.max_symbols": "many"}, "segments.max_symbols"),
        ({"segments.pause": -1}, "segments.pause"),
        ({"segments.pauses": 1}, "segments.pauses"),
    ],
)
def test_bad_segments_table_is_a_config_error(
    tiny_addon: Path, toy_registry: Registry, overrides: dict[str, object], path: str
) -> None:
    with pytest.raises(ConfigError) as info:
        Voice.load(tiny_addon, overrides, registry=toy_registry)
    assert info.value.path == path


@given(st.text(alphabet="abcXYZ 019.,'-\u2014\u00e9\n", max_size=60))
@settings(max_examples=200, deadline=None)
def test_character_symbols_match_whole_text_normalisation(text: str) -> None:
    front = CharacterFrontend("abcdefghijklmnopqrstuvwxyz '.,-", unknown="skip")
    expected = [front.symbols.index(c) for c in normalize_text(text) if c in front.symbols]
    if not expected:
        return
    utt = front(text)
    assert utt["symbols"].tolist() == expected
    words = text.split()
    for i, w in enumerate(utt["word_ids"].tolist()):
        if w < 0:
            assert front.symbols[utt["symbols"][i]] == " "
        else:
            assert 0 <= w < len(words)

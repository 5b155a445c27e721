"""Text front ends: normalisation, the character front end, and front ends named by an addon."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import SYMBOLS, TINY_CONFIG, write_addon
from ttsint import CharacterFrontend, ConfigError, FrontendError, Registry, load_addon, normalize_text
from ttsint._frontends import number_to_words


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello,   World!", "hello, world!"),
        ("\u201cQuoted\u201d \u2018text\u2019 \u2014 dash\u2026", "\"quoted\" 'text' - dash..."),
        ("Caf\u00e9 na\u00efve \u00c5ngstr\u00f6m", "cafe naive angstrom"),
        ("I have 2048 cats", "i have two thousand forty eight cats"),
        ("pi is 3.14", "pi is three point one four"),
        ("1,000,000 reasons", "one million reasons"),
        ("line\tbreak\nhere", "line break here"),
        ("\uff21\uff22\uff23", "abc"),  # full-width letters
    ],
)
def test_normalize_text(text: str, expected: str) -> None:
    assert normalize_text(text) == expected


def test_normalize_text_options() -> None:
    assert normalize_text("Room 7", lowercase=False, expand_numbers=False) == "Room 7"
    assert normalize_text("1234567890123456") == " ".join(
        "one two three four five six seven eight nine zero one two three four five six".split()
    )


@pytest.mark.parametrize(
    ("n", "words"),
    [
        (0, "zero"),
        (13, "thirteen"),
        (40, "forty"),
        (99, "ninety nine"),
        (100, "one hundred"),
        (101, "one hundred one"),
        (1000, "one thousand"),
        (2_000_017, "two million seventeen"),
    ],
)
def test_number_to_words(n: int, words: str) -> None:
    assert number_to_words(n) == words


def test_character_front_end_maps_characters_to_ids_after_the_pad() -> None:
    frontend = CharacterFrontend(symbols="ab c")
    assert frontend.symbols == ["<pad>", "a", "b", " ", "c"]
    utt = frontend("Ab  C")
    assert utt["symbols"].dtype == torch.int64
    assert utt["symbols"].tolist() == [1, 2, 3, 4]
    assert CharacterFrontend(symbols=["a", "b"], pad="")("ba")["symbols"].tolist() == [1, 0]


def test_text_the_front_end_cannot_say_is_a_clear_error() -> None:
    frontend = CharacterFrontend(symbols=SYMBOLS)
    with pytest.raises(FrontendError) as info:
        frontend("Price: 5 \u20ac #1")
    message = str(info.value)
    assert "cannot say the character(s) ':' (U+003A), '\u20ac' (U+20AC), '#' (U+0023)" in message
    assert "in 'Price: 5 \u20ac #1'" in message
    assert "frontend.unknown='skip'" in message


def test_unknown_skip_drops_what_it_cannot_say_but_not_everything() -> None:
    frontend = CharacterFrontend(symbols="abc", unknown="skip")
    assert frontend("a#b")["symbols"].tolist() == [1, 2]
    with pytest.raises(FrontendError, match="nothing to say: '###' has no characters this voice knows"):
        frontend("###")
    with pytest.raises(FrontendError, match="nothing to say"):
        CharacterFrontend(symbols="abc")("")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"symbols": "abca"}, "symbols: contains duplicates"),
        ({"symbols": "abc", "unknown": "ignore"}, "unknown: must be 'error' or 'skip', got 'ignore'"),
    ],
)
def test_character_front_end_rejects_bad_settings(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        CharacterFrontend(**kwargs)


def _addon_with_frontend(tmp_path: Path, frontend: Any) -> Path:
    config = {**TINY_CONFIG, "networks": {}, "frontend": frontend}
    return write_addon(tmp_path / "addon", config)


def test_addon_builds_its_named_front_end_once(tmp_path: Path, toy_registry: Registry) -> None:
    addon = load_addon(
        _addon_with_frontend(tmp_path, {"type": "characters", "symbols": "xyz ", "unknown": "skip"}),
        registry=toy_registry,
    )
    frontend = addon.frontend
    assert isinstance(frontend, CharacterFrontend) and frontend.unknown == "skip"
    assert addon.frontend is frontend
    assert frontend("X?y")["symbols"].tolist() == [1, 2]


@pytest.mark.parametrize(
    ("frontend", "path", "fragments"),
    [
        ({"type": "phonemes"}, "frontend.type", ["unknown front end 'phonemes'", "known: characters"]),
        ({"type": "charactres", "symbols": "ab"}, "frontend.type", ["did you mean 'characters'?"]),
        (
            {"type": "characters", "symbols": "ab", "lower": True},
            "frontend.lower",
            [
                "characters has no parameter 'lower'",
                "accepted: symbols, pad, lowercase, expand_numbers, unknown",
            ],
        ),
        ({"type": "characters"}, "frontend.symbols", ["characters requires 'symbols'"]),
        ({"type": "characters", "symbols": "aa"}, "frontend.symbols", ["contains duplicates"]),
    ],
)
def test_bad_front_end_config_is_a_config_error(
    tmp_path: Path, toy_registry: Registry, frontend: Any, path: str, fragments: list[str]
) -> None:
    addon = load_addon(_addon_with_frontend(tmp_path, frontend), registry=toy_registry)
    with pytest.raises(ConfigError) as info:
        _ = addon.frontend
    assert info.value.path == path
    for fragment in fragments:
        assert fragment in str(info.value)

"""An addon's ``[limits]``: read through ``validate`` like every config table, with its defaults."""

from __future__ import annotations

import pytest
from ttsint import ConfigError, Limits
from ttsint._limits import read_limits


def test_keys_left_out_keep_their_defaults_and_the_source_is_named() -> None:
    assert read_limits({}, "addon.toml") == Limits()
    got = read_limits({"limits": {"max_text_chars": 5}}, "addon.toml")
    assert got == Limits(max_text_chars=5, source="addon.toml: limits")


@pytest.mark.parametrize(("table", "path", "message", "hint"), [
    ("x", "limits", "expected a table, got 'x'", None),
    ({"max_frames_per_symbol": 0}, "limits.max_frames_per_symbol", "expected a positive integer, got 0",
     None),
    ({"max_text_chars": 2.5}, "limits.max_text_chars", "expected a positive integer, got 2.5", None),
    ({"max_text_chars": True}, "limits.max_text_chars", "expected a positive integer, got True", None),
    ({"max_text_chars": None}, "limits.max_text_chars", "expected a positive integer, got None", None),
    ({"max_frames_per_symbl": 3}, "limits.max_frames_per_symbl", "unknown key 'max_frames_per_symbl'",
     "did you mean 'max_frames_per_symbol'? accepted: max_frames_per_symbol, max_frames_per_utterance, "
     "max_text_chars"),
])
def test_a_bad_limit_names_its_path_what_it_takes_and_the_closest_key(table: object, path: str, message: str,
                                                                       hint: str | None) -> None:
    with pytest.raises(ConfigError) as info:
        read_limits({"limits": table}, "addon.toml")
    assert (info.value.path, info.value.message, info.value.hint, info.value.source) == (
        path, message, hint, "addon.toml")

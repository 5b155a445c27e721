"""Typed parameters: values are checked against constructor annotations, with the config path in the error."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import pytest
from ttsint import ConfigError, Range, Voice
from ttsint._params import check_values


class _Block:
    def __init__(self, count: Annotated[int, Range(1)] = 1, gain: float = 0.0, flag: bool = False,
                 mode: Literal["fast", "slow"] = "fast", name: str = "", limit: int | None = None,
                 sizes: list[int] | None = None, anything: Any = None,
                 pace: Annotated[float, Range(0.25, 4)] = 1.0) -> None: ...


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        ("count", "abc", "expected a positive integer, got 'abc'"),
        ("count", 2.5, "expected a positive integer, got 2.5"),
        ("count", 0, "expected a positive integer, got 0"),
        ("count", True, "expected a positive integer, got True"),
        ("gain", float("nan"), "expected a finite number, got nan"),
        ("gain", "1", "expected a number, got '1'"),
        ("flag", 1, "expected true or false, got 1"),
        ("mode", "medium", "expected one of 'fast', 'slow', got 'medium'"),
        ("name", 5, "expected a string, got 5"),
        ("limit", "x", "expected an integer or none, got 'x'"),
        ("sizes", [1, "2"], "expected a list of integers or none, got [1, '2']"),
        ("pace", 1e-9, "expected a number from 0.25 to 4, got 1e-09"),
    ],
)
def test_wrong_values_name_the_path_and_the_expected_type(key: str, value: Any, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        check_values(_Block, {key: value}, "stack[0].streamable_block.stack[1]")
    assert info.value.path == f"stack[0].streamable_block.stack[1].{key}"
    assert str(info.value) == f"stack[0].streamable_block.stack[1].{key}: {expected}"


def test_good_values_pass() -> None:
    check_values(_Block, {"count": 3, "gain": 2, "flag": True, "mode": "slow", "name": "x", "limit": None,
                          "sizes": [1, 2], "anything": object(), "pace": 0.5}, "stack[0]")


def test_the_issue_example_through_the_builder() -> None:
    with pytest.raises(ConfigError) as info:
        Voice.load("demo", {"stack.0.streamable_block.stack.1.chunk_frames": "abc"})
    assert "stack[0].streamable_block.stack[1].chunk_frames: expected a positive integer, got 'abc'" in str(
        info.value)

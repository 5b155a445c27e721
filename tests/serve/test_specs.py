"""`--addon NAME|PATH[:KEY=VALUE,...]`: where the addon ends, where each override starts."""

from __future__ import annotations

import pytest
import ttsint
from ttsint_serve.specs import VoiceSpec, parse_voice_spec


@pytest.mark.parametrize(
    ("text", "source", "overrides"),
    [
        ("demo", "demo", {}),
        ("demo:name=demo-slow", "demo", {"name": "demo-slow"}),
        ("en-rms:name=fast,stack.0.streamable_block.stack.0.pace=1.2", "en-rms",
         {"name": "fast", "stack.0.streamable_block.stack.0.pace": 1.2}),
        ("ttsint-encoders:demo", "ttsint-encoders:demo", {}),
        ("ttsint-encoders:demo:stack.1.type=GriffinLim", "ttsint-encoders:demo",
         {"stack.1.type": "GriffinLim"}),
        ("/srv/voices/x:frontend.symbols=[1,2],stack.1.n_iter=8", "/srv/voices/x",
         {"frontend.symbols": [1, 2], "stack.1.n_iter": 8}),
        ("./my addon:description=a, b and c", "./my addon", {"description": "a, b and c"}),
    ],
)
def test_specs_split_into_source_and_overrides(text: str, source: str, overrides: dict) -> None:
    spec = parse_voice_spec(text)
    assert (spec.source, spec.overrides, spec.text) == (source, overrides, text)


def test_the_label_is_the_name_override_else_the_source() -> None:
    assert parse_voice_spec("demo:name=two").label == "two"
    assert VoiceSpec("demo").label == "demo"


@pytest.mark.parametrize("text", [":name=x", "demo:name=", "demo:name=3"])
def test_bad_specs_name_the_option(text: str) -> None:
    with pytest.raises(ttsint.ConfigError, match="^--addon: "):
        parse_voice_spec(text)


@pytest.mark.parametrize(("text", "message"), [
    (":name=x", "':name=x' names no addon"),
    ("  :stack.1.n_iter=8", "'  :stack.1.n_iter=8' names no addon"),
    ("demo:name=", "'demo:name=': name: expected a non-empty voice name, got ''"),
    ("demo:name= ", "'demo:name= ': name: expected a non-empty voice name, got ' '"),
    ("demo:name=3", "'demo:name=3': name: expected a non-empty voice name, got 3"),
])
def test_a_bad_spec_says_which_part_and_what_it_takes(text: str, message: str) -> None:
    with pytest.raises(ttsint.ConfigError) as info:
        parse_voice_spec(text)
    assert (info.value.path, info.value.message) == ("--addon", message)
    assert (info.value.hint is not None) == message.endswith("names no addon")

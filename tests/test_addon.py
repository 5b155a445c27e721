"""Addons: config, exported networks, overrides, and the errors for malformed addons."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from conftest import HIDDEN, N_MELS, SYMBOLS, TINY_CONFIG, TinyModels, write_addon
from ttsint import (
    AddonError,
    ConfigError,
    Network,
    Registry,
    apply_overrides,
    hookimpl,
    load_addon,
    parse_override,
)


def _without_digests(config: dict[str, Any]) -> dict[str, Any]:
    config = copy.deepcopy(config)
    for spec in config["networks"].values():
        del spec["sha256"]
    return config


def test_load_addon_reads_config_and_networks(tiny_addon: Path, toy_registry: Registry) -> None:
    addon = load_addon(tiny_addon, registry=toy_registry)
    assert addon.name == "tiny" and addon.path == tiny_addon.resolve()
    assert (addon.version, addon.sample_rate, addon.n_mels, addon.hop_length) == ("0.0.1", 8000, N_MELS, 2)
    assert _without_digests(addon.config) == TINY_CONFIG
    assert all(len(spec["sha256"]) == 64 for spec in addon.config["networks"].values())
    assert addon.stack == TINY_CONFIG["stack"]
    assert list(addon.networks) == ["encoder", "decoder", "postnet"]
    decoder = addon.networks["decoder"]
    assert isinstance(decoder, Network)
    assert (decoder.role, decoder.inputs, decoder.outputs, decoder.receptive_field) == (
        "decoder",
        ["frames"],
        ["mel"],
        5,
    )
    assert decoder.path == tiny_addon.resolve() / "decoder.pt2"
    assert addon.networks["encoder"].receptive_field is None
    assert [n.name for n in addon.networks_with_role("encoder")] == ["encoder"]
    assert addon.networks_with_role("vocoder") == []
    assert load_addon(tiny_addon / "addon.toml", registry=toy_registry).path == addon.path


def test_exported_networks_run_at_any_length(
    tiny_addon: Path, toy_registry: Registry, tiny_models: TinyModels
) -> None:
    addon = load_addon(tiny_addon, registry=toy_registry)
    encoder, decoder = addon.networks["encoder"], addon.networks["decoder"]
    for length in (1, 2, 13, 200):
        symbols = torch.randint(1, len(SYMBOLS) + 1, (length,))
        out = encoder.run({"symbols": symbols, "ignored": torch.zeros(1)})
        assert list(out) == ["text_encoding"] and out["text_encoding"].shape == (length, HIDDEN)
        with torch.no_grad():
            torch.testing.assert_close(out["text_encoding"], tiny_models.encoder(symbols[None])[0])
    frames = torch.randn(1, 9, HIDDEN)  # exported with a batch of one
    batched = decoder.run({"frames": frames}, batched=True)["mel"]
    assert batched.shape == (1, 9, N_MELS)
    with torch.no_grad():
        torch.testing.assert_close(batched, tiny_models.decoder(frames))


def test_torchscript_network_loads_and_runs(
    tiny_addon: Path, toy_registry: Registry, tiny_models: TinyModels
) -> None:
    postnet = load_addon(tiny_addon, registry=toy_registry).networks["postnet"]
    assert postnet.path.suffix == ".pt"
    mel = torch.randn(6, N_MELS)
    with torch.no_grad():
        torch.testing.assert_close(postnet.run({"mel": mel})["mel"], tiny_models.postnet(mel[None])[0])


def test_network_run_checks_inputs_and_outputs(tiny_addon: Path, toy_registry: Registry) -> None:
    encoder = load_addon(tiny_addon, registry=toy_registry).networks["encoder"]
    with pytest.raises(
        AddonError, match=r"network 'encoder' needs input\(s\) \['symbols'\]; available: \['x'\]"
    ):
        encoder.run({"x": torch.zeros(3)})
    two_outputs = Network("enc2", "encoder", ["symbols"], ["a", "b"], encoder.path, encoder.module)
    with pytest.raises(AddonError, match=r"returned 1 tensors, config declares 2 outputs \['a', 'b'\]"):
        two_outputs.run({"symbols": torch.tensor([1, 2])})


def test_json_addon_config_loads(tmp_path: Path, tiny_addon: Path, toy_registry: Registry) -> None:
    directory = write_addon(tmp_path / "json-addon", TINY_CONFIG, networks_from=tiny_addon)
    addon = load_addon(directory, registry=toy_registry)
    assert _without_digests(addon.config) == TINY_CONFIG
    assert set(addon.networks) == {"encoder", "decoder", "postnet"}


def test_registered_addon_loads_by_name(tiny_addon: Path) -> None:
    class Voices:
        @hookimpl
        def ttsint_register_addons(self, register: Callable[[str, Any], None]) -> None:
            register("tiny-voice", tiny_addon)
            register("tiny-voice-str", str(tiny_addon))

    registry = Registry(load_entry_points=False, plugins={"voices": Voices()})
    assert load_addon("tiny-voice", registry=registry).path == tiny_addon.resolve()
    assert load_addon("tiny-voice-str", registry=registry).path == tiny_addon.resolve()
    assert load_addon("voices:tiny-voice", registry=registry).name == "tiny"
    with pytest.raises(
        AddonError,
        match=r"no addon directory or registered addon named 'tiny-vocie'; "
        r"did you mean 'tiny-voice'",
    ):
        load_addon("tiny-vocie", registry=registry)


# -- overrides ------------------------------------------------------------------------------------

ONE_BLOCK = {
    "name": "x",
    "stack": [{"type": "A", "params": {"k": 1}}],
    "networks": {"enc": {"role": "encoder"}},
}


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"name": "y"}, {**ONE_BLOCK, "name": "y"}),
        ({"stack.0.params.k": 2}, {**ONE_BLOCK, "stack": [{"type": "A", "params": {"k": 2}}]}),
        ({"stack.1.type": "B"}, {**ONE_BLOCK, "stack": [{"type": "A", "params": {"k": 1}}, {"type": "B"}]}),
        (
            {"stack.1.type": "B", "stack.1.gain": 0.5},
            {**ONE_BLOCK, "stack": [{"type": "A", "params": {"k": 1}}, {"type": "B", "gain": 0.5}]},
        ),
        (
            {"stack.1": {"type": "B"}},
            {**ONE_BLOCK, "stack": [{"type": "A", "params": {"k": 1}}, {"type": "B"}]},
        ),
        (
            {"networks.enc.receptive_field": 3},
            {**ONE_BLOCK, "networks": {"enc": {"role": "encoder", "receptive_field": 3}}},
        ),
        ({"extra.list.0.a": 1}, {**ONE_BLOCK, "extra": {"list": [{"a": 1}]}}),
    ],
)
def test_apply_overrides_sets_dotted_paths_and_appends_at_len(
    overrides: dict[str, Any], expected: dict[str, Any]
) -> None:
    original = copy.deepcopy(ONE_BLOCK)
    assert apply_overrides(ONE_BLOCK, overrides) == expected
    assert ONE_BLOCK == original


@pytest.mark.parametrize(
    ("overrides", "path", "message", "hint"),
    [
        ({"stack.2.type": "B"}, "stack.2", "index 2 is out of range for a list of 1", "use 1 to append"),
        ({"stack.first.type": "B"}, "stack.first", "stack is a list; expected an index, got 'first'", None),
        ({"name.first": "B"}, "name.first", "cannot set a key inside str value 'x'", None),
    ],
)
def test_bad_overrides_name_the_path(
    overrides: dict[str, Any], path: str, message: str, hint: str | None
) -> None:
    with pytest.raises(ConfigError) as info:
        apply_overrides(ONE_BLOCK, overrides)
    assert (info.value.path, info.value.message, info.value.hint) == (path, message, hint)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "stack.0.sequence_block.type=CustomizedEncoders",
            ("stack.0.sequence_block.type", "CustomizedEncoders"),
        ),
        ("stack.1.gain=0.5", ("stack.1.gain", 0.5)),
        ("chunk_frames=12", ("chunk_frames", 12)),
        ("flag=true", ("flag", True)),
        ("off=null", ("off", None)),
        ("sizes=[1, 2]", ("sizes", [1, 2])),
        ('stack.1={"type": "ToyGain", "gain": 2}', ("stack.1", {"type": "ToyGain", "gain": 2})),
        ('quoted="12"', ("quoted", "12")),
        ("expr=a=b", ("expr", "a=b")),
        (" name =", ("name", "")),
        ("table={ type = \"Gain\", db = -3.5 }", ("table", {"type": "Gain", "db": -3.5})),
        ("big=2.5e3", ("big", 2500.0)),
        ("single='x y'", ("single", "x y")),
        ("word=abc", ("word", "abc")),
        ("inf=inf", ("inf", float("inf"))),
    ],
)
def test_parse_override_reads_toml_and_json_values(text: str, expected: tuple[str, Any]) -> None:
    assert parse_override(text) == expected


@pytest.mark.parametrize("text", ["stack.0.type", "=value", "  =x"])
def test_malformed_set_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_override(text)
    assert info.value.path == "--set"
    assert f"expected KEY=VALUE, got {text!r}" in str(info.value)


def test_load_addon_applies_overrides(tiny_addon: Path, toy_registry: Registry) -> None:
    addon = load_addon(
        tiny_addon,
        {"stack.2.type": "ToyGain", "stack.1.chunk_frames": 3, "sample_rate": 16000},
        registry=toy_registry,
    )
    assert addon.stack[2] == {"type": "ToyGain"} and addon.stack[1]["chunk_frames"] == 3
    assert addon.sample_rate == 16000
    assert "ToyGain" not in (tiny_addon / "addon.toml").read_text()


# -- malformed addons -------------------------------------------------------------------------------


def _without(key: str) -> Callable[[dict[str, Any]], None]:
    return lambda config: config.pop(key)


def _set(dotted: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def change(config: dict[str, Any]) -> None:
        config.update(apply_overrides(config, {dotted: value}))

    return change


MALFORMED_ADDONS = [
    pytest.param(
        _without("hop_length"),
        "hop_length",
        ["hop_length: missing", "an addon declares name, version, sample_rate, n_mels, hop_length"],
        id="missing-metadata",
    ),
    pytest.param(_without("name"), "name", ["name: missing"], id="missing-name"),
    pytest.param(
        _set("sample_rate", "fast"),
        "sample_rate",
        ["expected a positive integer, got 'fast'"],
        id="metadata-wrong-type",
    ),
    pytest.param(
        _set("n_mels", 0), "n_mels", ["expected a positive integer, got 0"], id="metadata-not-positive"
    ),
    pytest.param(_set("version", 1), "version", ["expected a string, got 1"], id="version-not-string"),
    pytest.param(_without("frontend"), "frontend.type", ["name the text front end"], id="missing-frontend"),
    pytest.param(_without("stack"), "stack", ["stack: missing"], id="missing-stack"),
    pytest.param(_set("stack", []), "stack", ["expected a non-empty list of block specs"], id="empty-stack"),
    pytest.param(
        _set("networks", ["encoder.pt2"]),
        "networks",
        ["expected a table of networks by name"],
        id="networks-not-a-table",
    ),
    pytest.param(
        _set("networks.decoder.receptive_field", -1),
        "networks.decoder.receptive_field",
        ["expected a non-negative integer, got -1", "omit it for networks without"],
        id="negative-rf",
    ),
    pytest.param(
        _set("networks.decoder.receptive_field", "wide"),
        "networks.decoder.receptive_field",
        ["expected a non-negative integer, got 'wide'"],
        id="string-rf",
    ),
    pytest.param(
        _set("networks.decoder.inputs", []),
        "networks.decoder.inputs",
        ["expected a non-empty list of tensor names"],
        id="no-inputs",
    ),
    pytest.param(
        _set("networks.encoder.role", 3),
        "networks.encoder.role",
        ["expected a string, got 3"],
        id="role-not-string",
    ),
    pytest.param(
        _set("networks.encoder.file", "missing.pt2"),
        "networks.encoder.file",
        ["'missing.pt2' not found in"],
        id="network-file-missing",
    ),
    pytest.param(
        _set("networks.encoder.file", "addon.json"),
        "networks.encoder.file",
        ["unsupported network format '.json'", "export with torch.export (.pt2) or TorchScript (.pt)"],
        id="network-format",
    ),
]


@pytest.mark.parametrize(("change", "path", "fragments"), MALFORMED_ADDONS)
def test_malformed_addon_is_a_config_error_naming_file_and_path(
    tmp_path: Path,
    tiny_addon: Path,
    toy_registry: Registry,
    change: Callable[[dict[str, Any]], None],
    path: str,
    fragments: list[str],
) -> None:
    config = copy.deepcopy(TINY_CONFIG)
    change(config)
    directory = write_addon(tmp_path / "bad", config, networks_from=tiny_addon)
    with pytest.raises(ConfigError) as info:
        load_addon(directory, registry=toy_registry)
    assert info.value.path == path
    assert info.value.source == str(directory / "addon.json")
    assert str(info.value).startswith(f"{directory / 'addon.json'}: {path}: ")
    for fragment in fragments:
        assert fragment in str(info.value)


def test_override_out_of_range_on_load(tiny_addon: Path, toy_registry: Registry) -> None:
    with pytest.raises(
        ConfigError, match=r"stack\.5: index 5 is out of range for a list of 2\n  use 2 to append"
    ):
        load_addon(tiny_addon, {"stack.5.type": "ToyGain"}, registry=toy_registry)


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ({}, r"has no addon\.toml or addon\.json"),
        ({"addon.toml": "name = "}, r"addon\.toml is not valid TOML"),
        ({"addon.json": '{"name": '}, r"addon\.json is not valid JSON"),
    ],
)
def test_unreadable_addon_config_is_an_addon_error(
    tmp_path: Path, toy_registry: Registry, files: dict[str, str], message: str
) -> None:
    for name, text in files.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    with pytest.raises(AddonError, match=message):
        load_addon(tmp_path, registry=toy_registry)


def test_top_level_that_is_not_a_table(tmp_path: Path, toy_registry: Registry) -> None:
    (tmp_path / "addon.json").write_text("[1, 2]", encoding="utf-8")
    with pytest.raises(ConfigError, match="expected a table at the top level, got list"):
        load_addon(tmp_path, registry=toy_registry)


def test_corrupt_network_file_is_an_addon_error(
    tmp_path: Path, tiny_addon: Path, toy_registry: Registry
) -> None:
    directory = write_addon(tmp_path / "bad", TINY_CONFIG, networks_from=tiny_addon)
    (directory / "decoder.pt2").write_bytes(b"not a zip archive at all")
    write_addon(directory, TINY_CONFIG)  # digests of the corrupt file: the archive check must catch it
    refused = r"addon\.json: networks\.decoder\.file: decoder\.pt2: refused: not a zip"
    with pytest.raises(AddonError, match=refused):
        load_addon(directory, registry=toy_registry)


def test_unknown_network_key_suggests_the_closest(tmp_path: Path, tiny_addon: Path,
                                                  toy_registry: Registry) -> None:
    config = apply_overrides(TINY_CONFIG, {"networks.decoder.sha265": "ab"})
    directory = write_addon(tmp_path / "bad", config, networks_from=tiny_addon)
    with pytest.raises(ConfigError) as info:
        load_addon(directory, registry=toy_registry)
    assert info.value.path == "networks.decoder.sha265" and info.value.source == str(directory / "addon.json")
    assert info.value.message == "unknown key 'sha265'"
    assert str(info.value.hint).startswith("did you mean 'sha256'? accepted: batch, device")


def test_a_bad_value_from_set_names_set(tiny_addon: Path, toy_registry: Registry) -> None:
    with pytest.raises(ConfigError) as info:
        load_addon(tiny_addon, {"networks.decoder.receptive_field": "wide"}, registry=toy_registry)
    assert str(info.value) == ("--set: networks.decoder.receptive_field: expected a non-negative integer, "
                               "got 'wide'\n  omit it for networks without a finite receptive field")


def test_the_default_addon_has_the_highest_priority_and_unchanged_configs_are_not_parsed_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os
    from types import SimpleNamespace

    import ttsint._addon as module

    monkeypatch.setenv("TTSINT_CACHE_DIR", str(tmp_path / "cache"))
    folders = {name: write_addon(tmp_path / name, {**TINY_CONFIG, "priority": p})
               for name, p in (("low", 1), ("high", 2), ("broken", 9))}
    (folders["broken"] / "addon.json").write_text("{", encoding="utf-8")
    registry = SimpleNamespace(addons={name: [SimpleNamespace(load=lambda f=f: str(f))]
                                       for name, f in folders.items()})
    parsed: list[Path] = []
    real = module._read_config
    monkeypatch.setattr(module, "_read_config", lambda d: parsed.append(d) or real(d))
    assert module.default_addon(registry) == "high" and len(parsed) == 3  # type: ignore[arg-type]
    assert module.default_addon(registry) == "high" and len(parsed) == 4  # only the broken one again
    config = folders["low"] / "addon.json"
    write_addon(folders["low"], {**TINY_CONFIG, "priority": 5})
    later = config.stat().st_mtime_ns + 2_000_000_000
    os.utime(config, ns=(later, later))
    assert module.default_addon(registry) == "low" and len(parsed) == 6  # type: ignore[arg-type]

"""Integrity: each network's sha256 is checked at load; its graph must match the config's inputs/outputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from conftest import TINY_CONFIG, write_addon
from ttsint import AddonError, ConfigError, Registry, apply_overrides, load_addon, sha256_hex, stamp_digests


def _load_error(directory: Path, registry: Registry) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        load_addon(directory, registry=registry)
    return info.value


def test_flipped_bytes_are_refused_naming_the_file(tmp_path: Path, tiny_addon: Path,
                                                    toy_registry: Registry) -> None:
    directory = write_addon(tmp_path / "addon", TINY_CONFIG, networks_from=tiny_addon)
    data = bytearray((directory / "decoder.pt2").read_bytes())
    start = len(data) // 2
    data[start:start + 4096] = bytes(b ^ 0xFF for b in data[start:start + 4096])
    (directory / "decoder.pt2").write_bytes(bytes(data))
    error = _load_error(directory, toy_registry)
    assert error.path == "networks.decoder.sha256"
    assert f"decoder.pt2 has SHA-256 {sha256_hex(bytes(data))}, but the config declares" in str(error)
    assert "rebuild the addon" in str(error)


def test_missing_digest_says_which_line_to_add(tmp_path: Path, tiny_addon: Path,
                                                toy_registry: Registry) -> None:
    directory = write_addon(tmp_path / "addon", TINY_CONFIG, networks_from=tiny_addon)
    config = json.loads((directory / "addon.json").read_text(encoding="utf-8"))
    del config["networks"]["encoder"]["sha256"]
    (directory / "addon.json").write_text(json.dumps(config), encoding="utf-8")
    error = _load_error(directory, toy_registry)
    assert error.path == "networks.encoder.sha256" and "missing" in str(error)
    assert f'add: sha256 = "{sha256_hex((directory / "encoder.pt2").read_bytes())}"' in str(error)


@pytest.mark.parametrize("digest", ["abc", 42, "g" * 64])
def test_malformed_digest(tmp_path: Path, tiny_addon: Path, toy_registry: Registry, digest: object) -> None:
    config = apply_overrides(TINY_CONFIG, {"networks.encoder.sha256": digest})
    error = _load_error(write_addon(tmp_path / "addon", config, networks_from=tiny_addon), toy_registry)
    assert error.path == "networks.encoder.sha256" and "expected 64 hexadecimal digits" in str(error)


def test_uppercase_digest_is_accepted(tmp_path: Path, tiny_addon: Path, toy_registry: Registry) -> None:
    digest = sha256_hex((tiny_addon / "encoder.pt2").read_bytes()).upper()
    config = apply_overrides(TINY_CONFIG, {"networks.encoder.sha256": digest})
    load_addon(write_addon(tmp_path / "addon", config, networks_from=tiny_addon), registry=toy_registry)


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        ({"networks.decoder.inputs": ["mel"]}, "networks.decoder.inputs",
         "decoder.pt2 takes inputs ['frames'] (in this order), but the config declares ['mel']"),
        ({"networks.decoder.inputs": ["frames", "mask"]}, "networks.decoder.inputs",
         "set inputs = ['frames']"),
        ({"networks.encoder.outputs": ["text_encoding", "durations"]}, "networks.encoder.outputs",
         "encoder.pt2 returns 1 tensor(s), but the config declares 2"),
        ({"networks.postnet.inputs": ["frames"]}, "networks.postnet.inputs",
         "postnet.pt takes inputs ['mel']"),
        ({"networks.postnet.outputs": ["mel", "extra"]}, "networks.postnet.outputs",
         "postnet.pt returns 1 tensor(s)"),
    ],
    ids=["pt2-input-name", "pt2-input-count", "pt2-output-count", "torchscript-input", "torchscript-outputs"],
)
def test_config_must_match_the_exported_graph(tmp_path: Path, tiny_addon: Path, toy_registry: Registry,
                                              change: dict[str, object], path: str, fragment: str) -> None:
    config = apply_overrides(TINY_CONFIG, change)
    directory = write_addon(tmp_path / "addon", config, networks_from=tiny_addon)
    error = _load_error(directory, toy_registry)
    assert error.path == path and fragment in str(error), str(error)


class _FloatSymbols(torch.nn.Module):
    def forward(self, symbols: torch.Tensor) -> torch.Tensor:
        return symbols * 2.0


def test_reserved_names_must_have_their_dtype(tmp_path: Path, tiny_addon: Path,
                                              toy_registry: Registry) -> None:
    directory = write_addon(tmp_path / "addon", TINY_CONFIG, networks_from=tiny_addon)
    program = torch.export.export(_FloatSymbols(), (torch.ones(1, 3),))
    torch.export.save(program, directory / "encoder.pt2")
    write_addon(directory, TINY_CONFIG)
    error = _load_error(directory, toy_registry)
    assert error.path == "networks.encoder.inputs"
    assert "encoder.pt2's input 'symbols' is torch.float32; ttsint uses 'symbols' as an integer" in str(error)


def test_run_names_an_input_of_the_wrong_dtype(tiny_addon: Path, toy_registry: Registry) -> None:
    encoder = load_addon(tiny_addon, registry=toy_registry).networks["encoder"]
    with pytest.raises(AddonError, match=r"network 'encoder' takes 'symbols' as torch\.int64, but was given "
                                         r"torch\.float32"):
        encoder.run({"symbols": torch.ones(4)})


def test_stamp_digests_keeps_comments_and_replaces_old_digests(tmp_path: Path, tiny_addon: Path,
                                                               toy_registry: Registry) -> None:
    for name in ("encoder.pt2", "decoder.pt2", "postnet.pt"):
        (tmp_path / name).write_bytes((tiny_addon / name).read_bytes())
    text = (tiny_addon / "addon.toml").read_text(encoding="utf-8")
    text = text.replace('[networks.decoder]\n', '[networks.decoder]  # the acoustic decoder\n')
    text = text.replace(f'sha256 = "{sha256_hex((tiny_addon / "decoder.pt2").read_bytes())}"',
                        'sha256 = "' + "0" * 64 + '"')
    (tmp_path / "addon.toml").write_text(text, encoding="utf-8")
    digests = stamp_digests(tmp_path / "addon.toml")
    stamped = (tmp_path / "addon.toml").read_text(encoding="utf-8")
    assert "[networks.decoder]  # the acoustic decoder" in stamped and "0" * 64 not in stamped
    assert stamped.count("sha256 = ") == 3
    assert digests["decoder"] == sha256_hex((tmp_path / "decoder.pt2").read_bytes())
    load_addon(tmp_path, registry=toy_registry)


def test_shipped_addons_declare_the_digests_of_their_files() -> None:
    import tomllib

    configs = list(Path(__file__).parents[1].glob("plugins/*/src/**/addon/addon.toml"))
    assert len(configs) >= 2
    for config in configs:
        networks = tomllib.loads(config.read_text(encoding="utf-8"))["networks"]
        for spec in networks.values():
            assert spec["sha256"] == sha256_hex((config.parent / spec["file"]).read_bytes()), config

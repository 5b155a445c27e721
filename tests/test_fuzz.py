"""Fuzz the real CLI with generated bad input: configs, addons, texts, output paths and environment variables.

Every case must exit 1 (2 for wrong usage) with one paragraph on stderr, no traceback, and the
config path when there is one; none may hang. The cases run through ``ttsint.cli.run`` in one
driver process (torch is imported once), and a sample also runs as separate ``ttsint`` processes.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import shutil
import subprocess
import sys
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch
import ttsint
from commands import ttsint_command
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

TESTS = Path(__file__).parent
DECODER = "stack.0.streamable_block.stack.1"
UPSAMPLER = "stack.0.streamable_block.stack.0"


def _path(dotted: str) -> str:
    """The config path the builder reports for a dotted --set key: stack.0.x -> stack[0].x."""
    parts = []
    for part in dotted.split("."):
        if part.isdigit() and parts:
            parts[-1] += f"[{part}]"
        else:
            parts.append(part)
    return ".".join(parts)


def case(id: str, argv: list[str], *, expect: int = 1, path: str | None = None,
         env: dict[str, str] | None = None, stdin: bytes = b"", timeout: int = 120,
         sys_path: list[str] | None = None, sys_path_last: bool = False) -> dict[str, Any]:
    """One CLI run; ``sys_path`` puts folders (e.g. an extra installed distribution) first on the path
    (last with ``sys_path_last``)."""
    return {"id": id, "argv": argv, "expect": expect, "path": path, "env": env or {}, "stdin": stdin.hex(),
            "timeout": timeout, "sys_path": sys_path or [], "sys_path_last": sys_path_last}


# -- exported networks that misbehave -------------------------------------------------------------

class _NaNDecoder(torch.nn.Module):
    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return frames[..., :1].expand(-1, -1, 80) * float("nan")


class _NarrowDecoder(torch.nn.Module):
    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return frames[..., :40] * mask.unsqueeze(-1)


class _HugeDurations(torch.nn.Module):
    def forward(self, symbols: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.ones_like(mask) * 1e6


def _export(module: torch.nn.Module, args: tuple[torch.Tensor, ...], path: Path) -> None:
    length = torch.export.Dim("length", min=1, max=65536)
    program = torch.export.export(module.eval(), args, dynamic_shapes=tuple({1: length} for _ in args))
    torch.export.save(program, str(path))


class _Touch:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Any, ...]:
        return (Path.touch, (self.marker,))


@pytest.fixture(scope="module")
def addons(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Broken copies of the demo addon, one per way an addon can be bad."""
    demo = ttsint.load_addon("demo").path
    root = tmp_path_factory.mktemp("fuzz-addons")
    made: dict[str, Path] = {}

    def copy(name: str) -> Path:
        target = root / name
        shutil.copytree(demo, target)
        made[name] = target
        return target

    def set_config(directory: Path, old: str, new: str, stamp: bool = False) -> None:
        config = directory / "addon.toml"
        text = config.read_text(encoding="utf-8")
        assert old in text, old
        config.write_text(text.replace(old, new, 1), encoding="utf-8")
        if stamp:
            ttsint.stamp_digests(config)

    d = copy("flipped")
    data = bytearray((d / "decoder.pt2").read_bytes())
    data[50_000:54_096] = bytes(b ^ 0xFF for b in data[50_000:54_096])
    (d / "decoder.pt2").write_bytes(bytes(data))
    d = copy("flipped-restamped")  # the digest matches, so the damage must be found in the archive itself
    whole = bytearray((d / "decoder.pt2").read_bytes())
    whole[-4096:] = bytes(b ^ 0xFF for b in whole[-4096:])
    (d / "decoder.pt2").write_bytes(bytes(whole))
    ttsint.stamp_digests(d / "addon.toml")
    for name, stamp in (("truncated", False), ("truncated-restamped", True)):
        d = copy(name)
        whole = (d / "decoder.pt2").read_bytes()
        (d / "decoder.pt2").write_bytes(whole[: len(whole) // 2])
        if stamp:
            ttsint.stamp_digests(d / "addon.toml")
    d = copy("traversal")
    shutil.copy(d / "decoder.pt2", root / "outside.pt2")
    set_config(d, 'file = "decoder.pt2"', 'file = "../outside.pt2"')
    d = copy("absolute")
    set_config(d, 'file = "decoder.pt2"', f'file = "{root / "outside.pt2"}"')
    d = copy("symlink-out")
    (d / "decoder.pt2").unlink()
    os.symlink(root / "outside.pt2", d / "decoder.pt2")
    d = copy("missing-network")
    (d / "decoder.pt2").unlink()
    d = copy("network-is-dir")
    (d / "decoder.pt2").unlink()
    (d / "decoder.pt2").mkdir()
    d = copy("wrong-inputs")
    set_config(d, 'inputs = ["frames", "mask"]', 'inputs = ["hidden", "mask"]')
    d = copy("wrong-outputs")
    set_config(d, 'outputs = ["mel"]', 'outputs = ["mel", "energy"]')
    d = copy("wrong-digest")
    set_config(d, 'sha256 = "', 'sha256 = "0000', stamp=False)
    d = copy("no-digest")
    text = (d / "addon.toml").read_text(encoding="utf-8")
    kept = [line for line in text.splitlines() if not line.startswith("sha256")]
    (d / "addon.toml").write_text("\n".join(kept) + "\n", encoding="utf-8")
    marker = root / "PAYLOAD-RAN"
    d = copy("pickle-sample-inputs")
    with zipfile.ZipFile(io.BytesIO((d / "decoder.pt2").read_bytes())) as zin:
        members = {n: zin.read(n) for n in zin.namelist()}
    prefix = next(iter(members)).split("/", 1)[0]
    buffer = io.BytesIO()
    torch.save(((_Touch(marker),), {}), buffer)
    members[f"{prefix}/data/sample_inputs/model.pt"] = buffer.getvalue()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as zout:
        for n, b in members.items():
            zout.writestr(n, b)
    (d / "decoder.pt2").write_bytes(out.getvalue())
    ttsint.stamp_digests(d / "addon.toml")
    d = copy("bare-pickle")
    (d / "decoder.pt2").write_bytes(pickle.dumps(_Touch(marker)))
    ttsint.stamp_digests(d / "addon.toml")
    d = copy("nan-decoder")
    _export(_NaNDecoder(), (torch.randn(1, 9, 64), torch.ones(1, 9)), d / "decoder.pt2")
    ttsint.stamp_digests(d / "addon.toml")
    d = copy("narrow-decoder")
    _export(_NarrowDecoder(), (torch.randn(1, 9, 64), torch.ones(1, 9)), d / "decoder.pt2")
    ttsint.stamp_digests(d / "addon.toml")
    d = copy("huge-durations")
    _export(_HugeDurations(), (torch.ones(1, 5, dtype=torch.long), torch.ones(1, 5)),
            d / "duration_predictor.pt2")
    ttsint.stamp_digests(d / "addon.toml")
    d = copy("no-config")
    (d / "addon.toml").unlink()
    d = copy("bad-toml")
    (d / "addon.toml").write_text("name = \n[[", encoding="utf-8")
    d = copy("json-list")
    (d / "addon.toml").unlink()
    (d / "addon.json").write_text("[1, 2, 3]", encoding="utf-8")
    d = copy("deep-json")
    (d / "addon.toml").unlink()
    (d / "addon.json").write_text("[" * 5000 + "]" * 5000, encoding="utf-8")
    d = copy("nested-stacks")
    config = ttsint.load_addon(demo).config
    spec: dict[str, Any] = {"type": "Gain", "db": 0.0}
    for _ in range(250):
        spec = {"type": "StreamableStack", "stack": [spec]}
    config["stack"] = [config["stack"][0], spec]
    (d / "addon.toml").unlink()
    (d / "addon.json").write_text(json.dumps(config), encoding="utf-8")
    d = copy("empty-stack")
    set_config(d, "[[stack]]", "stack = []\n[[unused]]")
    d = copy("missing-symbols-file")
    characters = 'type = "characters"\nsymbols = '
    set_config(d, characters, 'type = "flite-phones"\nsymbols_file = "nope.json"\n#')
    d = copy("symbols-file-outside")
    set_config(d, characters, 'type = "flite-phones"\nsymbols_file = "../../x.json"\n#')
    d = copy("limits-bad")
    set_config(d, "[frontend]", "[limits]\nmax_frames_per_symbol = 0\n\n[frontend]")
    d = copy("tiny-limit")
    set_config(d, "[frontend]", "[limits]\nmax_frames_per_utterance = 3\n\n[frontend]")
    d = copy("symlink-loop")
    (d / "decoder.pt2").unlink()
    os.symlink("decoder.pt2", d / "decoder.pt2")
    d = copy("config-symlink-out")  # addon.toml leads to a config outside the addon folder
    shutil.copy(d / "addon.toml", root / "outside.toml")
    (d / "addon.toml").unlink()
    os.symlink(root / "outside.toml", d / "addon.toml")
    d = copy("config-symlink-loop")
    (d / "addon.toml").unlink()
    os.symlink("addon.toml", d / "addon.toml")
    d = copy("huge-sample-rate")
    set_config(d, "sample_rate = 16000", "sample_rate = 1000000000000")
    _duplicate_dsp_distribution(root / "dup-dist")
    _foreign_models(root / "foreign")
    d = copy("onnx-custom-domain")  # a network that only a native custom-op library could run
    shutil.copy(root / "foreign" / "custom-domain.onnx", d / "decoder.onnx")
    set_config(d, 'file = "decoder.pt2"', 'file = "decoder.onnx"')
    ttsint.stamp_digests(d / "addon.toml")
    d = copy("onnx-external-data")  # a network whose weights would be read from ../../etc/passwd
    shutil.copy(root / "foreign" / "external-data.onnx", d / "decoder.onnx")
    set_config(d, 'file = "decoder.pt2"', 'file = "decoder.onnx"')
    ttsint.stamp_digests(d / "addon.toml")
    made["root"] = root
    return made


def _foreign_models(where: Path) -> None:
    """Small ONNX files and voice packs as other projects ship them, each bad in one way."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper

    where.mkdir()
    weight = helper.make_tensor("w", TensorProto.FLOAT, [4], [1.0, 2.0, 3.0, 4.0])
    ids = helper.make_tensor_value_info("input", TensorProto.INT64, [1, "n"])
    out = helper.make_tensor_value_info("output", TensorProto.FLOAT, [1, 1, "t"])
    nodes = [helper.make_node("Cast", ["input"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Mul", ["f", "w"], ["output"])]

    def save(name: str, model: onnx.ModelProto) -> None:
        (where / name).write_bytes(model.SerializeToString())

    plain = helper.make_model(helper.make_graph(nodes, "g", [ids], [out], [weight]))
    save("plain.onnx", plain)
    custom = helper.make_model(helper.make_graph(
        [helper.make_node("Speak", ["input"], ["output"], domain="com.example")], "g", [ids], [out]),
        opset_imports=[helper.make_opsetid("", 17), helper.make_opsetid("com.example", 1)])
    save("custom-domain.onnx", custom)
    external = onnx.ModelProto()
    external.CopyFrom(plain)
    w = external.graph.initializer[0]
    w.ClearField("float_data")
    w.data_location = TensorProto.EXTERNAL
    entry = w.external_data.add()
    entry.key, entry.value = "location", "../../etc/passwd"
    save("external-data.onnx", external)
    (where / "truncated.onnx").write_bytes((where / "plain.onnx").read_bytes()[:40])
    (where / "random.onnx").write_bytes(bytes(range(256)) * 16)
    config = {"audio": {"sample_rate": 22050}, "espeak": {"voice": "en-us"}, "num_symbols": 4,
              "phoneme_id_map": {"_": [0], "^": [1], "$": [2], "a": [3]},
              "inference": {"noise_scale": 0.667, "length_scale": 1, "noise_w": 0.8}}
    for name in ("plain", "custom-domain", "external-data", "truncated", "random"):
        (where / f"{name}.onnx.json").write_text(json.dumps(config), encoding="utf-8")
    for name, bad in {"not-json": "{", "list": "[1, 2]", "rate-zero": {**config, "audio": {"sample_rate": 0}},
                      "ids-beyond": {**config, "phoneme_id_map": {**config["phoneme_id_map"], "b": [900]}},
                      "no-map": {k: v for k, v in config.items() if k != "phoneme_id_map"}}.items():
        folder = where / name
        folder.mkdir()
        shutil.copy(where / "plain.onnx", folder / "voice.onnx")
        text = bad if isinstance(bad, str) else json.dumps(bad)
        (folder / "voice.onnx.json").write_text(text, encoding="utf-8")
    np.save(where / "pack-shape.npy", np.zeros((510, 1, 128), np.float32))
    np.save(where / "pack-dtype.npy", np.zeros((510, 1, 256), np.float64))
    np.save(where / "pack-nan.npy", np.full((510, 1, 256), np.nan, np.float32))
    np.save(where / "pack-objects.npy", np.array([None], dtype=object), allow_pickle=True)
    np.savez(where / "pack-npz-shape.npz", af_x=np.zeros((3, 3), np.float32))
    (where / "af_x.bin").write_bytes(bytes(1000))


def _duplicate_dsp_distribution(where: Path) -> None:
    """A second installed distribution whose entry point is also named ``dsp`` and takes ``plot``."""
    info = where / "other_dsp-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: other-dsp\nVersion: 1.0\n", encoding="utf-8")
    (info / "entry_points.txt").write_text("[ttsint]\ndsp = other_dsp_plugin\n", encoding="utf-8")
    (where / "other_dsp_plugin.py").write_text(
        "import click\nimport ttsint\n\n\n@ttsint.hookimpl\ndef ttsint_register_commands(cli):\n"
        "    cli.add_command(click.Command('plot', callback=lambda: None))\n", encoding="utf-8")


def _cases(addons: dict[str, Path]) -> list[dict[str, Any]]:
    cases: list[dict[str, Any]] = []
    # configs: typed parameters, ranges and kinds through --set
    int_keys = [f"{DECODER}.chunk_frames", f"{UPSAMPLER}.chunk_frames", f"{DECODER}.first_chunk_frames",
                f"{DECODER}.context_frames"]
    for key in int_keys:
        for value in ("abc", "2.5", "nan", "inf", "[1, 2]", "true", "-1", "{ a = 1 }", '""'):
            cases.append(case(f"int:{key}={value}", ["check", "demo", "--set", f"{key}={value}"],
                              path=_path(key)))
        cases.append(case(f"int:{key}=0", ["check", "demo", "--set", f"{key}=0"], path=_path(key))
                     if not key.endswith("context_frames") else
                     case(f"int:{key}=-3", ["check", "demo", "--set", f"{key}=-3"], path=_path(key)))
    for value in ("1e-9", "0", "-1", "1e9", "nan", "-inf", '"fast"', "true", "[]"):
        key = f"{UPSAMPLER}.pace"
        cases.append(case(f"pace={value}", ["check", "demo", "--set", f"{key}={value}"], path=_path(key)))
    for value in ("nan", "inf", "1e300", '"loud"', "[1]"):
        cases.append(case(f"gain-db={value}", ["check", "demo", "--set", "stack.1.type=Gain",
                                                "--set", f"stack.1.db={value}"], path="stack[1].db"))
    for value in ("0", "-5", "1000000", "2.5", "false"):
        cases.append(case(f"griffinlim-n_iter={value}",
                          ["check", "en-rms", "--set", f"stack.1.n_iter={value}"], path="stack[1].n_iter"))
    structural = [
        ("unknown-param", [f"{DECODER}.chunk_frams=3"], _path(DECODER)),
        ("unknown-type", ["stack.0.type=Nope"], "stack[0].type"),
        ("empty-type", ['stack.0.type=""'], "stack[0].type"),
        ("type-not-string", ["stack.0.type=3"], "stack[0].type"),
        ("wrong-kind", [f"{DECODER}.type=Encoders"], _path(DECODER) + ".type"),
        ("sequence-in-stream", ["stack.0.sequence_block.type=Upsampler"], "stack[0].sequence_block.type"),
        ("missing-type", ["stack.1.foo=1"], "stack[1].type"),
        ("index-out-of-range", ["stack.5.type=Gain"], "stack.5"),
        ("index-not-number", ["stack.x.type=Gain"], "stack.x"),
        ("key-inside-value", ["name.x=1"], "name.x"),
        ("name-not-string", ["name=5"], "name"),
        ("sample-rate-negative", ["sample_rate=-1"], "sample_rate"),
        ("n-mels-zero", ["n_mels=0"], "n_mels"),
        ("hop-string", ['hop_length="x"'], "hop_length"),
        ("hop-float", ["hop_length=2.5"], "hop_length"),
        ("frontend-unknown", ["frontend.type=nope"], "frontend.type"),
        ("frontend-symbols-int", ["frontend.symbols=5"], "frontend"),
        ("frontend-unknown-param", ["frontend.colour=1"], "frontend.colour"),
        ("frontend-unknown-mode", ['frontend.unknown="maybe"'], "frontend.unknown"),
        ("network-traversal", ["networks.decoder.file=../../../etc/passwd"], "networks.decoder.file"),
        ("network-absolute", ["networks.decoder.file=/etc/passwd"], "networks.decoder.file"),
        ("network-format", ["networks.decoder.file=addon.toml"], "networks.decoder.file"),
        ("network-digest", ["networks.decoder.sha256=abc"], "networks.decoder.sha256"),
        ("network-inputs-empty", ["networks.decoder.inputs=[]"], "networks.decoder.inputs"),
        ("network-inputs-renamed", ['networks.decoder.inputs=["x", "mask"]'], "networks.decoder.inputs"),
        ("network-rf-negative", ["networks.decoder.receptive_field=-2"], "networks.decoder.receptive_field"),
        ("network-rf-string", ["networks.decoder.receptive_field=wide"], "networks.decoder.receptive_field"),
        ("networks-not-table", ["networks=3"], "networks"),
        ("stack-empty", ["stack=[]"], "stack"),
        ("stack-string", ["stack=oops"], "stack"),
        ("limits-zero", ["limits.max_frames_per_symbol=0"], "limits.max_frames_per_symbol"),
        ("limits-unknown", ["limits.speed=1"], "limits.speed"),
        ("limits-float", ["limits.max_text_chars=2.5"], "limits.max_text_chars"),
        ("segments-pause", ["segments.pause=-1"], "segments.pause"),
        ("segments-unknown", ["segments.when=1"], "segments.when"),
        ("deep-set", ["stack.1=" + "{ a = " * 100 + "1" + " }" * 100], "stack.1"),
        ("network-unknown", [f"{DECODER}.network=nope"], _path(DECODER) + ".network"),
        ("exact-string", [f"{DECODER}.exact=maybe"], _path(DECODER) + ".exact"),
    ]
    for name, sets, path in structural:
        argv = ["check", "demo"] + [a for s in sets for a in ("--set", s)]
        cases.append(case(f"config:{name}", argv, path=path))
        if name in ("unknown-type", "wrong-kind", "network-traversal", "stack-empty", "deep-set"):
            cases.append(case(f"config-synth:{name}", ["synth", "hello", "--addon", "demo"] +
                              [a for s in sets for a in ("--set", s)], path=path))
    # addons
    addon_cases = {
        "flipped": "networks.decoder.sha256", "flipped-restamped": "networks.decoder.file",
        "truncated": "networks.decoder.sha256", "truncated-restamped": "networks.decoder.file",
        "traversal": "networks.decoder.file", "absolute": "networks.decoder.file",
        "symlink-out": "networks.decoder.file", "missing-network": "networks.decoder.file",
        "network-is-dir": "networks.decoder.file", "wrong-inputs": "networks.decoder.inputs",
        "wrong-outputs": "networks.decoder.outputs", "wrong-digest": "networks.text_encoder.sha256",
        "no-digest": "networks.text_encoder.sha256", "pickle-sample-inputs": "networks.decoder.file",
        "bare-pickle": "networks.decoder.file", "no-config": None, "bad-toml": None, "json-list": None,
        "deep-json": None, "nested-stacks": "nested deeper than 64 levels", "empty-stack": "stack",
        "limits-bad": "limits.max_frames_per_symbol",
    }
    for name, path in addon_cases.items():
        cases.append(case(f"addon-check:{name}", ["check", str(addons[name])], path=path))
        cases.append(case(f"addon-synth:{name}", ["synth", "hello world", "--addon", str(addons[name]),
                                                  "-o", str(addons["root"] / f"{name}.npy")], path=path))
    runtime = {"nan-decoder": "stack[0].streamable_block.stack[1]",
               "narrow-decoder": "stack[0].streamable_block.stack[1]",
               "huge-durations": "max_frames_per_symbol", "tiny-limit": "max_frames_per_utterance",
               "missing-symbols-file": "frontend.symbols_file",
               "symbols-file-outside": "frontend.symbols_file"}
    for name, path in runtime.items():
        cases.append(case(f"addon-run:{name}", ["synth", "hello world", "--addon", str(addons[name]),
                                                "-o", str(addons["root"] / f"{name}.npy")], path=path))
        cases.append(case(f"addon-run-stdout:{name}", ["synth", "hello world", "--addon", str(addons[name])],
                          path=path))
    # texts
    texts: dict[str, str] = {
        "empty": "", "spaces": "   ", "punctuation": "?!...,", "controls": "\x01\x02\x03",
        "nul": "\x00", "emoji": "\U0001F600\U0001F600", "cjk": "\u4f60\u597d", "rtl": "\u202e\u05e9\u05dc",
        "combining": "\u0301\u0301", "newlines": "\n\n\n", "long-word": "a" * 200_000,
        "tabs": "\t\t", "zero-width": "\u200b\u200b", "private-use": "\ue000\ue001",
    }
    for name, text in texts.items():
        cases.append(case(f"text:{name}", ["synth", text, "--addon", "demo"]))
        cases.append(case(f"stdin:{name}", ["synth", "-", "--addon", "demo"], stdin=text.encode("utf-8")))
    for name, data in {"invalid-utf8": b"\xff\xfe\xfd", "latin1": "caf\xe9".encode("latin-1"),
                       "truncated-utf8": "\u4f60".encode()[:2], "nul-bytes": b"\x00\x00",
                       "empty": b""}.items():
        cases.append(case(f"stdin-bytes:{name}", ["synth", "-", "--addon", "demo"], stdin=data))
    cases.append(case("text:digits-tiny-limit", ["synth", "1" * 1000, "--addon", str(addons["tiny-limit"])],
                      path="max_frames_per_utterance"))
    cases.append(case("text:too-long", ["synth", "word " * 250_000, "--addon", "demo"]))
    root = addons["root"]
    (root / "binary.txt").write_bytes(b"\xff\xff")
    for name, file in (("missing", root / "nope.txt"), ("dir", root), ("binary", root / "binary.txt")):
        cases.append(case(f"text-file:{name}", ["synth", "--text-file", str(file), "--addon", "demo"],
                          expect=1 if name == "binary" else 2))  # click checks the path: a usage error
    # output paths
    (root / "a-file").write_text("x", encoding="utf-8")
    outputs = {"missing-dir": str(root / "no" / "such" / "x.wav"), "is-dir": str(root),
               "empty": "", "mp3": str(root / "x.mp3"), "no-extension": str(root / "x"),
               "under-a-file": str(root / "a-file" / "x.wav"), "wav-of-mel": str(root / "mel.wav"),
               "spaces": "   "}
    for name, path in outputs.items():
        cases.append(case(f"output:{name}", ["synth", "hello", "--addon", "demo", "-o", path], path="-o",
                          expect=2 if name == "is-dir" else 1))
    cases.append(case("timestamps:missing-dir", ["synth", "hello", "--addon", "demo", "--timestamps",
                                                 str(root / "no" / "t.json")], path="--timestamps"))
    cases.append(case("plot:unknown-format", ["synth", "hello", "--addon", "demo", "--plot",
                                              str(root / "m.bmp")], path="--plot"))
    cases.append(case("plot:missing-dir", ["synth", "hello", "--addon", "demo", "--plot",
                                           str(root / "no" / "m.png")], path="--plot"))
    # environment variables (with a bad command, since the variables alone are not errors)
    env_cases = {
        "disable-encoders": {"TTSINT_DISABLE_PLUGINS": "encoders"},
        "disable-all": {"TTSINT_DISABLE_PLUGINS": "encoders,dsp,voice-en,inferentia"},
        "disable-garbage": {"TTSINT_DISABLE_PLUGINS": ",,,\x7f"},
        "strict-false": {"TTSINT_STRICT_PLUGINS": "false"},
        "strict-yes": {"TTSINT_STRICT_PLUGINS": "yes"},
        "strict-garbage": {"TTSINT_STRICT_PLUGINS": "\u00e9"},
        "cache-unwritable": {"TTSINT_CACHE_DIR": "/proc/ttsint-cache"},
        "cache-is-file": {"TTSINT_CACHE_DIR": str(root / "a-file")},
    }
    for name, env in env_cases.items():
        # An unknown boolean spelling is an error of its own, before any other.
        garbage = "TTSINT_STRICT_PLUGINS" if name == "strict-garbage" else None
        cases.append(case(f"env:{name}:unknown-addon", ["synth", "hi", "--addon", "no-such-voice"], env=env,
                          path=garbage))
        at = None if "disable" in name else _path(DECODER) + ".chunk_frames"
        cases.append(case(f"env:{name}:bad-set", ["check", "demo", "--set", f"{DECODER}.chunk_frames=x"],
                          env=env, path=garbage or at))
    for name in ("cache-unwritable", "cache-is-file"):
        cases.append(case(f"env:{name}:neuron", ["synth", "hi", "--addon", "demo", "--set",
                                                "stack.0.sequence_block.type=NeuronEncoders", "--set",
                                                "stack.0.sequence_block.precompile=true"],
                          env=env_cases[name]))
    # runtimes and devices, for the whole voice and for one block
    runtimes = {"unknown": ["--runtime", "nope"], "empty": ["--runtime", ""],
                "bad-json": ["--runtime", "{bad"], "type-int": ["--runtime", '{"type": 3}'],
                "no-type": ["--runtime", '{"threads": 2}'],
                "option-wrong": ["--runtime", '{"type": "torch", "threads": "x"}'],
                "option-unknown": ["--runtime", '{"type": "torch", "colour": 1}'],
                "device-unknown": ["--device", "gpu"], "device-empty": ["--device", ""],
                "device-absent": ["--device", "cuda:7"], "device-index": ["--device", "cpu:x"],
                "device-mps": ["--device", "mps"],
                "onnx-on-cuda": ["--runtime", "onnxruntime", "--device", "cuda"]}
    for name, extra in runtimes.items():
        path = "--device" if "--device" in extra else "--runtime"
        cases.append(case(f"runtime-synth:{name}", ["synth", "hello", "--addon", "demo", *extra], path=path))
        cases.append(case(f"runtime-check:{name}", ["check", "demo", *extra], path=path))
    block_settings = {"block-runtime": (f"{DECODER}.runtime=nope", _path(DECODER) + ".runtime"),
                      "block-device": (f"{DECODER}.device=3", _path(DECODER) + ".device"),
                      "block-device-absent": (f'{DECODER}.device="cuda:3"', _path(DECODER) + ".device"),
                      "block-runtime-table": (f"{DECODER}.runtime={{ threads = 2 }}",
                                              _path(DECODER) + ".runtime"),
                      "network-runtime": ("networks.decoder.runtime=nope", "networks.decoder.runtime")}
    for name, (value, path) in block_settings.items():
        cases.append(case(f"runtime-set:{name}", ["synth", "hello", "--addon", "demo", "--set", value],
                          path=path))
    # ttsint verify: configurations, texts and tolerance
    (root / "empty.txt").write_text("", encoding="utf-8")
    (root / "blank-lines.txt").write_text("\n \n\t\n", encoding="utf-8")
    (root / "controls.txt").write_text("\x01\x02\n", encoding="utf-8")
    verify = {"runtime-unknown": (["--vs", "runtime=nope", "--texts", "1"], "runtime"),
              "device-unknown": (["--vs", "device=gpu", "--texts", "1"], "device"),
              "unclosed-quote": (["--vs", "'runtime=torch", "--texts", "1"], "--vs"),
              "no-equals": (["--vs", "runtime", "--texts", "1"], "--vs"),
              "unknown-type": (["--vs", "stack.0.type=Nope", "--texts", "1"], "stack[0].type"),
              "bad-param": (["--vs", f"{DECODER}.chunk_frames=x", "--texts", "1"], _path(DECODER)),
              "texts-zero": (["--vs", "runtime=torch", "--texts", "0"], "--texts"),
              "texts-negative": (["--vs", "runtime=torch", "--texts", "-3"], "--texts"),
              "texts-huge": (["--vs", "runtime=torch", "--texts", "100000000"], "--texts"),
              "texts-missing": (["--vs", "runtime=torch", "--texts", str(root / "nope.txt")], "--texts"),
              "texts-dir": (["--vs", "runtime=torch", "--texts", str(root)], "--texts"),
              "texts-binary": (["--vs", "runtime=torch", "--texts", str(root / "binary.txt")], "--texts"),
              "texts-empty": (["--vs", "runtime=torch", "--texts", str(root / "empty.txt")], "--texts"),
              "texts-blank": (["--vs", "runtime=torch", "--texts", str(root / "blank-lines.txt")], "--texts"),
              "tolerance-nan": (["--vs", "runtime=torch", "--texts", "1", "--tolerance", "nan"],
                                "--tolerance"),
              "tolerance-negative": (["--vs", "runtime=torch", "--texts", "1", "--tolerance", "-1"],
                                     "--tolerance")}
    for name, (extra, path) in verify.items():
        cases.append(case(f"verify:{name}", ["verify", "demo", *extra], path=path))
    cases.append(case("verify:unknown-addon", ["verify", "no-such-voice", "--vs", "runtime=torch"]))
    cases.append(case("verify:broken-addon", ["verify", str(addons["nan-decoder"]), "--vs",
                                              "runtime=torch", "--texts", "1"], path=_path(DECODER)))
    cases.append(case("usage:verify-no-vs", ["verify", "demo"], expect=2))
    cases.append(case("usage:verify-tolerance-word",
                      ["verify", "demo", "--vs", "x=1", "--tolerance", "tiny"], expect=2))
    # --text-file contents
    (root / "huge.txt").write_text("word " * 250_000, encoding="utf-8")
    (root / "nul.txt").write_bytes(b"\x00\x00\x00")
    for name in ("empty", "blank-lines", "controls", "huge", "nul"):
        cases.append(case(f"text-file:{name}", ["synth", "--text-file", str(root / f"{name}.txt"),
                                                 "--addon", "demo"]))
    # --timestamps paths
    for name, path in {"empty": "", "spaces": "  ", "under-a-file": str(root / "a-file" / "t.json")}.items():
        cases.append(case(f"timestamps:{name}", ["synth", "hello", "--addon", "demo", "--timestamps", path],
                          path="--timestamps"))
    cases.append(case("timestamps:is-dir", ["synth", "hello", "--addon", "demo", "--timestamps", str(root)],
                      expect=2))
    # ttsint bench --quick: every bad argument fails before anything is measured
    bench = {"only-unknown": ["--only", "nope"], "only-empty": ["--only", ""],
             "only-commas": ["--only", ",,"], "addon-unknown": ["--addon", "no-such-voice"],
             "addon-broken": ["--addon", str(addons["bad-toml"])],
             "json-missing-dir": ["--json", str(root / "no" / "b.json")],
             "markdown-under-file": ["--markdown", str(root / "a-file" / "b.md")],
             "plot-format": ["--plot", str(root / "b.bmp")], "plot-empty": ["--plot", ""],
             "json-empty": ["--json", ""]}
    for name, extra in bench.items():
        path = next((a for a in extra if a.startswith("--") and a != "--only" and a != "--addon"), None)
        cases.append(case(f"bench:{name}", ["bench", "--quick", *extra], path=path, timeout=60))
    cases.append(case("usage:bench-extra", ["bench", "--quick", "extra"], expect=2))
    cases.append(case("usage:bench-json-dir", ["bench", "--quick", "--json", str(root)], expect=2))
    # usage errors: exit 2
    usage = {"no-such-command": ["speak"], "synth-no-text": ["synth"],
             "set-without-value": ["check", "demo", "--set"],
             "unknown-option": ["synth", "x", "--bogus"], "check-no-addon": ["check"],
             "extra-argument": ["blocks", "extra"], "text-and-file": ["synth", "x", "--text-file", "y"],
             "debug-after-command": ["synth", "x", "--debug"]}
    for name, argv in usage.items():
        cases.append(case(f"usage:{name}", argv, expect=2))
    cases.append(case("set:no-equals", ["check", "demo", "--set", "stack.0.type"], path="--set"))
    cases.append(case("addon:missing", ["check", str(root / "nope")]))
    cases.append(case("addon:unknown-name", ["check", "dem"]))
    cases += _second_pass_cases(addons)
    return cases


def _second_pass_cases(addons: dict[str, Path]) -> list[dict[str, Any]]:
    """Issue 29: what an outside fuzz found after the first pass (each one a traceback or an exit 0)."""
    import numpy as np

    root = addons["root"]
    cases = []
    for name, path in (("symlink-loop", "networks.decoder.file"), ("config-symlink-out", "addon.toml"),
                       ("config-symlink-loop", "addon.toml"), ("huge-sample-rate", "sample_rate")):
        cases.append(case(f"addon-check:{name}", ["check", str(addons[name])], path=path))
        cases.append(case(f"addon-synth:{name}", ["synth", "hello world", "--addon", str(addons[name]),
                                                  "-o", str(root / f"{name}.wav"), "--set",
                                                  "stack.1.type=GriffinLim"], path=path))
    for name, value in (("huge", "1000000000000"), ("above-wav", "5000000000"), ("tiny", "1")):
        cases.append(case(f"sample-rate:{name}", ["synth", "hello", "--addon", "demo", "--set",
                                                  f"sample_rate={value}", "--set", "stack.1.type=GriffinLim",
                                                  "-o", str(root / "rate.wav")], path="sample_rate"))
    cases.append(case("sample-rate:check", ["check", "en-rms", "--set", "sample_rate=1000000000000"],
                      path="sample_rate"))
    for name, text in (("invalid-utf8", "\udcff\udcfe"), ("mixed", "hello \udcc3 world")):
        cases.append(case(f"argv-bytes:{name}", ["synth", text, "--addon", "demo"], path="TEXT"))
    cases.append(case("argv-bytes:plot", ["plot", "\udcff\udcfe", "--addon", "demo", "-o",
                                          str(root / "argv.png")], path="SOURCE"))
    for name, argv in {"synth-empty": ["synth", "hello", "--addon", ""],
                       "synth-spaces": ["synth", "hello", "--addon", "  "],
                       "check-empty": ["check", ""], "plot-empty": ["plot", "hello", "--addon", "",
                                                                    "-o", str(root / "e.png")]}.items():
        cases.append(case(f"addon-arg:{name}", argv, path="addon" if name.startswith("check") else "--addon"))
    # ttsint plot on files that are not mel frames, and on bad timing options
    (root / "random.npy").write_bytes(os.urandom(4096))
    np.save(root / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    np.save(root / "waveform.npy", np.zeros((16000, 1), dtype=np.float32))
    np.save(root / "complex.npy", np.zeros((10, 80), dtype=np.complex64))
    np.save(root / "empty.npy", np.zeros((0, 80), dtype=np.float32))
    np.save(root / "mel.npy", np.random.default_rng(0).standard_normal((40, 80)).astype(np.float32))
    (root / "header-only.npy").write_bytes((root / "mel.npy").read_bytes()[:128])
    for name in ("random", "objects", "complex", "empty", "header-only"):
        cases.append(case(f"plot-npy:{name}", ["plot", str(root / f"{name}.npy"), "-o", str(root / "p.png")],
                          path=f"{name}.npy"))
    mel = str(root / "mel.npy")
    plot_options = {"format-xyz": (["-o", str(root / "x.xyz")], "-o"),
                    "format-none": (["-o", str(root / "x")], "-o"),
                    "hop-negative": (["-o", str(root / "h.png"), "--hop-length", "-1"], "--hop-length"),
                    "hop-zero": (["-o", str(root / "h.png"), "--sample-rate", "0", "--hop-length", "0"],
                                 "--sample-rate"),
                    "rate-negative": (["-o", str(root / "h.png"), "--sample-rate", "-16000"],
                                      "--sample-rate"),
                    "output-missing-dir": (["-o", str(root / "no" / "p.png")], "-o")}
    for name, (extra, path) in plot_options.items():
        cases.append(case(f"plot-option:{name}", ["plot", mel, *extra], path=path))
    cases.append(case("plot-option:text-format-xyz", ["plot", "hello", "--addon", "demo", "-o",
                                                       str(root / "t.xyz")], path="-o"))
    # strict mode: a second distribution whose entry point is also named dsp
    strict = {"TTSINT_STRICT_PLUGINS": "1"}
    dup = [str(root / "dup-dist")]
    cases.append(case("strict:duplicate-dsp-synth", ["synth", "hello", "--addon", "demo"], env=strict,
                      sys_path=dup, path="other-dsp"))
    cases.append(case("strict:duplicate-dsp-check", ["check", "demo"], env=strict, sys_path=dup,
                      path="other-dsp"))
    cases.append(case("strict:duplicate-dsp-found-last", ["synth", "hello", "--addon", "demo"], env=strict,
                      sys_path=dup, sys_path_last=True, path="other-dsp"))
    # imported ONNX voices: custom-domain operators, external data, truncated files, mismatched configs
    foreign = root / "foreign"
    out = str(root / "imported")
    for name in ("custom-domain", "external-data", "truncated", "random", "plain"):
        cases.append(case(f"piper-import:{name}", ["piper", "import", str(foreign / f"{name}.onnx"), "-o",
                                                    f"{out}-{name}"], path=f"{name}.onnx"))
    for name in ("not-json", "list", "rate-zero", "ids-beyond", "no-map"):
        model = str(foreign / name / "voice.onnx")
        cases.append(case(f"piper-config:{name}", ["piper", "import", model, "-o", f"{out}-{name}"],
                          path="voice.onnx"))
    cases.append(case("piper-import:no-config", ["piper", "import", str(root / "a-file"), "-o", f"{out}-x"]))
    for name, path in (("onnx-custom-domain", "networks.decoder.file"),
                       ("onnx-external-data", "networks.decoder.file")):
        cases.append(case(f"addon-check:{name}", ["check", str(addons[name])], path=path))
        cases.append(case(f"addon-synth:{name}", ["synth", "hello", "--addon", str(addons[name])], path=path))
    # Kokoro voice packs: wrong shape, dtype, NaN, objects, a raw .bin of the wrong size
    for name in ("pack-shape.npy", "pack-dtype.npy", "pack-nan.npy", "pack-objects.npy", "pack-npz-shape.npz",
                 "af_x.bin"):
        cases.append(case(f"kokoro-pack:{name}", ["kokoro", "import", "parts", str(foreign / name), "-o",
                                                   str(root / "kokoro-out")]))
    # SSML documents: DTDs and entities (also without --ssml), size, depth, bad values
    laughs = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
              + "".join(f'<!ENTITY lol{i} "{(f"&lol{i - 1};" if i > 1 else "&lol;") * 10}">'
                        for i in range(1, 10))
              + ']><speak>&lol9;</speak>')
    external = ('<?xml version="1.0"?><!DOCTYPE speak [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
                "<speak>&x;</speak>")
    ssml = {"billion-laughs": laughs, "external-entity": external,
            "doctype-only": '<!DOCTYPE speak SYSTEM "http://example.com/x.dtd"><speak>hi</speak>',
            "malformed": "<speak>unclosed <voice>",
            "deep": "<speak>" + "<p>" * 500 + "hi" + "</p>" * 500 + "</speak>",
            "not-speak": "<html>hi</html>", "unknown-voice": '<speak><voice name="nope">hi</voice></speak>',
            "long-break": '<speak>hi<break time="100000s"/></speak>',
            "rate-zero": '<speak><prosody rate="0%">hi</prosody></speak>',
            "audio-file": '<speak><audio src="file:///etc/passwd">hi</audio></speak>'}
    for name, doc in ssml.items():  # <audio> is not fetched: its fallback text is spoken, with a warning
        cases.append(case(f"ssml:{name}", ["synth", "--ssml", doc, "--addon", "en-rms", "-o",
                                            str(root / "ssml.wav")], expect=0 if name == "audio-file" else 1))
    for name in ("billion-laughs", "external-entity"):
        cases.append(case(f"ssml-implied:{name}", ["synth", ssml[name], "--addon", "en-rms"]))
    cases.append(case("ssml:huge", ["synth", "--ssml", "-", "--addon", "en-rms"],
                      stdin=("<speak>" + "word " * 250_000 + "</speak>").encode()))
    # --max-chars refuses long text before any work
    for name, argv in {"too-long": ["synth", "word " * 50, "--max-chars", "100"],
                       "stdin-too-long": ["synth", "-", "--max-chars", "10"],
                       "zero": ["synth", "hello", "--max-chars", "0"],
                       "negative": ["synth", "hello", "--max-chars", "-5"]}.items():
        cases.append(case(f"max-chars:{name}", [*argv, "--addon", "demo"], path="--max-chars",
                          stdin=b"a much longer text than ten characters" if "stdin" in name else b""))
    return cases


def _run_driver(cases: list[dict[str, Any]], tmp: Path) -> dict[str, dict[str, Any]]:
    (tmp / "cases.json").write_text(json.dumps(cases), encoding="utf-8")
    results = tmp / "results.json"
    subprocess.run([sys.executable, str(TESTS / "fuzz_driver.py"), str(tmp / "cases.json"), str(results)],
                   timeout=3600, capture_output=True, text=True)
    return {r["id"]: r for r in json.loads(results.read_text(encoding="utf-8"))}


def _verdict(c: dict[str, Any], r: dict[str, Any] | None) -> str | None:
    """None when the case behaved; otherwise what went wrong."""
    if r is None:
        return "no result (the driver died)"
    if r["code"] == "hang":
        return "hang"
    if r["code"] == "crash":  # an exception escaped ttsint.cli.run: the user sees a traceback
        return "traceback"
    if r["code"] != c["expect"]:
        return f"exit {r['code']}, expected {c['expect']}"
    err = r["stderr"].strip()
    if "Traceback" in err:
        return "traceback"
    if not err or "\n\n" in err:
        return "not one paragraph"
    if c["path"] and c["path"] not in err:
        return f"config path {c['path']!r} not named"
    return None


@pytest.fixture(scope="module")
def fuzz_results(addons: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
                 ) -> tuple[list[dict[str, Any]], dict[str, dict[str, Any]]]:
    cases = _cases(addons)
    return cases, _run_driver(cases, tmp_path_factory.mktemp("fuzz-run"))


def test_fuzz_cli_every_bad_input_gets_a_clear_error(fuzz_results: Any, addons: dict[str, Path]) -> None:
    cases, results = fuzz_results
    assert len(cases) >= 150
    problems = {c["id"]: v for c in cases if (v := _verdict(c, results.get(c["id"])))}
    kinds = Counter("hang" if v == "hang" else "traceback" if v == "traceback" else
                    "exit" if v.startswith("exit") else "other" for v in problems.values())
    summary = (f"{len(cases)} cases: {len(cases) - len(problems)} clean, {kinds['traceback']} tracebacks, "
               f"{kinds['exit']} wrong exit codes, {kinds['hang']} hangs, {kinds['other']} unclear messages")
    print(summary)
    details = "\n".join(f"{k}: {v}: {results.get(k, {}).get('stderr', '')[:300]!r}"
                        for k, v in problems.items())
    assert not problems, summary + "\n" + details
    assert not (addons["root"] / "PAYLOAD-RAN").exists()


def test_the_driver_agrees_with_the_ttsint_script(fuzz_results: Any) -> None:
    """A sample of cases run as separate `ttsint` processes: same exit code, same message."""
    cases, results = fuzz_results
    chosen = {f"int:{DECODER}.chunk_frames=abc", "config:unknown-type", "stdin-bytes:invalid-utf8",
              "output:missing-dir", "usage:synth-no-text", "addon-check:pickle-sample-inputs",
              "argv-bytes:invalid-utf8"}  # the script gets real bytes in argv, the driver their surrogates
    sample = [c for c in cases if c["id"] in chosen]
    assert len(sample) == 7
    for c in sample:
        done = subprocess.run([*ttsint_command(), *c["argv"]], input=bytes.fromhex(c["stdin"]),
                              capture_output=True, timeout=300, env={**os.environ, **c["env"]})
        assert done.returncode == results[c["id"]]["code"], c["id"]
        assert done.stderr.decode().strip() == results[c["id"]]["stderr"].strip(), c["id"]


# -- property tests --------------------------------------------------------------------------------

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.text(max_size=12))
def test_set_values_parse_or_stay_text(raw: str) -> None:
    key, value = ttsint.parse_override(f"stack.0.x={raw}")
    assert key == "stack.0.x"
    assert value is None or isinstance(value, (str, int, float, bool, list, dict))


@settings(max_examples=40, deadline=None)
@given(st.one_of(st.text(max_size=8), st.integers(), st.floats(), st.booleans(),
                 st.lists(st.integers(), max_size=3)))
def test_any_chunk_frames_value_is_built_or_named(value: Any) -> None:
    """Any value for a typed parameter either builds or is a ConfigError at its path; nothing else escapes."""
    from ttsint._params import Range, check_values

    class Block:
        def __init__(self, chunk_frames: Any = 1) -> None: ...

    Block.__init__.__annotations__["chunk_frames"] = __import__("typing").Annotated[int, Range(1)]
    try:
        check_values(Block, {"chunk_frames": value}, "stack[0]")
    except ttsint.ConfigError as exc:
        assert exc.path == "stack[0].chunk_frames" and "expected a positive integer" in str(exc)
    else:
        assert isinstance(value, int) and not isinstance(value, bool) and value >= 1


_demo_voice: list[Any] = []


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=40))
def test_any_text_speaks_or_fails_clearly(text: str) -> None:
    if not _demo_voice:
        _demo_voice.append(ttsint.Voice.load("demo"))
    voice = _demo_voice[0]
    try:
        for _ in voice.stream(text):
            pass
    except ttsint.TTSIntError as exc:
        assert str(exc).strip()


# -- ttsint serve: every response_format value, over a real app and voice ------------------------------

@pytest.mark.slow
def test_every_response_format_value_is_served_or_refused_in_one_json_error() -> None:
    """OpenAI's formats answer audio of their media type; anything else (case, spaces, types, paths, an
    unsupported rate) is a 400 whose JSON error names response_format or sample_rate."""
    import time

    from starlette.testclient import TestClient
    from ttsint_serve.app import create_app
    from ttsint_serve.formats import FORMATS
    from ttsint_serve.pool import VoicePool
    from ttsint_serve.scheduler import Scheduler
    from ttsint_serve.specs import parse_voice_spec

    pool = VoicePool([parse_voice_spec("demo:stack.1.type=GriffinLim,stack.1.n_iter=2")])
    with TestClient(create_app(pool, Scheduler(workers=1, max_streams=4))) as client:
        assert pool.loaded.wait(300) and pool.ready
        for name, fmt in FORMATS.items():
            for extra in ({}, {"stream_format": "sse"}):
                answer = client.post("/v1/audio/speech", json={"input": "Hi.", "voice": "demo",
                                                               "response_format": name, **extra})
                assert answer.status_code == 200, (name, extra, answer.text[:300])
                assert answer.content and answer.headers["content-type"].startswith(
                    "text/event-stream" if extra else fmt.media_type), name
        values = ("MP3", "", " wav", "wav;", "../wav", "ogg", "wav\x00", 5, None, ["wav"], {"f": "wav"})
        bad: list[tuple[dict[str, Any], str]] = [({"response_format": v}, "response_format") for v in values]
        rated = next((f for f in FORMATS.values() if f.rates), None)
        if rated is not None:
            bad.append(({"response_format": rated.name, "sample_rate": 11111}, "sample_rate"))
        bad += [({"response_format": "wav", "sample_rate": v}, "sample_rate")
                for v in (0, -1, 10**12, 2.5, "x")]
        started = time.perf_counter()
        for fields, param in bad:
            answer = client.post("/v1/audio/speech", json={"input": "Hi.", "voice": "demo", **fields})
            assert answer.status_code == 400, (fields, answer.status_code)
            error = answer.json()["error"]
            assert error["param"] == param and error["message"] and "Traceback" not in answer.text
        assert time.perf_counter() - started < 30  # refused before any synthesis
        # SSML as input: DTDs and entities, malformed, too deep, an unknown voice
        for doc in ('<!DOCTYPE l [<!ENTITY a "a"><!ENTITY b "&a;&a;">]><speak>&b;</speak>',
                    '<!DOCTYPE speak [<!ENTITY x SYSTEM "file:///etc/passwd">]><speak>&x;</speak>',
                    "<speak>unclosed", "<speak>" + "<p>" * 200 + "x" + "</p>" * 200 + "</speak>",
                    '<speak><voice name="nope">hi</voice></speak>'):
            body = {"input": doc, "voice": "demo", "response_format": "wav"}
            answer = client.post("/v1/audio/speech", json=body)
            assert answer.status_code == 400 and answer.json()["error"]["param"] == "input", doc[:40]

"""Integrity of an addon's networks: bytes match the config's sha256, graphs match its inputs/outputs."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "GraphSignature", "sha256_hex", "check_digest", "graph_signature", "program_signature",
    "program_input_specs", "onnx_signature", "check_signature", "stamp_digests",
]

_HEX64 = re.compile(r"[0-9a-f]{64}")

# Tensors whose meaning ttsint fixes, and the dtype family each must have.
_INPUT_KINDS = {"symbols": "integer", "mask": "floating", "frames": "floating", "mel": "floating"}
_OUTPUT_KINDS = {"mel": "floating", "audio": "floating", "frames": "floating", "text_encoding": "floating"}


def sha256_hex(data: bytes) -> str:
    """The lowercase hex SHA-256 of ``data``, as addon configs write it."""
    return hashlib.sha256(data).hexdigest()


def check_digest(declared: Any, data: bytes, file: str, at: str, source: str | None) -> str:
    """Raise a ConfigError at ``at`` unless ``declared`` is the SHA-256 of ``data``; returns the digest."""
    actual = sha256_hex(data)
    if declared is None:
        raise ConfigError(at, f"missing; every network declares the SHA-256 of its file, so a changed or "
                          f"corrupted {file} is refused", f'add: sha256 = "{actual}"', source=source)
    if not isinstance(declared, str) or not _HEX64.fullmatch(declared.lower()):
        raise ConfigError(at, f"expected 64 hexadecimal digits, got {declared!r}", source=source)
    if declared.lower() != actual:
        raise ConfigError(at, f"{file} has SHA-256 {actual}, but the config declares {declared.lower()}",
                          "the file was changed or corrupted after the addon was built: restore it, or "
                          "rebuild the addon (its build script writes the digests)", source=source)
    return actual


@dataclass(frozen=True)
class GraphSignature:
    """What an exported network takes and returns: input names in call order with dtypes (None if unknown).

    Dtypes are named as torch prints them (``"torch.int64"``), so reading a signature needs no torch.
    """

    inputs: tuple[str, ...]
    input_dtypes: tuple[str | None, ...]
    output_dtypes: tuple[str | None, ...]


# torch.export's serialized ScalarType numbers (torch/_export/serde/schema.py), named as torch prints them.
_SCALAR_TYPES = {1: "uint8", 2: "int8", 3: "int16", 4: "int32", 5: "int64", 6: "float16", 7: "float32",
                 8: "float64", 9: "complex32", 10: "complex64", 11: "complex128", 12: "bool", 13: "bfloat16",
                 28: "uint16", 29: "float8_e4m3fn", 30: "float8_e5m2", 31: "float8_e4m3fnuz",
                 32: "float8_e5m2fnuz", 33: "float8_e8m0fnu", 34: "uint32", 35: "uint64"}
_FLOATING = frozenset(f"torch.{n}" for n in ("float16", "bfloat16", "float32", "float64", "float8_e4m3fn",
                                              "float8_e5m2", "float8_e4m3fnuz", "float8_e5m2fnuz",
                                              "float8_e8m0fnu"))
_NOT_INTEGER = _FLOATING | {"torch.complex32", "torch.complex64", "torch.complex128", "torch.bool"}


def program_signature(program: Any) -> GraphSignature:
    """The signature recorded in a ``.pt2``'s serialized program (its ``models/model.json``, already
    inspected by ``check_archive``), read without deserializing the graph into torch objects."""
    module = program["graph_module"]
    graph, signature = module["graph"], module["signature"]
    values = graph.get("tensor_values", {})

    def tensor_name(arg: Any) -> str | None:
        return (arg or {}).get("as_tensor", {}).get("name") if isinstance(arg, dict) else None

    def dtype(name: str | None) -> str | None:
        number = values.get(name, {}).get("dtype") if name is not None else None
        found = _SCALAR_TYPES.get(number) if isinstance(number, int) else None
        return f"torch.{found}" if found else None

    inputs = [tensor_name(spec["user_input"].get("arg")) for spec in signature["input_specs"]
              if "user_input" in spec]
    outputs = [tensor_name(spec["user_output"].get("arg")) for spec in signature["output_specs"]
               if "user_output" in spec]
    return GraphSignature(tuple(n or "" for n in inputs), tuple(dtype(n) for n in inputs),
                          tuple(dtype(n) for n in outputs))


def program_input_specs(program: Any) -> dict[str, tuple[tuple[int | None, ...], str | None, tuple]]:
    """Each user input of a serialized program: its shape (None for a dynamic dimension), dtype name, and
    for each dimension its (lower, upper) bound when torch.export recorded one for it."""
    module = program["graph_module"]
    values = module["graph"].get("tensor_values", {})
    ranges = program.get("range_constraints") or {}
    found = {}
    for spec in module["signature"]["input_specs"]:
        if "user_input" not in spec:
            continue
        name = spec["user_input"]["arg"]["as_tensor"]["name"]
        meta = values.get(name, {})
        shape, bounds = [], []
        for size in meta.get("sizes", []):
            if "as_int" in size:
                shape.append(size["as_int"])
                bounds.append((size["as_int"], size["as_int"]))
                continue
            shape.append(None)
            expr = size.get("as_expr", {}).get("expr_str", "")
            symbol = re.fullmatch(r"Symbol\('([A-Za-z0-9_]+)'(?:, [a-z]+=True)*\)", expr)
            limits = ranges.get(symbol.group(1)) if symbol else None
            bounds.append((limits.get("min_val"), limits.get("max_val")) if isinstance(limits, dict)
                          else (None, None))
        number = meta.get("dtype")
        dtype = _SCALAR_TYPES.get(number) if isinstance(number, int) else None
        found[name] = (tuple(shape), f"torch.{dtype}" if dtype else None, tuple(bounds))
    return found


def onnx_signature(graph: Any) -> GraphSignature:
    """The signature of an inspected ONNX file (``safety.OnnxGraph``)."""
    return GraphSignature(tuple(n for n, _ in graph.inputs), tuple(d for _, d in graph.inputs),
                          tuple(d for _, d in graph.outputs))


def graph_signature(program: Any) -> GraphSignature | None:
    """Read the signature of a torch.export ExportedProgram or a TorchScript module; None if unreadable."""
    import torch

    if isinstance(program, torch.export.ExportedProgram):
        sig = program.graph_signature
        nodes = {n.name: n for n in program.graph.nodes}
        dtype = _meta_dtype
        outputs = [n for n in program.graph.nodes if n.op == "output"]
        out_args = outputs[0].args[0] if outputs else ()
        by_name = {getattr(a, "name", None): a for a in out_args}
        return GraphSignature(tuple(sig.user_inputs), tuple(dtype(nodes.get(n)) for n in sig.user_inputs),
                              tuple(dtype(by_name.get(n)) for n in sig.user_outputs))
    forward = getattr(program, "forward", None)
    schema = getattr(forward, "schema", None)
    if schema is None:
        return None
    names = tuple(a.name for a in schema.arguments[1:])
    returns = schema.returns[0].type if len(schema.returns) == 1 else None
    elements = getattr(returns, "elements", None)
    count = len(elements()) if callable(elements) else 1
    return GraphSignature(names, (None,) * len(names), (None,) * count)


def _meta_dtype(node: Any) -> str | None:
    value = getattr(node, "meta", {}).get("val")
    dtype = getattr(value, "dtype", None)
    return None if dtype is None else str(dtype)


def check_signature(sig: GraphSignature, inputs: list[str], outputs: list[str], file: str, at: str,
                    source: str | None) -> None:
    """The config's ``inputs``/``outputs`` must match the graph: names, order and count, and known dtypes."""
    if list(sig.inputs) != list(inputs):
        raise ConfigError(f"{at}.inputs", f"{file} takes inputs {list(sig.inputs)} (in this order), but "
                          f"the config declares {list(inputs)}", f"set inputs = {list(sig.inputs)}",
                          source=source)
    if len(sig.output_dtypes) != len(outputs):
        raise ConfigError(f"{at}.outputs", f"{file} returns {len(sig.output_dtypes)} tensor(s), but the "
                          f"config declares {len(outputs)}: {list(outputs)}", source=source)
    for kind, names, dtypes, table in (("input", inputs, sig.input_dtypes, _INPUT_KINDS),
                                       ("output", outputs, sig.output_dtypes, _OUTPUT_KINDS)):
        for name, dtype in zip(names, dtypes, strict=True):
            want = table.get(name)
            if dtype is None or want is None:
                continue
            if not (dtype in _FLOATING if want == "floating" else dtype not in _NOT_INTEGER):
                article = "an" if want == "integer" else "a"
                raise ConfigError(f"{at}.{kind}s", f"{file}'s {kind} {name!r} is {dtype}; ttsint uses "
                                  f"{name!r} as {article} {want} tensor", source=source)


def stamp_digests(config_file: Path) -> dict[str, str]:
    """Write each network's current ``sha256`` (and ``onnx_sha256`` for an ``onnx_file``) into an
    addon.toml/addon.json; build scripts call this last. Returns the digests by network name (an ONNX
    form's as ``NAME.onnx``).

    TOML is edited line by line so comments and layout stay as written: an existing digest line in a
    ``[networks.NAME]`` table is replaced, otherwise one is added after its ``file``/``onnx_file`` line.
    """
    text = config_file.read_text(encoding="utf-8")
    config = json.loads(text) if config_file.suffix == ".json" else tomllib.loads(text)
    keys = {"file": "sha256", "onnx_file": "onnx_sha256"}
    stamps = {(name, key): sha256_hex((config_file.parent / spec[key]).read_bytes())
              for name, spec in config.get("networks", {}).items() for key in keys if key in spec}
    digests = {name if key == "file" else f"{name}.onnx": d for (name, key), d in stamps.items()}
    if config_file.suffix == ".json":
        for (name, key), digest in stamps.items():
            config["networks"][name][keys[key]] = digest
        config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        return digests
    lines, table, out = text.splitlines(), None, []
    written: set[tuple[str, str]] = set()
    stamped = {(name, keys[key]) for name, key in stamps}
    for line in lines:
        header = re.fullmatch(r"\s*\[\s*networks\.([A-Za-z0-9_-]+)\s*\]\s*(#.*)?", line)
        if re.match(r"\s*\[", line):
            table = header.group(1) if header else None
        key = line.split("=", 1)[0].strip() if "=" in line else None
        if (table, key) in stamped:
            continue
        out.append(line)
        if (table, key) in stamps and (table, key) not in written:
            out.append(f'{keys[key]} = "{stamps[table, key]}"')
            written.add((table, key))
    missing = {name for name, _ in set(stamps) - written}
    if missing:
        raise ValueError(f"{config_file}: no [networks.NAME] table with a file line for {sorted(missing)}")
    config_file.write_text("\n".join(out) + "\n", encoding="utf-8")
    return digests

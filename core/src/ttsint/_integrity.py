"""Integrity of an addon's networks: bytes match the config's sha256, graphs match its inputs/outputs."""

from __future__ import annotations

import hashlib
import json
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from ._errors import ConfigError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "GraphSignature", "sha256_hex", "check_digest", "graph_signature", "check_signature", "stamp_digests",
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
    """What an exported network takes and returns: input names in call order with dtypes (None if unknown)."""

    inputs: tuple[str, ...]
    input_dtypes: tuple[torch.dtype | None, ...]
    output_dtypes: tuple[torch.dtype | None, ...]


def graph_signature(program: Any) -> GraphSignature | None:
    """Read the signature of a torch.export ExportedProgram or a TorchScript module; None if unreadable."""
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


def _meta_dtype(node: Any) -> torch.dtype | None:
    value = getattr(node, "meta", {}).get("val")
    return getattr(value, "dtype", None)


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
            integer = not (dtype.is_floating_point or dtype.is_complex or dtype == torch.bool)
            if not (dtype.is_floating_point if want == "floating" else integer):
                article = "an" if want == "integer" else "a"
                raise ConfigError(f"{at}.{kind}s", f"{file}'s {kind} {name!r} is {dtype}; ttsint uses "
                                  f"{name!r} as {article} {want} tensor", source=source)


def stamp_digests(config_file: Path) -> dict[str, str]:
    """Write each network's current ``sha256`` into an addon.toml/addon.json; build scripts call this last.

    TOML is edited line by line so comments and layout stay as written: an existing ``sha256`` line
    in a ``[networks.NAME]`` table is replaced, otherwise one is added after its ``file`` line.
    """
    text = config_file.read_text(encoding="utf-8")
    config = json.loads(text) if config_file.suffix == ".json" else tomllib.loads(text)
    digests = {name: sha256_hex((config_file.parent / spec["file"]).read_bytes())
               for name, spec in config.get("networks", {}).items()}
    if config_file.suffix == ".json":
        for name, digest in digests.items():
            config["networks"][name]["sha256"] = digest
        config_file.write_text(json.dumps(config, indent=2) + "\n", encoding="utf-8")
        return digests
    lines, table, out = text.splitlines(), None, []
    written: set[str] = set()
    for line in lines:
        header = re.fullmatch(r"\s*\[\s*networks\.([A-Za-z0-9_-]+)\s*\]\s*(#.*)?", line)
        if re.match(r"\s*\[", line):
            table = header.group(1) if header else None
        key = line.split("=", 1)[0].strip() if "=" in line else None
        if table in digests and key == "sha256":
            continue
        out.append(line)
        if table in digests and key == "file" and table not in written:
            out.append(f'sha256 = "{digests[table]}"')
            written.add(table)
    missing = set(digests) - written
    if missing:
        raise ValueError(f"{config_file}: no [networks.NAME] table with a file line for {sorted(missing)}")
    config_file.write_text("\n".join(out) + "\n", encoding="utf-8")
    return digests

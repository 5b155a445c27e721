"""Addons: exported networks plus the config (metadata, front end, ``stack``) that says how to run them."""

from __future__ import annotations

import copy
import json
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import AddonError, ConfigError, TTSIntError
from .frontends import Frontend
from .registry import Registry, get_registry

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

__all__ = [
    "Addon", "Network", "network_levels", "load_addon", "default_addon", "apply_overrides", "parse_override",
    "CONFIG_NAMES",
]

CONFIG_NAMES = ("addon.toml", "addon.json")
_REQUIRED_META = {"name": str, "version": str, "sample_rate": int, "n_mels": int, "hop_length": int}


def _ones_mask(net: Network, tensors: Mapping[str, torch.Tensor], batched: bool) -> torch.Tensor:
    first = next((tensors[n] for n in net.inputs if n != "mask" and n in tensors), None)
    if first is None:
        raise AddonError(f"network {net.name!r} needs a 'mask' but has no other input to size it from")
    shape = first.shape[:2] if batched else first.shape[:1]
    return torch.ones(shape, dtype=torch.float32, device=first.device)


@dataclass
class Network:
    """One exported network with named inputs and outputs, from .pt2 (torch.export) or .pt (TorchScript).

    The input name ``mask`` is reserved: a float mask over positions (1 real, 0 padding). When the
    caller gives none, ``run`` passes all ones, which is what unpadded input means.
    """

    name: str
    role: str
    inputs: list[str]
    outputs: list[str]
    path: Path
    module: Any
    receptive_field: int | None = None
    config: dict[str, Any] = field(default_factory=dict)

    def run(self, tensors: Mapping[str, torch.Tensor], *, batched: bool = False) -> dict[str, torch.Tensor]:
        """Call the network with tensors picked by input name; unbatched tensors get a batch of one."""
        if "mask" in self.inputs and "mask" not in tensors:
            tensors = {**tensors, "mask": _ones_mask(self, tensors, batched)}
        missing = [n for n in self.inputs if n not in tensors]
        if missing:
            raise AddonError(f"network {self.name!r} needs input(s) {missing}; available: {sorted(tensors)}")
        args = [tensors[n] if batched else tensors[n].unsqueeze(0) for n in self.inputs]
        with torch.inference_mode():
            out = self.module(*args)
        if isinstance(out, torch.Tensor):
            out = (out,)
        out = tuple(out)
        if len(out) != len(self.outputs):
            raise AddonError(f"network {self.name!r} returned {len(out)} tensors, config declares "
                             f"{len(self.outputs)} outputs {self.outputs}")
        return {n: (t if batched else t.squeeze(0)) for n, t in zip(self.outputs, out, strict=True)}

    def input_specs(self) -> dict[str, tuple[tuple[int | None, ...], torch.dtype]] | None:
        """Each input's shape (None for a dynamic dimension) and dtype, read from a torch.export graph.

        Fixed-shape backends use it to compile ahead of the first utterance; None when the format
        does not record shapes (TorchScript).
        """
        graph = getattr(self.module, "graph", None)
        placeholders = [n for n in getattr(graph, "nodes", []) if n.op == "placeholder"]
        vals = [n.meta.get("val") for n in placeholders]
        if len(vals) != len(self.inputs) or any(v is None or not hasattr(v, "shape") for v in vals):
            return None
        return {name: (tuple(d if isinstance(d, int) else None for d in v.shape), v.dtype)
                for name, v in zip(self.inputs, vals, strict=True)}

    def __repr__(self) -> str:
        rf = f", receptive_field={self.receptive_field}" if self.receptive_field is not None else ""
        return f"Network({self.name!r}, role={self.role!r}, {self.inputs} -> {self.outputs}{rf})"


def network_levels(networks: Sequence[Network]) -> list[list[Network]]:
    """Group networks so each level reads only tensors made by earlier levels (or given from outside).

    Networks within a level are independent of each other and may run in parallel; ValueError on a cycle.
    """
    producers = {out: net.name for net in networks for out in net.outputs}
    levels: list[list[Network]] = []
    done: set[str] = set()
    pending = list(networks)
    while pending:
        ready = [n for n in pending if all(producers.get(i, n.name) in done | {n.name} for i in n.inputs)]
        if not ready:
            raise ValueError(f"encoder networks {[n.name for n in pending]} depend on each other in a cycle")
        levels.append(ready)
        done.update(n.name for n in ready)
        pending = [n for n in pending if n not in ready]
    return levels


@dataclass
class Addon:
    """A loaded addon: ``config`` (overrides applied), ``networks`` by name, and the ``stack`` spec."""

    name: str
    path: Path
    config: dict[str, Any]
    networks: dict[str, Network]
    registry: Registry | None = field(default=None, repr=False)
    _frontend: Frontend | None = field(default=None, repr=False)

    @property
    def stack(self) -> Any:
        return self.config["stack"]

    @property
    def version(self) -> str:
        return self.config["version"]

    @property
    def sample_rate(self) -> int:
        return self.config["sample_rate"]

    @property
    def n_mels(self) -> int:
        return self.config["n_mels"]

    @property
    def hop_length(self) -> int:
        return self.config["hop_length"]

    def networks_with_role(self, role: str) -> list[Network]:
        """Networks of one role (e.g. "encoder"), in config order."""
        return [n for n in self.networks.values() if n.role == role]

    @property
    def frontend(self) -> Frontend:
        """The text front end named in the config, built on first use."""
        if self._frontend is None:
            self._frontend = _build_frontend(self)
        return self._frontend


def parse_override(text: str) -> tuple[str, Any]:
    """Split "a.b.0.c=VALUE"; VALUE is read as JSON when it parses (numbers, true, lists), else as text."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ConfigError("--set", f"expected KEY=VALUE, got {text!r}",
                          "e.g. --set stack.0.sequence_block.type=CustomizedEncoders")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip(), value


def apply_overrides(config: dict[str, Any], overrides: Mapping[str, Any] | None) -> dict[str, Any]:
    """Return a deep copy of ``config`` with dotted-path overrides set; index len(list) appends."""
    result = copy.deepcopy(config)
    for dotted, value in (overrides or {}).items():
        parts = dotted.split(".")
        node: Any = result
        for depth, part in enumerate(parts):
            here = ".".join(parts[:depth + 1])
            last = depth == len(parts) - 1
            nxt: Any = None if last else ([] if parts[depth + 1].isdigit() else {})
            if isinstance(node, list):
                if not part.isdigit():
                    raise ConfigError(here, f"{'.'.join(parts[:depth]) or 'config'} is a list; "
                                      f"expected an index, got {part!r}")
                index = int(part)
                if index > len(node):
                    raise ConfigError(here, f"index {index} is out of range for a list of {len(node)}",
                                      f"use {len(node)} to append")
                if index == len(node):
                    node.append(value if last else nxt)
                elif last:
                    node[index] = value
                node = node[index]
            elif isinstance(node, dict):
                if last:
                    node[part] = value
                else:
                    node = node.setdefault(part, nxt)
            else:
                raise ConfigError(here, f"cannot set a key inside {type(node).__name__} value {node!r}")
    return result


def load_addon(path_or_name: str | Path, overrides: Mapping[str, Any] | None = None, *,
               registry: Registry | None = None) -> Addon:
    """Load an addon directory (or one registered by a plugin under this name) and its networks."""
    registry = registry or get_registry()
    directory = _locate(path_or_name, registry)
    config_file, raw = _read_config(directory)
    config = apply_overrides(raw, overrides)
    source = str(config_file)
    _validate(config, source)
    networks = {name: _load_network(name, spec, directory, source)
                for name, spec in config.get("networks", {}).items()}
    return Addon(config["name"], directory, config, networks, registry)


def _read_config(directory: Path) -> tuple[Path, Any]:
    """The addon's config file and its parsed content (TOML or JSON), or an AddonError saying why not."""
    config_file = next((directory / n for n in CONFIG_NAMES if (directory / n).is_file()), None)
    if config_file is None:
        raise AddonError(f"{directory} has no {' or '.join(CONFIG_NAMES)}")
    try:
        text = config_file.read_text(encoding="utf-8")
        return config_file, tomllib.loads(text) if config_file.suffix == ".toml" else json.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        raise AddonError(f"{config_file} is not valid {config_file.suffix[1:].upper()}: {exc}") from exc


def default_addon(registry: Registry | None = None) -> str:
    """The registered addon with the highest ``priority`` in its config: the best voice installed."""
    registry = registry or get_registry()
    best: tuple[float, str] | None = None
    for name, regs in sorted(registry.addons.items()):
        for reg in regs:
            qualified = name if len(regs) == 1 else reg.qualified_name
            try:
                priority = float(_read_config(Path(reg.load()))[1].get("priority", 0))
            except Exception:
                continue  # a broken addon cannot be the default; loading it by name reports why
            if best is None or priority > best[0]:
                best = (priority, qualified)
    if best is None:
        raise AddonError("no addon is installed; pass --addon PATH, or pip install ttsint-encoders "
                         "for the demo voice")
    return best[1]


def _locate(path_or_name: str | Path, registry: Registry) -> Path:
    path = Path(path_or_name).expanduser()
    if path.is_file() and path.name in CONFIG_NAMES:
        return path.parent.resolve()
    if path.is_dir():
        return path.resolve()
    name = str(path_or_name)
    if name in registry.addons or ":" in name:
        try:
            reg = registry.find(registry.addons, name, what="addon", path="addon")
        except ConfigError as exc:
            raise AddonError(str(exc)) from exc
        return Path(reg.load()).resolve()
    known = sorted(registry.addons)
    import difflib

    close = difflib.get_close_matches(name, known, n=2)
    hint = f"; did you mean {' or '.join(map(repr, close))}?" if close else ""
    raise AddonError(f"no addon directory or registered addon named {name!r}{hint} "
                     f"(registered: {', '.join(known) or 'none'}; `ttsint addons` lists them)")


def _validate(config: Any, source: str) -> None:
    if not isinstance(config, dict):
        raise ConfigError("", f"expected a table at the top level, got {type(config).__name__}",
                          source=source)
    for key, typ in _REQUIRED_META.items():
        if key not in config:
            raise ConfigError(key, "missing", f"an addon declares {', '.join(_REQUIRED_META)}", source=source)
        value = config[key]
        if not isinstance(value, typ) or isinstance(value, bool) or (typ is int and value <= 0):
            want = "a positive integer" if typ is int else "a string"
            raise ConfigError(key, f"expected {want}, got {value!r}", source=source)
    frontend = config.get("frontend")
    if not isinstance(frontend, dict) or not isinstance(frontend.get("type"), str):
        raise ConfigError("frontend.type", "missing; name the text front end, e.g. type = \"characters\"",
                          source=source)
    networks = config.get("networks", {})
    if not isinstance(networks, dict):
        raise ConfigError("networks", f"expected a table of networks by name, got {type(networks).__name__}",
                          source=source)
    for name, spec in networks.items():
        at = f"networks.{name}"
        if not isinstance(spec, dict):
            raise ConfigError(at, f"expected a table, got {type(spec).__name__}", source=source)
        for key in ("file", "role"):
            if not isinstance(spec.get(key), str):
                raise ConfigError(f"{at}.{key}", "missing (expected a string)", source=source)
        for key in ("inputs", "outputs"):
            names = spec.get(key)
            if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
                raise ConfigError(f"{at}.{key}", "expected a non-empty list of tensor names",
                                  source=source)
        rf = spec.get("receptive_field")
        if rf is not None and (not isinstance(rf, int) or isinstance(rf, bool) or rf < 0):
            raise ConfigError(f"{at}.receptive_field", f"expected a non-negative integer, got {rf!r}",
                              "omit it for networks without a finite receptive field", source=source)
    stack = config.get("stack")
    if stack is None:
        raise ConfigError("stack", "missing; the stack says which blocks run this addon", source=source)
    if not isinstance(stack, (list, dict)) or not stack:
        raise ConfigError("stack", f"expected a non-empty list of block specs, got {stack!r}", source=source)


def _load_network(name: str, spec: dict[str, Any], directory: Path, source: str) -> Network:
    file = (directory / spec["file"]).resolve()
    at = f"networks.{name}.file"
    if not file.is_file():
        raise ConfigError(at, f"{spec['file']!r} not found in {directory}", source=source)
    try:
        if file.suffix == ".pt2":
            module = torch.export.load(str(file)).module()
        elif file.suffix == ".pt":
            module = torch.jit.load(str(file), map_location="cpu")
        else:
            raise ConfigError(at, f"unsupported network format {file.suffix!r}",
                              "export with torch.export (.pt2) or TorchScript (.pt)", source=source)
    except TTSIntError:
        raise
    except Exception as exc:
        raise AddonError(f"{source}: {at}: cannot load {file.name}: {type(exc).__name__}: {exc}") from exc
    return Network(name=name, role=spec["role"], inputs=list(spec["inputs"]), outputs=list(spec["outputs"]),
                   path=file, module=module, receptive_field=spec.get("receptive_field"), config=dict(spec))


def _build_frontend(addon: Addon) -> Frontend:
    from .stack import check_parameters

    registry = addon.registry or get_registry()
    params = dict(addon.config["frontend"])
    name = params.pop("type")
    reg = registry.find(registry.frontends, name, what="front end", path="frontend.type")
    cls = reg.load()
    if not (isinstance(cls, type) and issubclass(cls, Frontend)):
        raise ConfigError("frontend.type", f"{name!r} from {reg.distribution} is not a ttsint Frontend")
    check_parameters(cls, params, "frontend", name)
    try:
        return cls.from_config(params, addon)
    except TTSIntError:
        raise
    except (TypeError, ValueError) as exc:
        raise ConfigError("frontend", f"{name}: {exc}") from exc

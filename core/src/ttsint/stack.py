"""Builds a block tree from a ``stack`` spec, checking every type and parameter against its config path."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch

from .blocks import Block, SequenceBlock, StreamableBlock, StreamableStack
from .errors import ConfigError, PluginError, TTSIntError
from .registry import Registry, get_registry

if TYPE_CHECKING:
    from .addon import Addon, Network

__all__ = ["BuildContext", "build_stack", "block_parameters", "check_parameters", "format_tree"]

_KIND_NAMES = {SequenceBlock: "sequence block", StreamableBlock: "streamable block", Block: "block"}


@dataclass(frozen=True)
class BuildContext:
    """What ``Block.from_config`` may use: the addon, the device, and ``build`` for nested specs."""

    addon: Addon | None
    device: torch.device
    path: str
    registry: Registry

    def build(self, spec: Any, key: str, kind: type[Block] = Block) -> Any:
        """Build a nested spec found under ``key`` (e.g. "sequence_block" or "stack[1]")."""
        child = f"{self.path}{key}" if key.startswith("[") else f"{self.path}.{key}" if self.path else key
        return _build_block(spec, kind, BuildContext(self.addon, self.device, child, self.registry))

    def network(self, role: str, name: str | None = None) -> Network:
        """The addon's network called ``name`` (a ``network`` parameter), else its only one of ``role``."""
        if self.addon is None:
            raise self.error(f"this block runs the addon's {role} network, and there is no addon")
        if name is not None:
            if name not in self.addon.networks:
                raise self.error(f"the addon has no network {name!r}",
                                 f"networks: {', '.join(self.addon.networks) or 'none'}", key="network")
            return self.addon.networks[name]
        found = self.addon.networks_with_role(role)
        if len(found) != 1:
            names = ", ".join(n.name for n in found) or "none"
            raise self.error(f"expected exactly one network with role {role!r} in the addon, found {names}",
                             "name one with the 'network' parameter")
        return found[0]

    def error(self, message: str, hint: str | None = None, key: str | None = None) -> ConfigError:
        """A ConfigError at this block's path (or at one of its keys)."""
        return ConfigError(f"{self.path}.{key}" if key else self.path, message, hint)


def build_stack(
    spec: list[Any] | Mapping[str, Any],
    addon: Addon | None = None,
    *,
    device: str | torch.device = "cpu",
    registry: Registry | None = None,
) -> Block:
    """Build a ``stack`` list (as a StreamableStack) or a single block dict into ready-to-run blocks."""
    ctx = BuildContext(addon, torch.device(device), "stack", registry or get_registry())
    if isinstance(spec, list):
        if not spec:
            raise ConfigError("stack", "the stack is empty", "add at least one streamable block")
        blocks = [ctx.build(item, f"[{i}]", StreamableBlock) for i, item in enumerate(spec)]
        return blocks[0] if len(blocks) == 1 else _tag(StreamableStack(blocks), "stack")
    return _build_block(spec, Block, BuildContext(addon, torch.device(device), "stack", ctx.registry))


def block_parameters(cls: type) -> tuple[list[str], list[str], bool]:
    """(accepted, required, accepts_any) parameter names of a block's constructor."""
    try:
        sig = inspect.signature(cls.__init__)
    except (TypeError, ValueError):
        return [], [], True
    accepted, required, any_kw = [], [], False
    for name, p in list(sig.parameters.items())[1:]:
        if p.kind is p.VAR_KEYWORD:
            any_kw = True
        elif p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY):
            accepted.append(name)
            if p.default is p.empty:
                required.append(name)
    return accepted, required, any_kw


def check_parameters(cls: type, params: Mapping[str, Any], path: str, name: str) -> None:
    """Raise a ConfigError for a key the constructor does not accept, or a required one that is missing."""
    accepted, required, any_kw = block_parameters(cls)
    for key in params:
        if not any_kw and key not in accepted:
            close = difflib.get_close_matches(str(key), accepted, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ConfigError(f"{path}.{key}", f"{name} has no parameter {key!r}",
                              hint + f"accepted: {', '.join(accepted) or 'none'}")
    from_context = getattr(cls, "context_params", ())
    missing = [r for r in required if r not in params and r not in from_context]
    if missing:
        raise ConfigError(f"{path}.{missing[0]}", f"{name} requires {missing[0]!r}",
                          f"required: {', '.join(required)}")


def _build_block(spec: Any, kind: type[Block], ctx: BuildContext) -> Any:
    path = ctx.path
    want = _KIND_NAMES[kind]
    if not isinstance(spec, Mapping):
        raise ConfigError(path, f"expected a {want} spec (a table with a 'type' key), got {_describe(spec)}")
    if "type" not in spec:
        raise ConfigError(f"{path}.type", f"missing; every {want} spec needs a 'type'",
                          f"keys given: {', '.join(map(str, spec)) or 'none'}")
    name = spec["type"]
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{path}.type", f"expected the name of a {want}, got {_describe(name)}")
    what = f"{want} type" if kind is not Block else "block type"
    reg = ctx.registry.find(ctx.registry.blocks, name, what=what, path=f"{path}.type")
    try:
        cls = reg.load()
    except PluginError as exc:
        raise ConfigError(f"{path}.type", str(exc), "reinstall or fix that plugin") from exc
    if not (isinstance(cls, type) and issubclass(cls, Block)):
        raise ConfigError(f"{path}.type", f"{name!r} from {reg.distribution} is not a ttsint Block ({cls!r})")
    if not issubclass(cls, kind):
        raise ConfigError(f"{path}.type", f"{name!r} is a {_KIND_NAMES.get(_kind_of(cls), 'block')}, "
                          f"but this slot expects a {want}")
    params = {k: v for k, v in spec.items() if k != "type"}
    check_parameters(cls, params, path, name)
    try:
        block = cls.from_config(params, ctx)
    except TTSIntError:
        raise
    except (TypeError, ValueError, KeyError) as exc:
        raise ConfigError(path, f"{name}: {exc}") from exc
    return _tag(block, path, reg.distribution, reg.version)


def _tag(block: Block, path: str, distribution: str | None = "ttsint", version: str | None = None) -> Block:
    try:
        block.config_path = path  # type: ignore[attr-defined]
        block.provided_by = f"{distribution} {version}" if version else distribution  # type: ignore[attr-defined]
    except AttributeError:
        pass
    return block


def _kind_of(cls: type) -> type[Block]:
    return SequenceBlock if issubclass(cls, SequenceBlock) else StreamableBlock if issubclass(
        cls, StreamableBlock) else Block


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}"


def format_tree(block: Block, label: str = "") -> str:
    """Render a built block tree, one block per line, for ``ttsint check``."""
    lines: list[str] = []

    def walk(b: Block, label: str, prefix: str, last: bool, root: bool) -> None:
        head = f"{label}: " if label else ""
        origin = getattr(b, "provided_by", None)
        line = f"{head}{b.describe()} [{b.kind}{', ' + origin if origin else ''}]"
        lines.append(line if root else f"{prefix}{'└─ ' if last else '├─ '}{line}")
        kids = b.children()
        inner = prefix if root else prefix + ("   " if last else "│  ")
        for i, (lab, kid) in enumerate(kids):
            walk(kid, lab, inner, i == len(kids) - 1, False)

    walk(block, label, "", True, True)
    return "\n".join(lines)

"""Builds a block tree from a ``stack`` spec, checking every type and parameter against its config path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import torch

from .addon import Addon
from .blocks import Block, SequenceBlock, StreamableBlock, StreamableStack
from .errors import ConfigError
from .instantiate import check_parameters, constructor_parameters, instantiate, load_class
from .network import Network
from .registry import Registry, get_registry

__all__ = ["StackContext", "build_stack", "block_parameters", "check_parameters", "format_tree"]

block_parameters = constructor_parameters

_KIND_NAMES = {SequenceBlock: "sequence block", StreamableBlock: "streamable block", Block: "block"}


@dataclass(frozen=True)
class StackContext:
    """The builder's ``ttsint.BuildContext``: the addon, device and path, and ``build`` for nested specs."""

    addon: Addon | None
    device: torch.device
    path: str
    registry: Registry

    def build(self, spec: Any, key: str, kind: type[Block] | None = None) -> Any:
        """Build a nested spec found under ``key`` (e.g. "sequence_block" or "stack[1]")."""
        child = f"{self.path}{key}" if key.startswith("[") else f"{self.path}.{key}" if self.path else key
        return _build_block(spec, kind or Block, StackContext(self.addon, self.device, child, self.registry))

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
    ctx = StackContext(addon, torch.device(device), "stack", registry or get_registry())
    if isinstance(spec, list):
        if not spec:
            raise ConfigError("stack", "the stack is empty", "add at least one streamable block")
        blocks = [ctx.build(item, f"[{i}]", StreamableBlock) for i, item in enumerate(spec)]
        return blocks[0] if len(blocks) == 1 else _tag(StreamableStack(blocks), "stack")
    return _build_block(spec, Block, ctx)


def _build_block(spec: Any, kind: type[Block], ctx: StackContext) -> Any:
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
    cls, reg = load_class(ctx.registry, ctx.registry.blocks, name, what=f"{want} type", path=f"{path}.type",
                          base=Block, base_name="ttsint Block")
    if not issubclass(cls, kind):
        raise ConfigError(f"{path}.type", f"{name!r} is a {_KIND_NAMES.get(_kind_of(cls), 'block')}, "
                          f"but this slot expects a {want}")
    params = {k: v for k, v in spec.items() if k != "type"}
    block = instantiate(cls, params, ctx, path=path, name=name)
    return _tag(block, path, reg.distribution, reg.version)


def _tag(block: Block, path: str, distribution: str | None = "ttsint", version: str | None = None) -> Block:
    block.config_path = path
    block.provided_by = f"{distribution} {version}" if version else distribution
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
        origin = b.provided_by
        line = f"{head}{b.describe()} [{b.kind}{', ' + origin if origin else ''}]"
        lines.append(line if root else f"{prefix}{'└─ ' if last else '├─ '}{line}")
        kids = b.children()
        inner = prefix if root else prefix + ("   " if last else "│  ")
        for i, (lab, kid) in enumerate(kids):
            walk(kid, lab, inner, i == len(kids) - 1, False)

    walk(block, label, "", True, True)
    return "\n".join(lines)

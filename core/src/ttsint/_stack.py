"""Builds a block tree from a ``stack`` spec, checking every type and parameter against its config path."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ._addon import Addon
from ._arrays import cpu_device
from ._blocks import Block, SequenceBlock, StreamableBlock, StreamableStack, flows, walk
from ._errors import ConfigError
from ._instantiate import check_parameters, constructor_parameters, instantiate, load_class
from ._limits import MAX_NESTING
from ._network import Network
from ._registry import Registry, get_registry
from ._runtimes import DEFAULT_RUNTIME, RuntimePool, RuntimeSetting

if TYPE_CHECKING:
    import torch

__all__ = ["StackContext", "build_stack", "block_parameters", "check_parameters", "check_stream_kinds",
           "format_tree"]

block_parameters = constructor_parameters

_KIND_NAMES = {SequenceBlock: "sequence block", StreamableBlock: "streamable block", Block: "block"}


@dataclass
class _BlockRecord:
    """What one block did while it was built: the networks it bound itself, and its nested builds."""

    bound: list[Network] = field(default_factory=list)
    nested: int = 0


@dataclass(frozen=True)
class StackContext:
    """The builder's ``ttsint.BuildContext``: the addon and path, ``build`` for nested specs, and
    ``network`` / ``networks`` / ``bind``, which give a block the addon's networks on their runtimes."""

    addon: Addon | None
    path: str
    registry: Registry
    pool: RuntimePool
    settings: tuple[RuntimeSetting, ...] = ()
    """``runtime``/``device`` of the enclosing blocks and of this one, outermost first."""
    voice: RuntimeSetting | None = None
    """The voice-wide ``runtime``/``device``, which overrides every other setting."""
    block_type: type | None = None
    record: _BlockRecord = field(default_factory=_BlockRecord)

    @property
    def device(self) -> torch.device:
        """The device this block's settings ask for (the voice's over the block's), else the CPU."""
        import torch

        chosen = next((s.device for s in (self.voice, *reversed(self.settings)) if s and s.device), None)
        return torch.device(chosen or "cpu")

    def build(self, spec: Any, key: str, kind: type[Block] | None = None) -> Any:
        """Build a nested spec found under ``key`` (e.g. "sequence_block" or "stack[1]")."""
        child = f"{self.path}{key}" if key.startswith("[") else f"{self.path}.{key}" if self.path else key
        if child.count(".") + child.count("[") > MAX_NESTING:
            raise ConfigError(child, f"blocks nested deeper than {MAX_NESTING} levels")
        self.record.nested += 1
        return _build_block(spec, kind or Block, self._at(child))

    def _at(self, path: str) -> StackContext:
        return StackContext(self.addon, path, self.registry, self.pool, self.settings, self.voice)

    def network(self, role: str, name: str | None = None) -> Network:
        """The addon's network called ``name`` (a ``network`` parameter), else its only one of ``role``,
        on its runtime."""
        if self.addon is None:
            raise self.error(f"this block runs the addon's {role} network, and there is no addon")
        if name is not None:
            if name not in self.addon.networks:
                raise self.error(f"the addon has no network {name!r}",
                                 f"networks: {', '.join(self.addon.networks) or 'none'}", key="network")
            return self.bind(self.addon.networks[name])
        found = self.addon.networks_with_role(role)
        if len(found) != 1:
            names = ", ".join(n.name for n in found) or "none"
            raise self.error(f"expected exactly one network with role {role!r} in the addon, found {names}",
                             "name one with the 'network' parameter")
        return self.bind(found[0])

    def networks(self, role: str) -> list[Network]:
        """All of the addon's networks of ``role``, in config order, each on its runtime."""
        if self.addon is None:
            raise self.error(f"this block runs the addon's {role} networks, and there is no addon",
                             "build the stack with an addon: ttsint.Voice.load(...) or "
                             "build_stack(spec, addon)")
        found = self.addon.networks_with_role(role)
        if not found:
            raise self.error(f"the addon {self.addon.name!r} has no network with role {role!r}",
                             f"declare one in its networks table with role = \"{role}\"")
        return [self.bind(n) for n in found]

    def bind(self, network: Network) -> Network:
        """``network`` on the runtime and device chosen for it here: the voice's setting over this block's
        (and its enclosing blocks'), over the network's own in the addon, over the block type's default."""
        spec = network.config
        at = f"networks.{network.name}"
        source = str(self.addon.path) if self.addon is not None else None
        own = RuntimeSetting(spec.get("runtime"), spec.get("device"), f"{at}.runtime", f"{at}.device", source)
        default = RuntimeSetting(getattr(self.block_type, "default_runtime", None) or DEFAULT_RUNTIME,
                                 runtime_at=f"{self.path}.type")
        chain = [default, own, *self.settings, *([self.voice] if self.voice else [])]
        executable = self.pool.executable(network, chain, block_path=self.path,
                                          fixed_shapes=bool(getattr(self.block_type, "fixed_shapes", False)))
        bound = network.bind(executable)
        self.record.bound.append(bound)
        return bound

    def error(self, message: str, hint: str | None = None, key: str | None = None) -> ConfigError:
        """A ConfigError at this block's path (or at one of its keys)."""
        return ConfigError(f"{self.path}.{key}" if key else self.path, message, hint)


def build_stack(
    spec: list[Any] | Mapping[str, Any],
    addon: Addon | None = None,
    *,
    runtime: Any = None,
    device: str | torch.device | None = None,
    registry: Registry | None = None,
    pool: RuntimePool | None = None,
) -> Block:
    """Build a ``stack`` list (as a StreamableStack) or a single block dict into ready-to-run blocks.

    ``runtime`` and ``device``, when given, run every network of the stack there, whatever the addon
    and the blocks say; ``pool`` collects the runtimes and bindings (``Voice`` keeps it to report them).
    """
    registry = registry or get_registry()
    registry.check_strict()
    voice = None
    if runtime is not None or device is not None:
        # Errors in these name the voice as their source (the addon's file did not say it).
        voice = RuntimeSetting(runtime, None if device is None else str(device), source="voice")
    ctx = StackContext(addon, "stack", registry, pool or RuntimePool(registry), voice=voice)
    if isinstance(spec, list):
        if not spec:
            raise ConfigError("stack", "the stack is empty", "add at least one streamable block")
        blocks = [_build_block(item, StreamableBlock, ctx._at(f"stack[{i}]")) for i, item in enumerate(spec)]
        top = StreamableStack(blocks)
        check_stream_kinds(top)
        return blocks[0] if len(blocks) == 1 else _tag(top, "stack")
    block = _build_block(spec, Block, ctx)
    check_stream_kinds(block)
    return block


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
    params = {k: v for k, v in spec.items() if k not in ("type", "runtime", "device")}
    own = RuntimeSetting(spec.get("runtime"), spec.get("device"), f"{path}.runtime", f"{path}.device")
    if own.device is not None and not isinstance(own.device, str):
        raise own.error("device", f"expected a device name such as \"cpu\" or \"cuda:0\", got {own.device!r}")
    given = own.runtime is not None or own.device is not None
    settings = (*ctx.settings, own) if given else ctx.settings
    ctx = StackContext(ctx.addon, path, ctx.registry, ctx.pool, settings, ctx.voice, cls)
    bindings_before = len(ctx.pool.bindings)
    block = instantiate(cls, params, ctx, path=path, name=name, origin=reg)
    if given and len(ctx.pool.bindings) == bindings_before:
        key = "runtime" if own.runtime is not None else "device"
        raise own.error(key, f"{name} runs no network, so {key!r} would do nothing here",
                        "set it on a block that runs the addon's networks, or for the whole voice")
    block.device = _input_device(ctx.record, block.arrays)
    return _tag(block, path, reg.distribution, reg.version)


def _input_device(record: _BlockRecord, arrays: str = "torch") -> torch.device | None:
    """Where a block wants its input tensors: its networks' device; the CPU for a block without networks
    or one that takes NumPy arrays (host memory); None (wherever they are) for a container, or for a
    block whose networks are on different devices. Torch is imported only for a block that declares
    torch arrays; for others the CPU is named without it (``cpu_device``)."""
    if arrays == "numpy":
        return cpu_device()
    if record.bound:
        devices = {str(n.executable.tensor_device): n.executable.tensor_device
                   for n in record.bound if n.executable is not None}
        if len(devices) != 1:
            return None
        device = devices.popitem()[1]
        if arrays != "torch" or type(device).__module__.startswith("torch"):
            return device
        import torch

        return torch.device(str(device))
    if record.nested:
        return None
    if arrays != "torch":
        return cpu_device()
    import torch  # a block that declares torch arrays: its tensors are made with torch anyway

    return torch.device("cpu")


def _tag(block: Block, path: str, distribution: str | None = "ttsint", version: str | None = None) -> Block:
    block.config_path = path
    block.provided_by = f"{distribution} {version}" if version else distribution
    return block


def check_stream_kinds(root: Block) -> None:
    """A ConfigError where a streamable block consumes a kind of frames its upstream does not produce.

    The message names both blocks and where in the tree the block would fit, e.g. "Gain consumes mel;
    stack[1] produces waveform; put it at stack[0].streamable_block.stack[2]".
    """
    source: str | None = None
    for flow in flows(root):
        if not flow.leaf:
            continue
        block, kind = flow.node.block, flow.upstream_kind
        need = block.consumes
        if not (need == "any" or kind is None or kind == need):
            fits = [path for path, before in _positions(root, None) if before == need]
            where = f"put it at {fits[0]}" if fits else f"nothing in this stack makes {need}"
            message = f"{block.type_name} consumes {need}; {source} produces {kind}; {where}"
            raise ConfigError(block.where, message)
        source = block.where


def _positions(block: Block, kind: str | None) -> Iterator[tuple[str, str | None]]:
    """Each place in a list of blocks where a block could go, with the kind that flows there, in stream
    order: before each listed block, and after the last of each list once the walk leaves it."""
    after: list[tuple[int, str, str | None]] = []  # (depth, place, kind) of lists still open
    for flow in flows(block, kind):
        node = flow.node
        place = node.block.config_path
        while after and after[-1][0] >= node.depth:
            _, end, end_kind = after.pop()
            if end != place:  # else the list goes on: its next block stands there
                yield end, end_kind
        if place and node.label.endswith("]"):
            yield place, flow.upstream_kind
            if (m := re.fullmatch(r"(.*)\[(\d+)\]", place)):
                after.append((node.depth, f"{m.group(1)}[{int(m.group(2)) + 1}]", flow.kind))
    while after:
        yield after.pop()[1:]


def _kind_of(cls: type) -> type[Block]:
    return SequenceBlock if issubclass(cls, SequenceBlock) else StreamableBlock if issubclass(
        cls, StreamableBlock) else Block


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text[:60]}"


def format_tree(block: Block, label: str = "") -> str:
    """Render a built block tree, one block per line, for ``ttsint check``."""
    nodes = list(walk(block, label=label))
    lines: list[str] = []
    open_levels: list[bool] = []  # for each ancestor depth: does it have siblings still to come?
    for i, node in enumerate(nodes):
        b = node.block
        head = f"{node.label}: " if node.label else ""
        origin = b.provided_by
        line = f"{head}{b.describe()} [{b.kind}{', ' + origin if origin else ''}]"
        if node.depth == 0:
            lines.append(line)
            open_levels = [False]
            continue
        later = next((n.depth for n in nodes[i + 1:] if n.depth <= node.depth), 0)
        last = later < node.depth
        del open_levels[node.depth:]
        prefix = "".join("│  " if more else "   " for more in open_levels[1:])
        lines.append(f"{prefix}{'└─ ' if last else '├─ '}{line}")
        open_levels.append(not last)
    return "\n".join(lines)

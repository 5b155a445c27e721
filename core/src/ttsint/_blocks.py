"""The article's two abstractions, SequenceBlock and StreamableBlock, and the three containers of them."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, ClassVar, NamedTuple

from ._arrays import ARRAY_KINDS, convert_mapping, is_torch, to_kind
from ._data import BuildContext, Chunk, Utterance
from ._errors import ParameterError

if TYPE_CHECKING:
    import torch

__all__ = [
    "Block",
    "SequenceBlock",
    "StreamableBlock",
    "SequenceBlockContainer",
    "StreamableStack",
    "StreamablePipeline",
    "merge_outputs",
    "utterance_to",
    "chunks_to",
    "Node",
    "walk",
    "last_streamable",
    "announce",
    "Timing",
    "timed",
]


class Block:
    """Common base: a built block holds parameters and weights, never per-utterance state.

    Per-utterance state lives in the ``stream`` generator or the ``forward`` call, so one built
    stack can serve several streams at once.
    """

    type_name: ClassVar[str] = "Block"
    kind: ClassVar[str] = "block"
    context_params: ClassVar[tuple[str, ...]] = ()
    """Constructor parameters that ``from_config`` fills from the addon, so a config need not give them."""
    arrays: ClassVar[str] = "torch"
    """The kind of arrays this block takes and makes: "torch" (tensors) or "numpy" (numpy.ndarray);
    "any" for a container, which passes both through to its children untouched, or for a block that
    takes either kind and returns the kind it was given (it gets no device: Network.run moves tensors).

    Containers hand it utterance values and upstream chunk frames of that kind, converting at the
    boundary with a block of the other kind (torch is imported only to convert to it). A voice whose
    blocks all declare "numpy" and whose networks run on onnxruntime never imports torch.
    """
    device: torch.device | None = None
    """Where this block wants its input tensors, set by the builder from the runtimes of its networks
    (the CPU for a block without networks); None takes them wherever they are. Containers move tensors
    to it at the boundary, only when they are elsewhere."""
    fixed_shapes: ClassVar[bool] = False
    """True for blocks that pad every network input to a few fixed shapes, so fixed-shape runtimes
    (which compile one program per shape) may run their networks."""
    request_params: ClassVar[tuple[str, ...]] = ()
    """Per-request parameters this block reads from the utterance (e.g. ``("speed",)``), each a 0-d array
    under its own name, put there by ``Voice.stream(text, params={...})``: one built stack serves every
    request, whatever its parameters, without a copy. A block reads one as ``utt.get("speed")``
    (None when the request did not give it) and must not keep it beyond the stream."""
    default_runtime: ClassVar[str | None] = None
    """The runtime for this block's networks when neither the addon, the block config nor the voice names
    one (None: ``torch``)."""

    config_path: str | None = None
    """Where the builder found this block's spec (e.g. ``stack[0].sequence_block``); None if built by hand."""
    provided_by: str | None = None
    """The distribution (and version) that registered this block type, set by the builder."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "type_name" not in cls.__dict__:
            cls.type_name = cls.__name__
        if cls.arrays not in ARRAY_KINDS:
            raise TypeError(f"{cls.__name__}.arrays must be one of {ARRAY_KINDS}, got {cls.arrays!r}")

    @property
    def where(self) -> str:
        """The config path for messages, or the type name for a block built by hand."""
        return self.config_path or self.type_name

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> Block:
        """Build from a spec's keys other than ``type``; override when the addon or nested specs matter."""
        return cls(**params)

    def children(self) -> list[tuple[str, Block]]:
        """Nested blocks as (label, block) pairs, in stream order; ``walk`` follows them."""
        return []

    def describe(self) -> str:
        """One line for the block tree; subclasses may add their key parameters."""
        return self.type_name

    def report(self) -> dict[str, Any]:
        """Figures this block gathered while running (compiles, cache hits, ...); empty when it keeps none.

        ``ttsint synth --stats`` prints every non-empty report in the tree. Blocks keep per-stream
        counts in their generators and add them to a thread-safe total that this returns.
        """
        return {}

    def close(self) -> None:
        """Release what the block holds beyond its weights (thread pools, compilers); containers forward it.

        Closing twice is harmless. A closed block must not be streamed again.
        """
        for _, child in self.children():
            child.close()  # each container closes its own children: a walk would close deep blocks twice

    def __enter__(self) -> Block:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def merge_outputs(utt: Utterance, returned: Utterance) -> Utterance:
    """The utterance after a sequence block: its input with the returned keys added (or replaced).

    This is the one return rule for ``SequenceBlock.forward``: a block may return only its new keys
    or the whole dict; every container merges through here, so both work everywhere.
    """
    if not isinstance(returned, dict):
        raise TypeError(f"SequenceBlock.forward must return a dict of tensors, got {type(returned).__name__}")
    return {**utt, **returned}


class SequenceBlock(Block):
    """Tensors in, tensors out for a whole utterance: encoders, duration predictors."""

    kind: ClassVar[str] = "sequence"

    def forward(self, utt: Utterance) -> Utterance:
        """Return this block's outputs as a new dict: only the new keys, or ``utt`` with them added.

        Never mutate ``utt``. Containers combine input and output with ``merge_outputs``, so the two
        forms mean the same; a returned key that is already in ``utt`` replaces it.
        """
        raise NotImplementedError(f"{type(self).__name__} must implement forward(utt)")

    def __call__(self, utt: Utterance) -> Utterance:
        """The whole utterance after this block: ``utt`` merged with what ``forward`` returns."""
        return merge_outputs(utt, self.forward(utt))


class StreamableBlock(Block):
    """Produces frames on demand from an upstream streamable block and/or the utterance."""

    kind: ClassVar[str] = "streamable"
    consumes: ClassVar[str] = "any"
    """The kind of frames this block needs from upstream ("mel", "waveform", ...); "any" takes all.

    The builder checks it against what the block before produces, so a mel effect after a vocoder is
    a config error instead of noise.
    """
    produces: ClassVar[str | None] = None
    """What the frames are ("mel", "waveform", ...); None means the same as upstream (an effect)."""

    def output_kind(self, upstream_kind: str | None = None) -> str | None:
        """What this block's chunks hold, given what its upstream's hold."""
        return self.produces or upstream_kind

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        """Yield chunks lazily; ``upstream`` is the previous block's chunks, or None for the first block."""
        raise NotImplementedError(f"{type(self).__name__} must implement stream(utt, upstream)")

    def symbol_frames(self, utt: Utterance) -> torch.Tensor | None:
        """How many output frames (at the addon's hop) each symbol lasts, if this block decides it."""
        return None


class SequenceBlockContainer(SequenceBlock):
    """Runs nested sequence blocks in order, each one adding keys to the utterance."""

    arrays: ClassVar[str] = "any"

    def __init__(self, blocks: list[SequenceBlock]) -> None:
        self.blocks = list(blocks)

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> Block:
        specs = params.get("blocks")
        if not isinstance(specs, list) or not specs:
            raise ParameterError("blocks", "must be a non-empty list of sequence block specs")
        return cls([ctx.build(s, f"blocks[{i}]", SequenceBlock) for i, s in enumerate(specs)])

    def forward(self, utt: Utterance) -> Utterance:
        out = dict(utt)
        for block in self.blocks:
            out = merge_outputs(out, block.forward(utterance_for(out, block)))
        return out

    def children(self) -> list[tuple[str, Block]]:
        return [(f"blocks[{i}]", b) for i, b in enumerate(self.blocks)]


class StreamableStack(StreamableBlock):
    """Chains streamable blocks: each one consumes the chunks of the one before it."""

    arrays: ClassVar[str] = "any"

    def __init__(self, stack: list[StreamableBlock]) -> None:
        self.stack = list(stack)

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> Block:
        specs = params.get("stack")
        if not isinstance(specs, list) or not specs:
            raise ParameterError("stack", "must be a non-empty list of streamable block specs")
        return cls([ctx.build(s, f"stack[{i}]", StreamableBlock) for i, s in enumerate(specs)])

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        chunks = upstream
        for block in self.stack:
            chunks = block.stream(utterance_for(utt, block), chunks_for(chunks, block))
        if chunks is not None:
            yield from chunks

    def output_kind(self, upstream_kind: str | None = None) -> str | None:
        for block in self.stack:
            upstream_kind = block.output_kind(upstream_kind)
        return upstream_kind

    def children(self) -> list[tuple[str, Block]]:
        return [(f"stack[{i}]", b) for i, b in enumerate(self.stack)]


class StreamablePipeline(StreamableBlock):
    """Exactly one sequence block feeding one streamable block; itself a streamable block."""

    arrays: ClassVar[str] = "any"

    def __init__(self, sequence_block: SequenceBlock, streamable_block: StreamableBlock) -> None:
        self.sequence_block = sequence_block
        self.streamable_block = streamable_block

    @classmethod
    def from_config(cls, params: Mapping[str, Any], ctx: BuildContext) -> Block:
        return cls(
            sequence_block=ctx.build(params["sequence_block"], "sequence_block", SequenceBlock),
            streamable_block=ctx.build(params["streamable_block"], "streamable_block", StreamableBlock),
        )

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        sequence = self.sequence_block
        encoded = merge_outputs(utt, sequence.forward(utterance_for(utt, sequence)))
        streamable = self.streamable_block
        encoded = utterance_for(encoded, streamable)
        announce(streamable, encoded)
        yield from streamable.stream(encoded, chunks_for(upstream, streamable))

    def output_kind(self, upstream_kind: str | None = None) -> str | None:
        return self.streamable_block.output_kind(upstream_kind)

    def children(self) -> list[tuple[str, Block]]:
        return [("sequence_block", self.sequence_block), ("streamable_block", self.streamable_block)]


class Node(NamedTuple):
    """One block of a tree, as ``walk`` reaches it."""

    path: str
    """The child labels from the root joined with dots: "" for the root, e.g. "stack[0].streamable_block"."""
    label: str
    """The label its parent gave it ("" for the root)."""
    depth: int
    block: Block


def walk(block: Block, path: str = "", label: str = "", depth: int = 0) -> Iterator[Node]:
    """Every block of the tree under ``block``, parents before children, children in stream order.

    The one walk over a block tree: building, checking, printing, reporting and serving all use it,
    so a block that nests others needs only ``children()`` to be seen by every feature.
    """
    yield Node(path, label, depth, block)
    for child_label, child in block.children():
        yield from walk(child, f"{path}.{child_label}" if path else child_label, child_label, depth + 1)


def last_streamable(block: Block) -> Block:
    """The last streamable block that nests no streamable block: the one whose chunks leave the tree."""
    found = block
    for node in walk(block):
        if isinstance(node.block, StreamableBlock) and not any(
                isinstance(child, StreamableBlock) for _, child in node.block.children()):
            found = node.block
    return found


_LISTENER: ContextVar[Callable[[Block, Utterance], None] | None] = ContextVar("ttsint_listener", default=None)


def announce(block: Block, utt: Utterance) -> None:
    """Tell the stream being pulled that ``block`` streams ``utt``, an utterance its container made.

    A container that runs sequence blocks inside ``stream`` (as StreamablePipeline does) calls this
    before streaming its child, so that whoever times the stream (the output guard, ``Voice.stream``)
    sees the durations the sequence blocks decided, without a second protocol and without redoing work.
    """
    listener = _LISTENER.get()
    if listener is not None:
        listener(block, utt)


def symbol_frames(block: Block, utt: Utterance) -> torch.Tensor | None:
    """Frames per input symbol for ``utt``, from the first streamable block in the tree that decides them."""
    for node in walk(block):
        if isinstance(node.block, StreamableBlock):
            found = node.block.symbol_frames(utt)
            if found is not None:
                return found
    return None


class Timing:
    """What one stream learns of its timing: the frames each symbol lasts, once a block decides them.

    ``check`` (e.g. the output guard's limits) runs on them as soon as they are known, before any
    frame of the utterance is made.
    """

    def __init__(self, check: Callable[[torch.Tensor], None] | None = None) -> None:
        self.symbol_frames: torch.Tensor | None = None
        self._check = check

    def hear(self, block: Block, utt: Utterance) -> None:
        if self.symbol_frames is None:
            found = symbol_frames(block, utt)
            if found is not None:
                if self._check is not None:
                    self._check(found)
                self.symbol_frames = found


def timed(block: StreamableBlock, utt: Utterance, upstream: Iterator[Chunk] | None,
          timing: Timing) -> Iterator[Chunk]:
    """``block.stream(utt, upstream)``, telling ``timing`` the symbol frames as soon as a block decides them.

    Look-ahead needs nothing more: pulling the first chunk runs the sequence blocks, so a thread that
    pulls it readies the utterance, through ``stream`` alone, for any block.
    """
    timing.hear(block, utt)
    chunks = block.stream(utt, upstream)
    heard: Any = None
    listener: Callable[[Block, Utterance], None] | None = None
    try:
        while timing.symbol_frames is None:
            outer = _LISTENER.get()
            if listener is None or outer is not heard:
                listener, heard = _listening(timing, outer), outer
            token = _LISTENER.set(listener)
            try:
                chunk = next(chunks)
            except StopIteration:
                return
            finally:
                _LISTENER.reset(token)
            yield chunk
        yield from chunks  # timed: nothing more to hear, so no per-chunk cost
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()


def _listening(timing: Timing, outer: Callable[[Block, Utterance], None] | None,
               ) -> Callable[[Block, Utterance], None]:
    def listener(block: Block, utt: Utterance) -> None:
        timing.hear(block, utt)
        if outer is not None:
            outer(block, utt)

    return listener


def utterance_to(utt: Utterance, device: torch.device | None, arrays: str | None = None) -> Utterance:
    """``utt`` with its arrays as ``arrays`` ("torch" or "numpy"; None keeps each one's kind) and its
    tensors on ``device`` (the same dict when nothing changes)."""
    if arrays == "numpy" or (arrays is None and device is None):
        return convert_mapping(utt, arrays)
    if arrays is None and not all(is_torch(t) for t in utt.values()):
        # Only the tensors move; NumPy values stay NumPy until a torch block takes them.
        return {k: to_kind(t, "torch", device) if is_torch(t) else t for k, t in utt.items()}
    if all(is_torch(t) and (device is None or t.device == device) for t in utt.values()):
        return utt
    return {k: to_kind(t, "torch", device) for k, t in utt.items()}


def utterance_for(utt: Utterance, block: Block) -> Utterance:
    """``utt`` as ``block`` takes it: its declared kind of arrays, on its device."""
    arrays = block.arrays
    return utterance_to(utt, block.device, None if arrays == "any" else arrays)


def chunks_to(chunks: Iterator[Chunk] | None, device: torch.device | None,
              arrays: str | None = None) -> Iterator[Chunk] | None:
    """``chunks`` with their frames converted to ``arrays`` (None keeps their kind) and moved to ``device``
    as they pass, where they are elsewhere."""
    if chunks is None or (device is None and arrays is None):
        return chunks
    if arrays == "numpy":
        return (c if type(c.frames).__module__ == "numpy" else Chunk(to_kind(c.frames, "numpy"), c.start)
                for c in chunks)
    if arrays is None:
        return (Chunk(to_kind(c.frames, "torch", device), c.start)
                if is_torch(c.frames) and c.frames.device != device else c for c in chunks)
    return (c if is_torch(c.frames) and (device is None or c.frames.device == device)
            else Chunk(to_kind(c.frames, "torch", device), c.start) for c in chunks)


def chunks_for(chunks: Iterator[Chunk] | None, block: Block) -> Iterator[Chunk] | None:
    """``chunks`` as ``block`` takes them: frames of its declared kind, on its device."""
    arrays = block.arrays
    return chunks_to(chunks, block.device, None if arrays == "any" else arrays)


# -- questions asked of a tree, each answered through ``walk`` ------------------------------------------


class Flow(NamedTuple):
    """A streamable block of a tree as frames reach it, from ``flows``."""

    node: Node
    upstream_kind: str | None
    """The kind of frames flowing into it (what the stream leaf before it makes)."""
    kind: str | None
    """The kind of frames it hands on."""
    leaf: bool
    """True when it nests no streamable block, so its chunks are made by it rather than by a child."""


def flows(block: Block, upstream_kind: str | None = None) -> Iterator[Flow]:
    """Each streamable block of the tree in ``walk`` order, with the kinds of frames flowing in and out.

    Containers pass their upstream to their first streamable child and each child's chunks to the next,
    so what flows into a block is what the last stream leaf before it made.
    """
    kind = upstream_kind
    for node in walk(block):
        b = node.block
        if not isinstance(b, StreamableBlock):
            continue
        leaf = not any(isinstance(child, StreamableBlock) for _, child in b.children())
        out = b.output_kind(kind)
        yield Flow(node, kind, out, leaf)
        if leaf:
            kind = out


def find(block: Block, match: type | Callable[[Block], bool]) -> Node | None:
    """The first node of ``walk(block)`` whose block is a ``match`` (a class) or satisfies it (a predicate).

    E.g. ``find(voice.block, SequenceBlock).block``, the voice's first sequence block."""
    def test(b: Block) -> bool:
        return isinstance(b, match) if isinstance(match, type) else bool(match(b))

    return next((node for node in walk(block) if test(node.block)), None)


def last_of_kind(block: Block, kind: str, upstream_kind: str | None = None) -> Node | None:
    """The block that hands on the last frames of ``kind`` to flow in the tree (the outermost, when a
    container and its last child both do); None when no ``kind`` flows. E.g. the mel before a vocoder."""
    best: Node | None = None
    for flow in flows(block, upstream_kind):
        if flow.kind == kind and not (best is not None and _within(flow.node.path, best.path)):
            best = flow.node
    return best


def replace(block: Block, path: str, *blocks: Block) -> Block:
    """A copy of the tree with the block at ``path`` (a ``Node.path``) replaced by ``blocks``.

    Several blocks only where it sits in a list (a label like ``stack[1]``): they are spliced in its
    place. The tree passed in is untouched; the copy shares every block but the containers on the way.
    """
    chain = _chain(block, path)
    made = list(blocks)
    for parent, child in zip(reversed(chain[:-1]), reversed(chain[1:]), strict=True):
        made = [_with_child(parent.block, child.label, made)]
    if len(made) != 1:
        raise ValueError(f"the root of a tree is one block, not {len(made)}")
    return made[0]


def cut(block: Block, path: str, *, after: bool = False) -> Block | None:
    """The tree up to the block at ``path``: it streams what flows into that block (``after=True``: out
    of it). None when nothing is left (the block at ``path`` takes the tree's own upstream).

    Each list of blocks on the way from the root ends there; a container left with nothing to stream is
    dropped, since what it passed on is its upstream. The copy shares its blocks, as ``replace``'s does.
    """
    chain = _chain(block, path)
    kept: Block | None = chain[-1].block if after else None
    for parent, child in zip(reversed(chain[:-1]), reversed(chain[1:]), strict=True):
        slot = _slot(child.label)
        if slot is not None:
            name, index = slot
            items = [*_held(parent.block, name)[:index], *([] if kept is None else [kept])]
            kept = _copied(parent.block, name, items) if items else None
        elif kept is not None:
            kept = _copied(parent.block, child.label, kept)
    return kept


def _within(path: str, ancestor: str) -> bool:
    return ancestor == "" or path.startswith(ancestor + ".")


def _chain(block: Block, path: str) -> list[Node]:
    """The nodes from the root to the one at ``path``, through the one walk."""
    chain = [node for node in walk(block) if node.path == path or _within(path, node.path)]
    if not chain or chain[-1].path != path:
        raise KeyError(f"no block at {path!r} in this tree")
    return chain


def _slot(label: str) -> tuple[str, int] | None:
    """``("stack", 1)`` for a child labelled ``stack[1]`` (one of a list), None for a single child's label."""
    name, bracket, index = label.partition("[")
    return (name, int(index[:-1])) if bracket and index[:-1].isdigit() else None


def _with_child(parent: Block, label: str, blocks: list[Block]) -> Block:
    slot = _slot(label)
    if slot is None:
        if len(blocks) != 1:
            raise ValueError(f"{label} holds one block, not {len(blocks)}")
        return _copied(parent, label, blocks[0])
    items = list(_held(parent, slot[0]))
    items[slot[1]:slot[1] + 1] = blocks
    return _copied(parent, slot[0], items)


def _held(container: Block, name: str) -> Any:
    if not hasattr(container, name):
        raise TypeError(f"{container.type_name} keeps its children elsewhere than in {name!r}: replace and "
                        "cut need each child's label to name the attribute that holds it")
    return getattr(container, name)


def _copied(container: Block, name: str, value: Any) -> Block:
    """A shallow copy of ``container`` holding ``value`` in the attribute its children's labels name.

    When every constructor parameter is an attribute of that name (as in the core containers), the
    constructor runs again on the copy, so whatever it derives from its children is derived anew.
    """
    import copy
    import inspect

    _held(container, name)
    made = copy.copy(container)
    setattr(made, name, value)
    params = [p for p in inspect.signature(type(container).__init__).parameters.values()][1:]
    if params and all(p.kind is p.POSITIONAL_OR_KEYWORD and hasattr(made, p.name) for p in params):
        made.__init__(**{p.name: getattr(made, p.name) for p in params})  # type: ignore[misc]
    return made

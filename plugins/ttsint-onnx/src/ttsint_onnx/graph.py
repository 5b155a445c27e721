"""Tools to import ONNX graphs trained elsewhere: a checked load, noise as inputs, cuts found by structure.

An importer runs these once, when it turns a foreign model into an addon; the blocks that later run the
pieces know nothing of where they came from. Every check raises an AddonError whose message names the
file and what to do, so a bad model file is one paragraph and exit 1 in the CLI.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import ModelProto, TensorProto, helper, numpy_helper
from ttsint import AddonError

__all__ = [
    "GraphLimits",
    "NoiseInput",
    "load_checked",
    "check_model",
    "replace_noise",
    "decoder_cut",
    "tensor_of_op",
    "split_model",
    "extract",
    "model_digest",
    "save_model",
    "symbolic_batch",
]

RANDOM_OPS = ("RandomNormalLike", "RandomUniformLike")
# Ops that need no custom domain but would still make a graph non-deterministic or reach outside it.
_REFUSED_OPS = frozenset({"RandomNormal", "RandomUniform", "Multinomial", "Bernoulli"})


@dataclass(frozen=True)
class GraphLimits:
    """Sanity bounds a model must satisfy before any of it is run; generous for TTS, small for attacks."""

    max_file_bytes: int = 1 << 30
    max_tensor_elements: int = 1 << 28
    max_dim: int = 1 << 24
    max_nodes: int = 200_000
    allowed_domains: frozenset[str] = frozenset({"", "ai.onnx"})


@dataclass(frozen=True)
class NoiseInput:
    """A graph input that replaced a random node: standard ``distribution`` noise shaped like ``like``."""

    name: str
    distribution: str  # "normal" or "uniform"
    like: str  # the tensor whose shape the noise takes
    mean: float = 0.0
    scale: float = 1.0  # standard deviation (normal) or width high-low (uniform)


def _fail(where: str, message: str, hint: str = "") -> AddonError:
    return AddonError(f"{where}: {message}" + (f"\n  {hint}" if hint else ""))


def load_checked(path: str | Path, limits: GraphLimits | None = None) -> ModelProto:
    """Parse ``path`` as an ONNX model and ``check_model`` it; a failure is an AddonError naming the file."""
    limits = limits or GraphLimits()
    path = Path(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise _fail(str(path), f"cannot read the model file ({exc.strerror or exc})") from None
    if size > limits.max_file_bytes:
        raise _fail(str(path), f"{size:,} bytes is more than the {limits.max_file_bytes:,} allowed",
                    "a single-file TTS model is far smaller; check that this is the file you meant")
    try:
        # load_external_data=False: a reference to another file is reported by check_model, never followed.
        model = onnx.load(str(path), load_external_data=False)
    except Exception as exc:  # protobuf's DecodeError and friends: the file is truncated or not ONNX
        raise _fail(str(path), f"is not a readable ONNX model ({type(exc).__name__}: {exc})",
                    "the file may be truncated or corrupt: download or copy it again") from None
    check_model(model, str(path), limits)
    return model


def check_model(model: ModelProto, where: str, limits: GraphLimits | None = None) -> None:
    """Refuse custom-domain or random-source operators, external data, tensors or shapes beyond ``limits``."""
    limits = limits or GraphLimits()
    graph = model.graph
    if not graph.node:
        raise _fail(where, "the graph has no nodes", "the file may be truncated or not a model")
    nodes = list(_all_nodes(graph))
    if len(nodes) > limits.max_nodes:
        raise _fail(where, f"{len(nodes):,} nodes is more than the {limits.max_nodes:,} allowed")
    for opset in model.opset_import:
        if opset.domain not in limits.allowed_domains:
            raise _fail(where, f"the model imports operator set domain {opset.domain!r}",
                        "only ONNX's default-domain operators are run; re-export without custom operators")
    for node in nodes:
        if node.domain not in limits.allowed_domains:
            raise _fail(where, f"node {node.name or node.op_type!r} is the custom-domain operator "
                        f"{node.domain}.{node.op_type}",
                        "only ONNX's default-domain operators are run; re-export without custom operators")
        if node.op_type in _REFUSED_OPS:
            raise _fail(where, f"node {node.name!r} is a {node.op_type}, a source of noise with a fixed "
                        "shape that cannot be made reproducible")
    for tensor in _all_tensors(graph):
        if tensor.data_location == TensorProto.EXTERNAL or tensor.external_data:
            location = next((e.value for e in tensor.external_data if e.key == "location"), "?")
            raise _fail(where, f"tensor {tensor.name!r} keeps its data in an external file ({location!r})",
                        "only self-contained models are accepted: save the model with all tensors inside it")
        _check_tensor(tensor, where, limits)
    for info in [*graph.input, *graph.output, *graph.value_info]:
        shape = info.type.tensor_type.shape
        for dim in shape.dim:
            if dim.HasField("dim_value") and not 0 <= dim.dim_value <= limits.max_dim:
                raise _fail(where, f"{info.name!r} claims a dimension of {dim.dim_value:,}",
                            f"dimensions above {limits.max_dim:,} are refused")


def _check_tensor(tensor: TensorProto, where: str, limits: GraphLimits) -> None:
    elements = 1
    for dim in tensor.dims:
        if dim < 0 or dim > limits.max_dim:
            raise _fail(where, f"tensor {tensor.name!r} claims a dimension of {dim:,}")
        elements *= dim
    if elements > limits.max_tensor_elements:
        raise _fail(where, f"tensor {tensor.name!r} claims {elements:,} elements, more than the "
                    f"{limits.max_tensor_elements:,} allowed")
    if tensor.HasField("raw_data"):
        itemsize = helper.tensor_dtype_to_np_dtype(tensor.data_type).itemsize \
            if tensor.data_type != TensorProto.STRING else 0
        if itemsize and len(tensor.raw_data) != elements * itemsize:
            raise _fail(where, f"tensor {tensor.name!r} holds {len(tensor.raw_data):,} bytes for a shape "
                        f"{list(tensor.dims)} that needs {elements * itemsize:,}",
                        "the file is truncated or corrupt: download or copy it again")


def _all_nodes(graph: onnx.GraphProto) -> Iterable[onnx.NodeProto]:
    for node in graph.node:
        yield node
        for attr in node.attribute:
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _all_nodes(sub)


def _all_tensors(graph: onnx.GraphProto) -> Iterable[TensorProto]:
    yield from graph.initializer
    for node in graph.node:
        for attr in node.attribute:
            if attr.HasField("t"):
                yield attr.t
            yield from attr.tensors
            for sub in ([attr.g] if attr.HasField("g") else []) + list(attr.graphs):
                yield from _all_tensors(sub)


def replace_noise(model: ModelProto, prefix: str = "noise") -> list[NoiseInput]:
    """Turn each RandomNormalLike/RandomUniformLike node into a float graph input ``prefix_<n>`` (in place).

    The caller feeds standard noise of the like-tensor's shape (``NoiseInput.like``); the node's mean and
    scale are applied inside the graph, so a seeded generator outside reproduces the model's sampling.
    """
    graph = model.graph
    found: list[NoiseInput] = []
    kept: list[onnx.NodeProto] = []
    extra: list[onnx.NodeProto] = []
    rename: dict[str, str] = {}
    for node in graph.node:
        if node.op_type not in RANDOM_OPS:
            kept.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        dtype = attrs.get("dtype", TensorProto.FLOAT)
        if dtype != TensorProto.FLOAT:
            kind = TensorProto.DataType.Name(dtype)
            raise _fail(node.name, f"{node.op_type} of type {kind} is not supported")
        name = f"{prefix}_{len(found)}"
        if node.op_type == "RandomNormalLike":
            entry = NoiseInput(name, "normal", node.input[0], float(attrs.get("mean", 0.0)),
                               float(attrs.get("scale", 1.0)))
            offset, scale = entry.mean, entry.scale
        else:
            low, high = float(attrs.get("low", 0.0)), float(attrs.get("high", 1.0))
            entry = NoiseInput(name, "uniform", node.input[0], low, high - low)
            offset, scale = low, high - low
        found.append(entry)
        graph.input.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, None))
        out = node.output[0]
        if offset == 0.0 and scale == 1.0:
            rename[out] = name
        else:
            consts = [f"{name}/scale", f"{name}/offset"]
            graph.initializer.extend([numpy_helper.from_array(np.array(scale, np.float32), consts[0]),
                                      numpy_helper.from_array(np.array(offset, np.float32), consts[1])])
            extra.append(helper.make_node("Mul", [name, consts[0]], [f"{name}/scaled"], name=f"{name}/Mul"))
            extra.append(helper.make_node("Add", [f"{name}/scaled", consts[1]], [out], name=f"{name}/Add"))
    for node in kept:
        for k, name in enumerate(node.input):
            if name in rename:
                node.input[k] = rename[name]
    for output in graph.output:
        if output.name in rename:
            raise _fail(output.name, "a graph output is a random node's output; there is nothing to run")
    del graph.node[:]
    # The new nodes read only graph inputs and constants, so putting them first keeps the order topological.
    graph.node.extend(extra + kept)
    return found


def _consumers(model: ModelProto) -> dict[str, list[onnx.NodeProto]]:
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in model.graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    return users


def _initializers(model: ModelProto) -> dict[str, TensorProto]:
    return {t.name: t for t in model.graph.initializer}


def decoder_cut(model: ModelProto, channels: int = 192, upsampler: str = "ConvTranspose") -> str:
    """The decoder's input tensor: what the generator's first convolution reads, found by structure.

    Walks back from the first ``upsampler`` node (a HiFi-GAN generator's first upsampling) along data inputs
    to the nearest Conv, and checks that its weight reads ``channels`` input channels.
    """
    producers = {out: node for node in model.graph.node for out in node.output}
    inits = _initializers(model)
    first = next((n for n in model.graph.node if n.op_type == upsampler), None)
    if first is None:
        raise _fail("decoder", f"the graph has no {upsampler} node, so no vocoder generator was found",
                    "this importer expects a VITS-style decoder that upsamples with transposed convolutions")
    node, seen = first, 0
    while seen < 64:
        seen += 1
        data = [name for name in node.input if name and name not in inits]
        if not data or data[0] not in producers:
            break
        node = producers[data[0]]
        if node.op_type == "Conv":
            weight = inits.get(node.input[1])
            if weight is None or len(weight.dims) != 3 or weight.dims[1] != channels:
                shape = list(weight.dims) if weight else "?"
                raise _fail("decoder", f"the convolution before the first {upsampler} ({node.name!r}) does "
                            f"not read {channels} channels (weight shape {shape})")
            return node.input[0]
    raise _fail("decoder", f"no convolution feeds the first {upsampler} node {first.name!r}")


def tensor_of_op(model: ModelProto, op_type: str) -> str:
    """The output of the graph's only ``op_type`` node (e.g. the Ceil that rounds VITS durations)."""
    nodes = [n for n in model.graph.node if n.op_type == op_type]
    if len(nodes) != 1:
        raise _fail("graph", f"expected exactly one {op_type} node, found {len(nodes)}")
    return nodes[0].output[0]


def split_model(model: ModelProto, cut: Sequence[str], head_outputs: Sequence[str] = ()) -> tuple[
        ModelProto, ModelProto, list[str]]:
    """Cut ``model`` where tensors ``cut`` are computed: (head, tail, crossing).

    The tail holds every node that depends on a ``cut`` tensor; the head the rest that the tail or
    ``head_outputs`` need. ``crossing`` lists, in a stable order, the tensors that the head hands the tail
    (the cut tensors first): the head's outputs (before ``head_outputs``) and the tail's inputs besides the
    original graph inputs the tail reads itself.
    """
    graph = model.graph
    inits = _initializers(model)
    graph_inputs = [i.name for i in graph.input if i.name not in inits]
    produced_by = {out: i for i, node in enumerate(graph.node) for out in node.output}
    cut_set = set(cut)
    missing = cut_set - set(produced_by)
    if missing:
        raise _fail("graph", f"no node computes {sorted(missing)}")
    downstream: set[int] = set()
    tainted = set(cut_set)
    for i, node in enumerate(graph.node):
        if any(name in tainted for name in node.input) and not set(node.output) <= cut_set:
            downstream.add(i)
            tainted.update(node.output)
    # Nodes that read only graph inputs and constants and feed only the tail (a noise input's scaling)
    # go to the tail too, so their input is fed to the tail instead of crossing as a computed tensor.
    users = _consumers(model)
    kept_out = set(head_outputs) | {o.name for o in graph.output}
    index = {id(node): i for i, node in enumerate(graph.node)}
    free = set(graph_inputs) | set(inits) | {""}
    for i in reversed(range(len(graph.node))):
        node = graph.node[i]
        if i in downstream or not set(node.input) <= free | tainted \
                or set(node.output) & (kept_out | cut_set):
            continue
        readers = [index[id(n)] for out in node.output for n in users.get(out, [])]
        if readers and all(r in downstream for r in readers):
            downstream.add(i)
            tainted.update(node.output)
    crossing: list[str] = list(cut)
    tail_inputs: list[str] = []
    for i in sorted(downstream):
        for name in graph.node[i].input:
            if not name or name in inits or name in tainted:
                continue
            if name in graph_inputs:
                if name not in tail_inputs:
                    tail_inputs.append(name)
            elif name not in crossing:
                crossing.append(name)
    outputs = [o.name for o in graph.output]
    head_out = [*crossing, *[n for n in head_outputs if n not in crossing]]
    needed = _ancestor_inputs(model, head_out, graph_inputs)
    head = extract(model, [n for n in graph_inputs if n in needed], head_out)
    tail = extract(model, [*crossing, *tail_inputs], outputs)
    return head, tail, crossing


def _ancestor_inputs(model: ModelProto, outputs: Sequence[str], inputs: Sequence[str]) -> set[str]:
    """Which of ``inputs`` the tensors ``outputs`` depend on."""
    producers = {out: node for node in model.graph.node for out in node.output}
    seen: set[str] = set()
    todo = list(outputs)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        node = producers.get(name)
        if node is not None:
            todo.extend(n for n in node.input if n)
    return seen & set(inputs)


def extract(model: ModelProto, inputs: Sequence[str], outputs: Sequence[str]) -> ModelProto:
    """The sub-model from ``inputs`` to ``outputs`` (onnx.utils.Extractor), keeping opsets and IR version."""
    inferred = onnx.shape_inference.infer_shapes(model)
    extractor = onnx.utils.Extractor(inferred)
    # A tensor shape inference could not type becomes a float tensor of unknown shape (the runtime checks it).
    for name in [*inputs, *outputs]:
        if name not in extractor.value_infos:
            extractor.value_infos[name] = helper.make_tensor_value_info(name, TensorProto.FLOAT, None)
    sub = extractor.extract_model(list(inputs), list(outputs))
    sub.ir_version = model.ir_version
    del sub.opset_import[:]
    sub.opset_import.extend(model.opset_import)
    return sub


def model_digest(model: ModelProto) -> str:
    """SHA-256 of the model's serialized bytes (what ``save_model`` writes)."""
    return hashlib.sha256(model.SerializeToString()).hexdigest()


def save_model(model: ModelProto, path: str | Path) -> str:
    """Write ``model`` as one self-contained file and return the SHA-256 of the bytes written."""
    data = model.SerializeToString()
    Path(path).write_bytes(data)
    return hashlib.sha256(data).hexdigest()


def symbolic_batch(model: ModelProto, name: str = "batch") -> bool:
    """Make dimension 0 of the graph's inputs and outputs symbolic where the export fixed it at 1, so a
    session takes a batch of streams (``batch = true`` in a networks table); the inner shapes recorded by
    the export are dropped for ONNX Runtime to infer again. Returns whether anything changed. Whether the
    graph computes each row on its own (no op mixing the batch) is for ``ttsint.testing.check_batching``."""
    changed = False
    for value in [*model.graph.input, *model.graph.output]:
        dims = value.type.tensor_type.shape.dim
        if len(dims) > 1 and dims[0].HasField("dim_value") and dims[0].dim_value == 1:
            dims[0].dim_param = name
            changed = True
    if changed:
        del model.graph.value_info[:]
    return changed

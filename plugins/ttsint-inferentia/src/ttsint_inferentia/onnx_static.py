"""``onnx-static``: an ONNX network run as fixed-shape programs, one per bucket, as an accelerator runs it.

For each bucket it makes a copy of the graph with every input's shape pinned (a separately built ONNX
Runtime session, as Neuron compiles each shape), pads the inputs' last (time) axis up to the bucket with
zeros, and crops the outputs back. Padding alone would change the last real outputs: a convolution near the
end would see the padded positions' values (biases, activations) where the plain network sees its own zero
padding. So the copy also takes the real length and zeroes every convolution's input beyond it (``Where``,
so even a NaN in the padding cannot leak). Between convolutions the graph may only compute position by
position, and a ``Conv`` must keep the length (stride 1) and a ``ConvTranspose`` multiply it by its stride;
then each real output position sees exactly the values it sees in the unpadded network, and the cropped
outputs are the plain network's (tests/inferentia/test_onnx_static.py checks every length). Graphs with any
other operator are refused when loaded. Inputs longer than the largest bucket are split into pieces that
overlap by the network's declared ``receptive_field`` and stitched, which is exact by the same argument.

It pads for its blocks, so any block may use it: switching a network to it is a config change only, e.g.
``ttsint verify en_US-joe-medium --vs "stack.0.sequence_block.seed=1" --vs "stack.0.sequence_block.seed=1
stack.0.streamable_block.stack.1.runtime=onnx-static"`` (the seed: both runs draw the same noise).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from ttsint import (
    AddonError,
    Network,
    Runtime,
    Span,
    StreamError,
    is_torch,
    next_bucket,
    pad_to,
    split_spans,
    stitch_spans,
    to_numpy,
    to_torch,
)

from .shapes import PerShapeExecutable, signature

if TYPE_CHECKING:
    import onnx
    import onnxruntime as ort
    import torch

__all__ = ["OnnxStaticRuntime", "OnnxStaticExecutable", "DEFAULT_BUCKETS", "POSITIONWISE", "MASKED"]

DEFAULT_BUCKETS = (16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
"""Lengths 1.5x apart: padding costs at most a third of a piece, about a sixth on average."""

MASKED = ("Conv", "ConvTranspose")
"""The operators that look along time; each gets its input zeroed beyond the real length."""

POSITIONWISE = frozenset({
    "Abs", "Add", "Cast", "Clip", "Constant", "Div", "Elu", "Erf", "Exp", "Gelu", "HardSigmoid", "Identity",
    "LeakyRelu", "Log", "Max", "Min", "Mul", "Neg", "Pow", "PRelu", "Reciprocal", "Relu", "Selu", "Sigmoid",
    "Sin", "Softplus", "Sqrt", "Squeeze", "Sub", "Tanh", "Unsqueeze",
})
"""Operators that compute each time position from the same position only (Squeeze and Unsqueeze are
checked, per compiled shape, to leave the last axis where it was)."""

LENGTH = "ttsint_real_length"
"""The input each compiled copy takes besides the network's: how many positions are real."""


def unsupported_ops(model: onnx.ModelProto) -> list[str]:
    """Operators of ``model`` that this runtime cannot pad exactly (in the default domain or not)."""
    found = {(n.domain or "", n.op_type) for n in model.graph.node}
    return sorted(f"{d}:{op}" if d not in ("", "ai.onnx") else op for d, op in found
                  if d not in ("", "ai.onnx") or op not in POSITIONWISE | set(MASKED))


class OnnxStaticExecutable(PerShapeExecutable):
    """One ONNX network as a session per bucket: inputs padded on their last axis, outputs cropped.

    The report adds ``computed`` and ``padded`` positions (at the input's rate) and ``padding_waste``.
    """

    runtime: OnnxStaticRuntime

    def __init__(self, network: Network, runtime: OnnxStaticRuntime, model: onnx.ModelProto) -> None:
        super().__init__(network, runtime)
        self.model = model

    def execute(self, tensors: Mapping[str, Any]) -> Sequence[Any]:
        as_torch = any(is_torch(tensors[n]) for n in self.network.inputs)
        feed = {n: np.ascontiguousarray(to_numpy(tensors[n])) for n in self.network.inputs}
        lengths = {int(a.shape[-1]) for a in feed.values()}
        if len(lengths) != 1 or any(a.ndim == 0 for a in feed.values()):
            shapes = {k: tuple(v.shape) for k, v in feed.items()}
            raise StreamError(f"runtime {self.runtime.name!r} pads every input of {self.network.name!r} "
                              f"on its last (time) axis, so they must share its length; got {shapes}")
        n = lengths.pop()
        largest = self.runtime.buckets[-1]
        if n <= largest:
            outs = self._run_bucket(feed, n)
        else:
            outs = self._run_split(feed, n, largest)
        return [to_torch(o) for o in outs] if as_torch else outs

    def _run_split(self, feed: dict[str, np.ndarray], n: int, largest: int) -> list[np.ndarray]:
        """Pieces of at most the largest bucket, overlapping by the receptive field, stitched."""
        rf = self.network.receptive_field
        if rf is None or largest <= 2 * rf:
            raise StreamError(f"{n} positions exceed runtime {self.runtime.name!r}'s largest bucket "
                              f"({largest}), and network {self.network.name!r} "
                              + ("declares no receptive_field to split it exactly" if rf is None else
                                 f"has a receptive field of {rf}, too wide to split at that bucket")
                              + '; add a larger bucket: runtime = { type = "onnx-static", buckets = [...] }')
        pieces: list[list[tuple[Span, np.ndarray]]] = [[] for _ in self.network.outputs]
        for span in split_spans(n, largest, rf):
            outs = self._run_bucket({k: v[..., span.start:span.end] for k, v in feed.items()}, span.length)
            for found, out in zip(pieces, outs, strict=True):
                r = int(out.shape[-1]) // span.length
                scaled = Span(span.start * r, span.end * r, span.keep_start * r, span.keep_end * r)
                found.append((scaled, out))
        return [np.ascontiguousarray(stitch_spans(p, dim=-1)) for p in pieces]

    def _run_bucket(self, feed: dict[str, np.ndarray], n: int) -> list[np.ndarray]:
        bucket = next_bucket(n, self.runtime.buckets)
        assert bucket is not None  # execute splits what exceeds the largest bucket
        padded = {k: pad_to(v, bucket, dim=-1) for k, v in feed.items()}
        args = [padded[k] for k in self.network.inputs]
        session, rates = self.program(signature(args), lambda: (self._compile(padded, bucket), True))
        outs = session.run(self.network.outputs, {**padded, LENGTH: np.array(n, np.int64)})
        self.stats.add(computed=bucket, padded=bucket - n)
        return [np.ascontiguousarray(o[..., :r * n]) for o, r in zip(outs, rates, strict=True)]

    def _compile(self, padded: dict[str, np.ndarray], bucket: int) -> tuple[ort.InferenceSession, list[int]]:
        """A session for inputs of exactly these shapes, its convolutions masked; and each output's rate."""
        model = pinned_model(self.model, {k: v.shape for k, v in padded.items()}, self.network.name)
        rates = mask_beyond_length(model, bucket, self.network.name)
        return self.runtime.session(model.SerializeToString()), [rates[o] for o in self.network.outputs]

    def report(self) -> dict[str, Any]:
        report = super().report()
        report["padding_waste"] = round(report.get("padded", 0) / max(1, report.get("computed", 0)), 4)
        return report


def pinned_model(model: onnx.ModelProto, shapes: Mapping[str, tuple[int, ...]], name: str) -> onnx.ModelProto:
    """A copy of ``model`` whose inputs have exactly ``shapes``, with every other shape inferred from them."""
    import onnx

    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    for inp in copy.graph.input:
        if inp.name in shapes:
            inp.type.tensor_type.ClearField("shape")
            for d in shapes[inp.name]:
                inp.type.tensor_type.shape.dim.add().dim_value = int(d)
    del copy.graph.value_info[:]  # symbolic shapes from the export; inferred again below
    for out in copy.graph.output:
        out.type.tensor_type.ClearField("shape")
    try:
        return onnx.shape_inference.infer_shapes(copy, strict_mode=True)
    except Exception as exc:
        raise StreamError(f"runtime 'onnx-static' cannot infer the shapes of network {name!r} for inputs "
                          f"{dict(shapes)}: {exc}") from None


def mask_beyond_length(model: onnx.ModelProto, bucket: int, name: str) -> dict[str, int]:
    """Zero each convolution's input past the real length (input ``LENGTH``), in place; each tensor's rate.

    Every time axis must be a whole multiple of ``bucket`` (its rate: positions per input position), a
    Conv must keep its input's rate and a ConvTranspose multiply it by its stride, and Squeeze/Unsqueeze
    must keep the last axis: otherwise real positions would not map to real positions, and it is refused.
    """
    from onnx import TensorProto, helper, numpy_helper

    graph = model.graph
    info = {v.name: v.type.tensor_type for v in (*graph.input, *graph.value_info, *graph.output)}

    def last_dim(tensor: str) -> int:
        dims = info[tensor].shape.dim if tensor in info else ()
        if not dims or not dims[-1].HasField("dim_value"):
            raise StreamError(f"runtime 'onnx-static': the length of {tensor!r} in network {name!r} is "
                              "not known for fixed inputs, so it cannot be masked")
        return int(dims[-1].dim_value)

    def rate(tensor: str) -> int:
        d = last_dim(tensor)
        if d % bucket:
            raise StreamError(f"runtime 'onnx-static': {tensor!r} in network {name!r} has {d} positions for "
                              f"{bucket} input positions, not a whole multiple, so its real part is unknown")
        return d // bucket

    graph.input.append(helper.make_tensor_value_info(LENGTH, TensorProto.INT64, []))
    head: list[onnx.NodeProto] = []
    masks: dict[int, str] = {}
    masked: dict[str, str] = {}
    nodes: list[onnx.NodeProto] = []

    def mask(r: int) -> str:
        if r not in masks:
            p = f"ttsint_mask_{r}"
            constants = (("zero", 0), ("one", 1), ("rate", r), ("end", r * bucket))
            graph.initializer.extend([numpy_helper.from_array(np.array(v, np.int64), f"{p}_{k}")
                                      for k, v in constants])
            head.extend([
                helper.make_node("Range", [f"{p}_zero", f"{p}_end", f"{p}_one"], [f"{p}_index"]),
                helper.make_node("Mul", [LENGTH, f"{p}_rate"], [f"{p}_real"]),
                helper.make_node("Less", [f"{p}_index", f"{p}_real"], [p]),
            ])
            masks[r] = p
        return masks[r]

    for node in graph.node:
        if node.op_type in ("Squeeze", "Unsqueeze") and last_dim(node.output[0]) != last_dim(node.input[0]):
            raise StreamError(f"runtime 'onnx-static': {node.op_type} {node.name!r} in network {name!r} "
                              "moves the last (time) axis")
        if node.op_type in MASKED:
            x = node.input[0]
            r_in = rate(x)
            stride = next((a.ints[0] for a in node.attribute if a.name == "strides" and a.ints), 1)
            want = r_in * stride if node.op_type == "ConvTranspose" else r_in
            if node.op_type == "Conv" and stride != 1 or last_dim(node.output[0]) != want * bucket:
                raise StreamError(f"runtime 'onnx-static': {node.op_type} {node.name!r} in network {name!r} "
                                  f"turns {r_in * bucket} positions into {last_dim(node.output[0])}; only "
                                  "length-keeping convolutions and upsampling by the stride pad exactly")
            if x not in masked:
                zero = f"ttsint_zero_{len(masked)}"
                graph.initializer.append(numpy_helper.from_array(
                    np.zeros((), helper.tensor_dtype_to_np_dtype(info[x].elem_type)), zero))
                masked[x] = f"{x}_ttsint_masked"
                nodes.append(helper.make_node("Where", [mask(r_in), x, zero], [masked[x]]))
            node.input[0] = masked[x]
        nodes.append(node)
    del graph.node[:]
    graph.node.extend([*head, *nodes])
    return {o.name: rate(o.name) for o in graph.output}


class OnnxStaticRuntime(Runtime):
    """ONNX networks as one fixed-shape session per bucket; it pads, masks and crops for any block.

    ``buckets`` default to 16 to 1,024 positions, 1.5x apart; ``threads`` as for ``onnxruntime``.

    Sessions are built on first use of a bucket and held in memory (built again by each process); the
    report counts them (``compiles``, ``compile_ms``, ``shapes``) and the padding (``padding_waste``).
    """

    name = "onnx-static"
    device_types = ("cpu",)

    def __init__(self, device: str | torch.device = "cpu", buckets: list[int] | None = None,
                 threads: int | None = None) -> None:
        super().__init__(device)
        chosen = DEFAULT_BUCKETS if buckets is None else buckets
        if (not isinstance(chosen, list | tuple) or not chosen
                or any(isinstance(b, bool) or not isinstance(b, int) or b < 1 for b in chosen)):
            raise ValueError(f"buckets must be a non-empty list of positive lengths, got {buckets!r}")
        if threads is not None and (isinstance(threads, bool) or not isinstance(threads, int) or threads < 1):
            raise ValueError(f"threads must be a positive integer, got {threads!r}")
        self.buckets = sorted(set(chosen))
        self.threads = threads

    def options(self) -> dict[str, Any]:
        return {"buckets": self.buckets, **({"threads": self.threads} if self.threads is not None else {})}

    def load(self, network: Network) -> OnnxStaticExecutable:
        import onnx

        form = getattr(network, "onnx", None)
        if form is None:
            raise AddonError(f"runtime 'onnx-static' runs ONNX networks, and network {network.name!r} "
                             f"({network.path.name}) ships none; run it on cpu-static, or ship an .onnx")
        model = onnx.load_from_string(form.read())  # digest-checked and inspected by read()
        refused = unsupported_ops(model)
        if refused:
            raise AddonError(f"runtime 'onnx-static' pads a network exactly only when it computes position "
                             f"by position between convolutions; network {network.name!r} also uses "
                             f"{', '.join(refused)}; run it on onnxruntime")
        return OnnxStaticExecutable(network, self, model)

    def session(self, model: bytes) -> ort.InferenceSession:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.inter_op_num_threads = 1
        if self.threads is not None:
            options.intra_op_num_threads = self.threads
        options.log_severity_level = 3
        return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

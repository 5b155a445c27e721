"""Core's shape: no import cycles (read from the source with ast), a leaf data module, a lazy sorted API."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ttsint

PACKAGE = Path(ttsint.__file__).parent


def _imports(path: Path) -> set[str]:
    """Modules of the ttsint package that ``path`` imports anywhere: top level, functions, TYPE_CHECKING."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1:
                if node.module:
                    found.add(node.module.split(".")[0])
                else:
                    found.update(a.name for a in node.names)
            elif node.level == 0 and node.module and node.module.split(".")[0] == "ttsint":
                parts = node.module.split(".")
                found.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("ttsint."))
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__", "__main__"}
    return {m: _imports(PACKAGE / f"{m}.py") & modules for m in modules}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_core_modules_import_each_other_without_a_cycle() -> None:
    graph = import_graph()
    assert {"_blocks", "_stack", "_addon", "_frontends"} <= set(graph)
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": set()}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None


def test_leaf_modules_import_nothing_from_ttsint() -> None:
    graph = import_graph()
    for leaf in ("_data", "_errors", "_lazy", "hookspecs"):
        assert graph[leaf] == set(), f"{leaf}.py imports {graph[leaf]}"


def test_public_api_is_sorted_and_every_name_resolves() -> None:
    assert ttsint.__all__ == sorted(ttsint.__all__, key=lambda s: (s.lower(), s))
    assert len(set(ttsint.__all__)) == len(ttsint.__all__)
    for name in ttsint.__all__:
        assert getattr(ttsint, name) is not None, name


def test_importing_ttsint_does_not_import_torch() -> None:
    code = "import sys, ttsint; from ttsint import hookimpl, ConfigError; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


def private_core_imports(path: Path) -> list[str]:
    """``ttsint._x`` modules (or private names of ``ttsint``) that a source file imports."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            parts = node.module.split(".")
            if parts[0] == "ttsint" and (len(parts) > 1 and parts[1].startswith("_")
                                         or any(a.name.startswith("_") for a in node.names)):
                found.append(f"{path}:{node.lineno} from {node.module} import ...")
            elif parts[0] == "ttsint" and len(parts) > 1 and parts[1] not in PUBLIC_MODULES:
                found.append(f"{path}:{node.lineno} from {node.module} (not a public module)")
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "ttsint" and len(parts) > 1 and parts[1] not in PUBLIC_MODULES:
                    found.append(f"{path}:{node.lineno} import {alias.name}")
    return found


PUBLIC_MODULES = {"testing", "hookspecs", "cli"}
"""The core modules a plugin may import besides ``ttsint`` itself: the kit, the hook specs, the CLI."""


def test_plugins_import_only_the_public_api() -> None:
    files = [p for p in PLUGINS.glob("*/src/**/*.py")]
    assert len(files) > 20
    offenders = [hit for p in files for hit in private_core_imports(p)]
    assert offenders == [], "plugins must import from `ttsint` only:\n" + "\n".join(offenders)


def test_the_private_import_check_catches_one(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from ttsint._blocks import walk\nimport ttsint._stack\nfrom ttsint import Voice\n")
    assert len(private_core_imports(bad)) == 2


def test_every_public_name_lives_in_a_private_module() -> None:
    from ttsint._lazy import lazy_module

    modules = {lazy_module("ttsint", name) for name in ttsint.__all__} - {None}
    assert len(modules) > 10 and all(m.startswith("_") for m in modules), modules


LAYERS = {
    0: "_errors _data _lazy _catalog _arrays _cache _stats _progress hookspecs",
    1: "_batching _blocks _chunking _limits _params _overrides _segments _safety _integrity _audio",
    2: "_registry _core_plugin _instantiate _frontends _ssml _runtimes _torch_runtime _network "
       "_guard _tap _speech",
    3: "_addon _stack _windowed",
    4: "_voice",
    5: "cli _synth _document _verify _scaffold testing",
}
"""docs/architecture.md's layers: a module imports only its own layer or lower ones."""


def test_core_modules_import_only_their_layer_or_lower_ones() -> None:
    layer = {m: n for n, modules in LAYERS.items() for m in modules.split()}
    upward = [f"{m} (layer {layer[m]}) imports {d} (layer {layer[d]})"
              for m, deps in import_graph().items() if m in layer for d in sorted(deps)
              if d in layer and layer[d] > layer[m]]
    assert upward == [], "\n".join(upward)
    assert {"_blocks", "_voice", "_stack", "cli"} <= set(layer) & set(import_graph())

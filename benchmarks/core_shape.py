"""The shape of the core, as issue 22 counts it: lines, public names, block-tree walks, import cycles.

Reads the source only (no ttsint import, except to count its public names), so it prints the same
figures on any machine:

    python benchmarks/core_shape.py [--list]

``--list`` also names each place that walks the block tree and each module of every import cycle.
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core" / "src" / "ttsint"
PACKAGES = [CORE, *sorted(p for p in (ROOT / "plugins").glob("*/src/*") if p.is_dir())]
CONTAINERS = {"StreamableStack", "StreamablePipeline", "SequenceBlockContainer"}
TREE_ATTRS = {"sequence_block", "streamable_block"}


def core_lines() -> tuple[int, int, int]:
    """(lines, modules, public modules) of the core package."""
    files = sorted(CORE.glob("*.py"))
    lines = sum(len(f.read_text().splitlines()) for f in files)
    public = [f for f in files if not f.name.startswith("_")]
    return lines, len(files), len(public)


def public_names() -> int:
    out = subprocess.run([sys.executable, "-c", "import ttsint; print(len(ttsint.__all__))"],
                         capture_output=True, text=True, check=True,
                         env={**os.environ, "PYTHONPATH": str(CORE.parent)})
    return int(out.stdout)


def _called(func: ast.expr) -> str | None:
    """The name a call is made by: ``walk`` for ``walk(...)`` and for ``ttsint.walk(...)``."""
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def _walks(func: ast.AST) -> bool:
    """Does this function reach into the block tree by hand? (``children()`` beside ``walk`` only asks
    whether a node is a leaf, so it does not count.)"""
    calls_walk = any(isinstance(n, ast.Call) and _called(n.func) in {"walk", "flows"} for n in ast.walk(func))
    for node in ast.walk(func):
        call = node.func if isinstance(node, ast.Call) else None
        if isinstance(call, ast.Attribute) and call.attr == "children" and not calls_walk:
            return True
        if isinstance(call, ast.Name) and call.id == "isinstance" and len(node.args) > 1:
            if {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)} & CONTAINERS:
                return True
        if isinstance(node, ast.Attribute) and node.attr in TREE_ATTRS and not (
                isinstance(node.value, ast.Name) and node.value.id == "self"):
            return True
        if (isinstance(node, ast.Attribute) and node.attr == "parts" and isinstance(node.value, ast.Name)
                and "prepared" in node.value.id):
            return True
        if (isinstance(node, ast.Attribute) and node.attr == "stack" and isinstance(node.value, ast.Name)
                and "block" in node.value.id):
            return True
    return False


def walk_sites() -> list[str]:
    """Functions that walk the block tree by hand (a container's own methods and ``walk`` excepted)."""
    own = {"children", "close", "stream", "prepare", "stream_prepared", "forward", "output_kind",
           "from_config", "__init__", "describe", "report", "symbol_frames"}
    found = []
    for root in [*PACKAGES, ROOT / "benchmarks"]:
        for path in sorted(root.rglob("*.py")):
            if path.name == "core_shape.py":
                continue
            tree = ast.parse(path.read_text())
            rel = path.relative_to(ROOT)
            parent: dict[ast.AST, ast.AST] = {}
            for node in ast.walk(tree):
                for child in ast.iter_child_nodes(node):
                    parent[child] = node
            for func in ast.walk(tree):
                if not isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                if isinstance(parent.get(func), (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue  # counted with the function around it
                cls = parent.get(func)
                if isinstance(cls, ast.ClassDef) and func.name in own:
                    continue
                if func.name == "walk" and rel.name in {"blocks.py", "_blocks.py"}:
                    continue
                if _walks(func):
                    owner = f"{cls.name}." if isinstance(cls, ast.ClassDef) else ""
                    found.append(f"{rel}:{func.lineno} {owner}{func.name}")
    return found


def _module_name(package: Path, path: Path) -> str:
    parts = [package.name, *path.relative_to(package).with_suffix("").parts]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def import_graph(with_function_level: bool) -> dict[str, set[str]]:
    """Module -> modules of the same package it imports at module level (``if TYPE_CHECKING:`` included)."""
    graph: dict[str, set[str]] = {}
    for package in PACKAGES:
        for path in package.rglob("*.py"):
            name = _module_name(package, path)
            is_pkg = path.name == "__init__.py"
            graph.setdefault(name, set())
            tree = ast.parse(path.read_text())
            nodes = ast.walk(tree) if with_function_level else _module_level(tree.body)
            for node in nodes:
                targets: list[str] = []
                if isinstance(node, ast.ImportFrom):
                    if node.level:
                        base = name.split(".") if is_pkg else name.split(".")[:-1]
                        base = base[: len(base) - (node.level - 1)]
                        mod = ".".join(base + ([node.module] if node.module else []))
                    else:
                        mod = node.module or ""
                    targets = [mod] + [f"{mod}.{a.name}" for a in node.names]
                elif isinstance(node, ast.Import):
                    targets = [a.name for a in node.names]
                for t in targets:
                    if t.split(".")[0] == package.name and t != name:
                        graph[name].add(t)
    known = set(graph)
    return {m: {t for t in ts if t in known and t != m} for m, ts in graph.items()}


def _module_level(body: list[ast.stmt]):
    for node in body:
        yield node
        if isinstance(node, (ast.If, ast.Try)):
            yield from _module_level(node.body)
            yield from _module_level(getattr(node, "orelse", []))
            for handler in getattr(node, "handlers", []):
                yield from _module_level(handler.body)


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), ignoring a package's own __init__
    re-exports (``pkg`` -> ``pkg.mod`` is how a package exposes its names, not a cycle of ideas)."""
    edges = {m: {t for t in ts if not (m == t.rsplit(".", 1)[0] and "." not in m)} for m, ts in graph.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--list", action="store_true")
    args = parser.parse_args()
    lines, modules, public = core_lines()
    sites = walk_sites()
    module_cycles = cycles(import_graph(False))
    all_cycles = cycles(import_graph(True))
    print(f"core lines                         {lines}")
    print(f"core modules (public)              {modules} ({public})")
    print(f"public names (ttsint.__all__)      {public_names()}")
    print(f"functions walking the block tree   {len(sites)}")
    print(f"import cycles, module level        {len(module_cycles)}  (type-only edges included)")
    print(f"import cycles, with lazy imports   {len(all_cycles)}  (imports inside functions too)")
    if args.list:
        for site in sites:
            print("  walk:", site)
        for comp in module_cycles:
            print("  cycle:", " <-> ".join(comp))
        for comp in all_cycles:
            print("  cycle (lazy):", " <-> ".join(comp))


if __name__ == "__main__":
    main()

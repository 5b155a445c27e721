"""What ``ttsint blocks`` shows about a block type without importing it: its kind and its summary.

Both are read from the source with ``ast``, following base classes across modules, so listing the
blocks of every installed plugin imports neither torch nor the plugins' block modules.
"""

from __future__ import annotations

import ast
import importlib.util
from functools import lru_cache
from typing import Any

__all__ = ["describe_target"]

_UNKNOWN = ("?", "")


def describe_target(target: Any) -> tuple[str, str]:
    """(kind, first docstring line) of a registered block: a class, or a lazy "module:attr" target."""
    if not isinstance(target, str):
        doc = ((getattr(target, "__doc__", None) or "").strip().splitlines() or [""])[0]
        return getattr(target, "kind", "?"), doc
    module, _, attr = target.partition(":")
    if not attr or "." in attr:
        return _UNKNOWN
    found = _class(module, attr)
    if found is None:
        return _UNKNOWN
    node, _ = found
    doc = ((ast.get_docstring(node) or "").splitlines() or [""])[0]
    return _kind(module, attr, 0) or "?", doc


def _kind(module: str, name: str, depth: int) -> str | None:
    """The ``kind`` class attribute of ``module.name``, set in its body or inherited from a base."""
    found = _class(module, name)
    if found is None or depth > 20:
        return None
    node, imports = found
    for stmt in node.body:
        targets = stmt.targets if isinstance(stmt, ast.Assign) else [stmt.target] if isinstance(
            stmt, ast.AnnAssign) else []
        value = getattr(stmt, "value", None)
        named = any(isinstance(t, ast.Name) and t.id == "kind" for t in targets)
        if named and isinstance(value, ast.Constant):
            return str(value.value)
    for base in node.bases:
        where = _resolve(base, module, imports)
        kind = _kind(*where, depth + 1) if where else None
        if kind:
            return kind
    return None


def _resolve(base: ast.expr, module: str, imports: dict[str, tuple[str, str]]) -> tuple[str, str] | None:
    """The (module, class name) a base-class expression refers to."""
    if isinstance(base, ast.Name):
        if base.id in imports:
            return _public(*imports[base.id])
        return module, base.id
    if isinstance(base, ast.Attribute) and isinstance(base.value, ast.Name):
        origin = imports.get(base.value.id)
        package = origin[0] + "." + origin[1] if origin and origin[1] else base.value.id
        return _public(package, base.attr)
    return None


def _public(module: str, name: str) -> tuple[str, str]:
    """Names imported from the ``ttsint`` package live in the submodule its lazy table names."""
    if module == "ttsint":
        from ._lazy import lazy_module  # the package is imported already; this reads its table, nothing more

        return f"ttsint.{lazy_module('ttsint', name) or '_errors'}", name
    return module, name


@lru_cache(maxsize=256)
def _class(module: str, name: str) -> tuple[ast.ClassDef, dict[str, tuple[str, str]]] | None:
    """The class definition ``name`` in ``module``'s source, and the names the module imports."""
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    try:
        with open(spec.origin, encoding="utf-8") as f:
            tree = ast.parse(f.read())
    except (OSError, SyntaxError):
        return None
    package = module if spec.submodule_search_locations else module.rpartition(".")[0]
    imports: dict[str, tuple[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parent = ".".join(parts[:len(parts) - node.level + 1])
                base = f"{parent}.{base}" if base else parent
            for alias in node.names:
                imports[alias.asname or alias.name] = (base, alias.name)
        elif isinstance(node, ast.Import):
            for alias in node.names:
                imports[alias.asname or alias.name.split(".")[0]] = (alias.name, "") if alias.asname else (
                    alias.name.split(".")[0], "")
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and node.name == name:
            return node, imports
    return None

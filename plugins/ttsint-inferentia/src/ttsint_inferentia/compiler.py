"""Compile once per shape: an on-disk cache of compiled networks, and the counters each block reports."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import tempfile
import threading
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from ttsint import Network

from .backends import Backend, StaticModule, signature

__all__ = ["Compiler", "RunStats", "default_cache_dir"]


def default_cache_dir() -> Path:
    """``$TTSINT_CACHE_DIR``, else ``~/.cache/ttsint/compiled``."""
    env = os.environ.get("TTSINT_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ttsint" / "compiled"


class RunStats:
    """Thread-safe counters: streams add their totals when they finish, ``snapshot`` reads them."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[str] = Counter()

    def add(self, **counts: int) -> None:
        with self._lock:
            self._counts.update(counts)

    def snapshot(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset(self) -> dict[str, int]:
        """Return the counts and start again from zero."""
        with self._lock:
            counts, self._counts = dict(self._counts), Counter()
            return counts


class Compiler:
    """Gives each (network, input shapes) its compiled module: from memory, from disk, or compiled now.

    Artifacts are keyed by the network file's SHA-256, the input shapes and dtypes, the backend and its
    toolchain version, so another process with the same cache directory compiles nothing.
    """

    def __init__(self, backend: Backend, cache_dir: str | Path | None, stats: RunStats) -> None:
        self.backend = backend
        self.cache_dir = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        self.stats = stats
        self._lock = threading.Lock()
        self._modules: dict[tuple[str, str, Any], Network] = {}
        self._hashes: dict[str, str] = {}

    def network(self, network: Network, inputs: Mapping[str, torch.Tensor]) -> Network:
        """``network`` with its module replaced by the one compiled for these (batched) inputs."""
        args = tuple(inputs[n] for n in network.inputs)
        sig = signature(args)
        key = (network.name, str(network.path), sig)
        with self._lock:
            found = self._modules.get(key)
            if found is None:
                compiled = self._load_or_compile(network, args, sig)
                module = StaticModule(compiled, network.name, sig, self.backend.name)
                found = self._modules[key] = dataclasses.replace(network, module=module)
        return found

    def artifact_path(self, network: Network, args: tuple[torch.Tensor, ...]) -> Path:
        """Where the compiled artifact for these inputs lives in the cache directory."""
        sig = signature(args)
        key = json.dumps({"network": self._file_hash(network.path), "inputs": sig,
                          "backend": self.backend.name, "toolchain": self.backend.version()}, sort_keys=True)
        digest = hashlib.sha256(key.encode()).hexdigest()[:20]
        shape = "x".join(map(str, sig[0][0])) if sig else "none"
        name = f"{network.path.stem}-{shape}-{self.backend.name}-{digest}{self.backend.suffix}"
        return self.cache_dir / name

    def _load_or_compile(self, network: Network, args: tuple[torch.Tensor, ...], sig: Any) -> Any:
        path = self.artifact_path(network, args)
        if path.is_file():
            try:
                module = self.backend.load(path)
            except Exception:
                pass  # a truncated or foreign file: compile again and replace it
            else:
                self.stats.add(cache_hits=1)
                return module
        compiled = self.backend.compile(network.module, args)
        self.stats.add(compiles=1)
        self._save(compiled, path)
        return self.backend.runnable(compiled)

    def _save(self, compiled: Any, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Write beside the target, then rename: a concurrent reader sees the old file or the whole new one.
        fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=self.backend.suffix, dir=path.parent)
        os.close(fd)
        try:
            self.backend.save(compiled, Path(tmp))
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _file_hash(self, path: Path) -> str:
        stat = path.stat()
        memo = f"{path}:{stat.st_size}:{stat.st_mtime_ns}"
        if memo not in self._hashes:
            digest = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            self._hashes[memo] = digest.hexdigest()
        return self._hashes[memo]

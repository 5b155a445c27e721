"""On-disk cache of files made from networks (compiled or converted): keyed by content, written atomically.

Runtimes that turn an exported network into something else (a fixed-shape compile, an ONNX graph) share
it, so another process with the same cache directory reuses the work instead of repeating it.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["default_cache_dir", "file_sha256", "artifact_digest", "write_atomic"]

_hashes: dict[tuple[str, int, int], str] = {}
_lock = threading.Lock()


def default_cache_dir() -> Path:
    """``$TTSINT_CACHE_DIR``, else ``~/.cache/ttsint/compiled``."""
    env = os.environ.get("TTSINT_CACHE_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "ttsint" / "compiled"


def file_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes, remembered per (path, size, mtime) so a network is read once per process."""
    path = Path(path)
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    with _lock:
        found = _hashes.get(memo)
    if found is None:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        found = digest.hexdigest()
        with _lock:
            _hashes[memo] = found
    return found


def artifact_digest(source: str | Path, **parts: Any) -> str:
    """A short digest of the source file's content plus everything else that shapes the artifact
    (shapes, runtime, toolchain versions): equal digests mean the cached file can be reused."""
    key = json.dumps({"source": file_sha256(source), **parts}, sort_keys=True, default=str)
    return hashlib.sha256(key.encode()).hexdigest()[:20]


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Call ``write(tmp)`` on a file beside ``path``, then rename it over ``path``.

    A concurrent reader sees the old file or the whole new one, never a partial write.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise

"""On-disk cache of files made from networks (compiled or converted): keyed by content, written atomically.

Runtimes that turn an exported network into something else (a fixed-shape compile, an ONNX graph) share
it, so another process with the same cache directory reuses the work instead of repeating it. Loading an
addon keeps here what inspecting each network file found (``remembered_inspection``), by the file's digest.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["default_cache_dir", "file_sha256", "artifact_digest", "write_atomic", "remembered_inspection"]

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


_RECORD_BYTES = 1 << 20


def remembered_inspection(digest: str, suffix: str, inspector: str, inspect: Callable[[], Any],
                          decode: Callable[[Any], Any]) -> Any:
    """``decode`` of what ``inspect()`` found in the file whose SHA-256 is ``digest``: a JSON-able record that
    a later process with the same bytes and the same inspecting code (``inspector``, a digest of that code)
    reads from the cache instead of inspecting again. ``inspect`` raises for a refused file, so only files
    that passed are remembered; the caller has checked ``digest`` against the bytes it holds.

    A record counts only if it is a regular file, owned by this user and writable by nobody else, and names
    this digest, suffix and inspector; anything else (unreadable, foreign, malformed) means inspecting again.
    An unwritable cache costs the next process the same inspection, nothing more.
    """
    path = default_cache_dir() / "inspected" / f"{digest}{suffix}.json"
    record = read_record(path)
    if (isinstance(record, dict) and record.get("sha256") == digest and record.get("suffix") == suffix
            and record.get("inspector") == inspector):
        try:
            return decode(record["found"])
        except (KeyError, IndexError, TypeError, ValueError):
            pass
    found = inspect()
    value = decode(found)
    write_record(path, {"sha256": digest, "suffix": suffix, "inspector": inspector, "found": found})
    return value


def write_record(path: Path, value: Any) -> None:
    """Write ``value`` as JSON to ``path`` atomically, for ``read_record``; an unwritable cache is no error
    (the next process does the work again)."""
    text = json.dumps(value)
    try:
        write_atomic(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
    except (OSError, ValueError):
        pass


def read_record(path: Path) -> Any:
    """The JSON in ``path`` if only this user could have written it (a regular file of this user's, writable
    by nobody else, under 1 MiB), else None: how cached records are read (``remembered_inspection``)."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except (OSError, ValueError):
        return None
    with os.fdopen(fd, "rb") as f:
        try:
            info = os.fstat(f.fileno())
            owner = os.getuid() if hasattr(os, "getuid") else info.st_uid
            if (not stat.S_ISREG(info.st_mode) or info.st_uid != owner or info.st_mode & 0o022
                    or info.st_size > _RECORD_BYTES):
                return None
            return json.loads(f.read())
        except (OSError, ValueError, RecursionError):
            return None

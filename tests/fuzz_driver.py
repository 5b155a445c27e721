"""Runs many CLI cases in one process through ``ttsint.cli.run`` (what the ``ttsint`` script calls).

Usage: ``python fuzz_driver.py CASES.json RESULTS.json``. Each case gives argv, environment, stdin
bytes (hex), folders to put first on ``sys.path`` and a time limit; each result records the exit
code (or "hang"/"crash"), stdout and stderr.
One process amortises torch's import over all cases, and deserializes each distinct ``.pt2`` content
once (``torch.export.load`` was nine tenths of the driver's time: the demo addon's networks again for
every case); ``test_fuzz.py`` also runs some cases as separate ``ttsint`` processes to show the two agree.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import signal
import sys
import traceback


class _Hang(BaseException):
    pass


def _alarm(signum: int, frame: object) -> None:
    raise _Hang()


def _load_each_program_once() -> None:
    """Make ``torch.export.load`` of bytes it has loaded before return the program it made then.

    Keyed by the bytes' SHA-256, so a damaged copy of a network is other bytes and is deserialized for
    real; only programs that loaded are kept, so every failure is met again by every case that causes
    it. ttsint shares one loaded program between the copies of a network within a process already."""
    import hashlib

    import torch.export

    real = torch.export.load
    programs: dict[bytes, object] = {}

    def load(f: object, *args: object, **kwargs: object) -> object:
        if args or kwargs or not isinstance(f, io.BytesIO):
            return real(f, *args, **kwargs)  # type: ignore[arg-type]
        key = hashlib.sha256(f.getbuffer()).digest()
        if key not in programs:
            programs[key] = real(f)
        return programs[key]

    torch.export.load = load  # type: ignore[assignment]


def main(cases_file: str, results_file: str) -> None:
    import ttsint
    from ttsint.cli import run

    _load_each_program_once()

    signal.signal(signal.SIGALRM, _alarm)
    base_env = dict(os.environ)
    real_stdin = sys.stdin
    results = []
    with open(cases_file, encoding="utf-8") as handle:
        cases = json.load(handle)
    for case in cases:
        os.environ.clear()
        os.environ.update(base_env)
        os.environ.update(case.get("env", {}))
        extra = case.get("sys_path", [])
        if case.get("sys_path_last"):
            sys.path.extend(extra)
        else:
            sys.path[:0] = extra
        ttsint.reset_registry()
        sys.stdin = io.TextIOWrapper(io.BytesIO(bytes.fromhex(case.get("stdin", ""))), encoding="utf-8")
        out, err = io.StringIO(), io.StringIO()
        code: int | str
        try:
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                signal.alarm(int(case.get("timeout", 120)))
                try:
                    code = run(case["argv"])
                finally:
                    signal.alarm(0)
        except _Hang:
            code = "hang"
        except BaseException:  # noqa: BLE001 - a crash is a finding, recorded with its traceback
            code = "crash"
            err.write(traceback.format_exc())
        finally:
            sys.stdin = real_stdin
            for folder in extra:
                sys.path.remove(folder)
        results.append({"id": case["id"], "code": code, "stdout": out.getvalue(), "stderr": err.getvalue()})
        with open(results_file, "w", encoding="utf-8") as handle:  # partial results survive a kill
            json.dump(results, handle)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])

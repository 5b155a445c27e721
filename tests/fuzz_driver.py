"""Runs many CLI cases in one process through ``ttsint.cli.run`` (what the ``ttsint`` script calls).

Usage: ``python fuzz_driver.py CASES.json RESULTS.json``. Each case gives argv, environment, stdin
bytes (hex), folders to put first on ``sys.path`` and a time limit; each result records the exit
code (or "hang"/"crash"), stdout and stderr.
One process amortises torch's import over all cases; ``test_fuzz.py`` also runs some cases as
separate ``ttsint`` processes to show the two agree.
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


def main(cases_file: str, results_file: str) -> None:
    import ttsint
    from ttsint.cli import run

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

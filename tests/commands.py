"""The installed `ttsint` console script of the Python running the tests, for tests that run it as users do.

A bare ``ttsint`` would be whichever one PATH finds first (another venv's, a pyenv shim), so a run with
an unactivated venv's Python would test other code, or none.
"""

from __future__ import annotations

import sys
import sysconfig
from pathlib import Path


def ttsint_command() -> list[str]:
    """This interpreter's `ttsint` script, else its ``-m ttsint``."""
    script = Path(sysconfig.get_path("scripts")) / "ttsint"
    return [str(script)] if script.exists() else [sys.executable, "-m", "ttsint"]

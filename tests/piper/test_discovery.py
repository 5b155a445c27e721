"""Plugin discovery stays light: listing plugins (which every ``ttsint`` start does) imports neither the
Piper importer nor NumPy, while the Piper voice installed as a package is still registered."""

from __future__ import annotations

import subprocess
import sys

PROBE = """
import sys
from ttsint import get_registry
registry = get_registry()
print("voice" if "en_US-joe-medium" in registry.addons else "no-voice")
print(",".join(sorted(m for m in ("numpy", "ttsint_piper.importer") if m in sys.modules)) or "none")
"""


def test_listing_plugins_imports_no_numpy_and_still_finds_the_installed_voice() -> None:
    from ttsint_piper.importer import installed_voices  # (this process may import NumPy; the probe may not)

    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    found, heavy = done.stdout.split()
    assert heavy == "none", f"plugin discovery imported {heavy}"
    assert found == ("voice" if "en_US-joe-medium" in installed_voices() else "no-voice")

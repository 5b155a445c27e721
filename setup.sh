#!/usr/bin/env bash
# Install ttsint and its first-party plugins into the current Python environment (idempotent).
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
pip_install() { "$PY" -m pip install --disable-pip-version-check -q "$@"; }

# torch first, pinned to the CPU build: a bare "torch" requirement could pull a multi-GB CUDA build.
"$PY" -c "import torch" 2>/dev/null || pip_install "torch==2.13.0"
pip_install hatchling pytest
pip_install -e core -e plugins/ttsint-encoders
for plugin in plugins/ttsint-dsp plugins/ttsint-inferentia; do
    if [ -f "$plugin/pyproject.toml" ]; then pip_install -e "$plugin"; fi
done

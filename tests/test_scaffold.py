"""``ttsint new-plugin``: each kind makes a distribution that installs, registers, builds, passes its tests.

One venv holds all four scaffolds (venvs are slow to make); one ``synth`` run chains them in a stack.
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import host_venv
from ttsint._scaffold import KINDS, plugin_names
from ttsint.cli import run

NAMES = {"effect": "hush", "network": "zebra", "vocoder": "buzz", "frontend": "abc"}


def ttsint_cli(*args: str) -> tuple[int, str, str]:
    """Run the real ``ttsint`` CLI in this process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(list(args))
    return code, out.getvalue(), err.getvalue()


@dataclass
class ScaffoldVenv:
    """A venv that sees this environment's packages (ttsint, torch, pytest) plus the four scaffolds."""

    python: Path
    projects: dict[str, Path]

    def env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith(("TTSINT_", "PYTHONPATH"))}

    def run(self, *args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run([str(self.python), *args], capture_output=True, text=True, cwd=cwd,
                              env=self.env(), timeout=900)


@pytest.fixture(scope="module")
def scaffolds(tmp_path_factory: pytest.TempPathFactory) -> ScaffoldVenv:
    root = tmp_path_factory.mktemp("scaffolds")
    projects = {}
    for kind, name in NAMES.items():
        code, out, err = ttsint_cli("new-plugin", name, "--dir", str(root), "--kind", kind)
        assert code == 0, err
        projects[kind] = root / plugin_names(name).distribution
        assert f"wrote {projects[kind]}" in out
    python = host_venv(root / "venv")
    # No network: no index, no dependencies (ttsint and torch come from this environment), and
    # hatchling from this environment instead of an isolated build environment.
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    install = subprocess.run([*pip, "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index",
                              *map(str, projects.values())], capture_output=True, text=True)
    assert install.returncode == 0, install.stderr
    return ScaffoldVenv(python, projects)


def test_every_kind_has_a_scaffold():
    assert set(NAMES) == set(KINDS)


def test_scaffolded_blocks_are_listed_with_their_distribution(scaffolds):
    done = scaffolds.run("-m", "ttsint", "blocks", "--json")
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    for name in ("HushGain", "ZebraDecoder", "BuzzVocoder"):
        dist = "ttsint-" + name.removesuffix("Gain").removesuffix("Decoder").removesuffix("Vocoder").lower()
        assert rows[name]["distribution"] == dist and rows[name]["kind"] == "streamable"
        assert "error" not in rows[name]
    plugins = {r["name"]: r for r in json.loads(scaffolds.run("-m", "ttsint", "plugins", "--json").stdout)}
    assert all(plugins[name]["status"] == "ok" for name in NAMES.values())
    addons = json.loads(scaffolds.run("-m", "ttsint", "addons", "--json").stdout)
    assert [a["distribution"] for a in addons if a["name"] == "zebra"] == ["ttsint-zebra"]


def test_all_four_kinds_build_into_one_stack_and_speak(scaffolds, tmp_path):
    out = tmp_path / "hello.wav"
    done = scaffolds.run(
        "-m", "ttsint", "synth", "Hello from four plugins.", "--addon", "zebra",
        "--set", "frontend.type=abc-letters", "--set", "frontend.symbols=abcdefghijklmnopqrstuvwxyz'",
        "--set", "stack.1.type=HushGain", "--set", "stack.1.db=-3",
        "--set", "stack.2.type=BuzzVocoder", "-o", str(out), "--json",
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["output_kind"] == "waveform"
    symbols = len("hello|from|four|plugins")
    with wave.open(str(out)) as w:
        assert w.getframerate() == 16000 and w.getnframes() == symbols * 4 * 256
    check = scaffolds.run("-m", "ttsint", "check", "zebra", "--set", "stack.1.type=HushGain")
    assert check.returncode == 0, check.stderr
    tree = check.stdout
    assert "ZebraDecoder (decoder, chunk_frames=16, first_chunk_frames=4, context_frames=3) [streamable, " \
        "ttsint-zebra 0.1.0]" in tree
    assert "HushGain (-6 dB) [streamable, ttsint-hush 0.1.0]" in tree


@pytest.mark.parametrize("kind", list(NAMES))
def test_the_scaffolds_own_tests_pass(scaffolds, kind):
    done = scaffolds.run("-m", "pytest", "-q", "-p", "no:cacheprovider", cwd=scaffolds.projects[kind])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert " passed" in done.stdout and "skipped" not in done.stdout


def test_bad_names_kinds_and_existing_directories_are_one_clear_error(tmp_path):
    code, _, err = ttsint_cli("new-plugin", "Two Words", "--dir", str(tmp_path))
    assert code == 1 and "is not a usable plugin name" in err and "Traceback" not in err
    code, _, err = ttsint_cli("new-plugin", "ok", "--dir", str(tmp_path), "--kind", "reverb")
    assert code == 2 and "'reverb' is not one of" in err
    (tmp_path / "ttsint-taken" / "x").mkdir(parents=True)
    code, _, err = ttsint_cli("new-plugin", "taken", "--dir", str(tmp_path))
    assert code == 1 and "already exists and is not empty" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ttsint-taken"]

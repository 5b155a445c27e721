"""Every example in docs/plugins.md runs: ``# file:`` blocks are written out, python and bash blocks run.

Each section (``## ...``) gets a scratch directory holding its file blocks; its other ``python`` and
``bash`` blocks then run there in order, each in a fresh process. ``console`` blocks are not run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import tomllib

DOC = Path(__file__).parent.parent / "docs" / "plugins.md"
FENCE = re.compile(r"^```(\w+)\n(.*?)^```$", re.S | re.M)


def sections() -> dict[str, list[tuple[str, str]]]:
    """(language, code) of each fenced block, by section title."""
    found: dict[str, list[tuple[str, str]]] = {}
    for part in re.split(r"^## ", DOC.read_text(encoding="utf-8"), flags=re.M)[1:]:
        title, _, body = part.partition("\n")
        found[title.strip()] = FENCE.findall(body)
    return found


RUNNABLE = {title: blocks for title, blocks in sections().items()
            if any(lang in ("python", "bash") and not code.startswith("# file:") for lang, code in blocks)}


def test_every_toml_example_parses():
    blocks = [code for found in sections().values() for lang, code in found if lang == "toml"]
    assert len(blocks) >= 2
    for code in blocks:
        tomllib.loads(code)


def test_the_readme_links_the_guide_and_every_kind_has_a_section():
    assert "docs/plugins.md" in (DOC.parent.parent / "README.md").read_text(encoding="utf-8")
    titles = set(sections())
    for title in ["An effect", "A block that runs an addon's network", "A vocoder", "A front end",
                  "An addon shipped as a package", "A CLI command", "Testing a plugin"]:
        assert title in titles and title in RUNNABLE


@pytest.mark.slow  # each example runs in a fresh process, most of them importing torch
@pytest.mark.parametrize("title", list(RUNNABLE))
def test_the_examples_run(title, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("TTSINT_")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    for lang, code in RUNNABLE[title]:
        first, _, rest = code.partition("\n")
        if first.startswith("# file:"):
            path = tmp_path / first.removeprefix("# file:").strip()
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(code if lang == "python" else rest, encoding="utf-8")
            continue
        if lang not in ("python", "bash"):
            continue
        shell = ["bash", "-euo", "pipefail", "-c"] if lang == "bash" else [sys.executable, "-c"]
        done = subprocess.run([*shell, code], cwd=tmp_path, env=env, capture_output=True, text=True,
                              timeout=600)
        assert done.returncode == 0, f"{lang} block in {title!r} failed:\n{code}\n{done.stdout}{done.stderr}"

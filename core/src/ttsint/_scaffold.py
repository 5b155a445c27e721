"""``ttsint new-plugin``: writes a ready plugin distribution (pyproject, package, tests, README)."""

from __future__ import annotations

import re
import string
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ._errors import TTSIntError

if TYPE_CHECKING:  # the CLI imports this module for KINDS: importlib's metadata and resources load on use
    from importlib.resources.abc import Traversable

__all__ = ["KINDS", "PluginNames", "plugin_names", "new_plugin"]

KINDS: dict[str, str] = {
    "effect": "a mel effect block",
    "network": "a block that streams an addon network, and the addon that uses it",
    "vocoder": "a mel-to-waveform vocoder block",
    "frontend": "a text front end",
}
"""What each kind's sample is."""

_USAGE = {
    "effect": """Put the effect after any block that makes mel frames, e.g. on the default voice:

```bash
ttsint synth "Hello world." --set stack.0.streamable_block.stack.2.type=${camel}Gain -o hello.wav
```""",
    "network": """The package ships the `$entry` addon (`src/$package/addon/`), whose stack runs
`${camel}Decoder` on the exported network that `build_network.py` made:

```bash
ttsint check $entry                             # the addon's networks and block tree
ttsint synth "Hello world." --addon $entry -o hello.npy --stats
python build_network.py                         # re-export after changing the model
```""",
    "vocoder": """Use it in place of another vocoder; sample_rate, hop_length and n_mels come from the addon:

```bash
ttsint synth "Hello world." --set stack.1.type=${camel}Vocoder -o hello.wav
```""",
    "frontend": """An addon selects it in its config:

```toml
[frontend]
type = "$entry-letters"
symbols = "abcdefghijklmnopqrstuvwxyz'"
```""",
}

_LAYOUT = {
    "effect": "- `src/$package/effects.py`: `${camel}Gain`, a StreamableBlock.\n",
    "network": ("- `src/$package/decoder.py`: `${camel}Decoder`, a WindowedNetworkBlock subclass.\n"
                "- `src/$package/addon/`: the addon (config and exported network) that uses it.\n"
                "- `build_network.py`: the model, and the torch.export call that writes its `.pt2`.\n"),
    "vocoder": "- `src/$package/vocoder.py`: `${camel}Vocoder`, mel frames in, samples out.\n",
    "frontend": "- `src/$package/frontend.py`: `${camel}Letters`, a Frontend.\n",
}


@dataclass(frozen=True)
class PluginNames:
    """The names one plugin goes by: distribution, import package, entry point, and class-name prefix."""

    distribution: str
    package: str
    entry: str
    camel: str


def plugin_names(name: str) -> PluginNames:
    """``zebra`` (or ``ttsint-zebra``) -> ttsint-zebra, ttsint_zebra, zebra, Zebra."""
    entry = name.strip().lower().removeprefix("ttsint-")
    if not re.fullmatch(r"[a-z][a-z0-9]*(-[a-z0-9]+)*", entry):
        raise TTSIntError(f"new-plugin: {name!r} is not a usable plugin name; use lower-case letters, digits "
                          "and single hyphens, starting with a letter (e.g. 'zebra' or 'reverb-room')")
    return PluginNames(f"ttsint-{entry}", f"ttsint_{entry.replace('-', '_')}", entry,
                       "".join(part.capitalize() for part in entry.split("-")))


def new_plugin(name: str, directory: str | Path = ".", kind: str = "effect", *, build: bool = True) -> Path:
    """Write the distribution to ``directory/ttsint-NAME`` and return that path.

    For the ``network`` kind, ``build`` runs the scaffold's ``build_network.py`` so the addon's
    exported network exists (it needs torch; without it, run the script yourself later).
    """
    if kind not in KINDS:
        raise TTSIntError(f"new-plugin: unknown kind {kind!r}; choose one of {', '.join(KINDS)}")
    names = plugin_names(name)
    target = Path(directory) / names.distribution
    if target.exists() and any(target.iterdir()):
        raise TTSIntError(f"new-plugin: {target} already exists and is not empty; choose another --dir or "
                          "remove it")
    values = {**vars(names), "kind": kind, "description": f"A ttsint plugin: {KINDS[kind]}.",
              "ttsint_version": _minor_version()}
    values["usage"] = string.Template(_USAGE[kind]).substitute(values)
    values["layout"] = string.Template(_LAYOUT[kind]).substitute(values)
    from importlib import resources

    templates = resources.files("ttsint") / "templates"
    for source in (templates / "common", templates / kind):
        _copy_tree(source, target, values)
    if kind == "network" and build:
        done = subprocess.run([sys.executable, "build_network.py"], cwd=target, capture_output=True,
                              text=True)
        if done.returncode != 0:
            raise TTSIntError(f"new-plugin: {target / 'build_network.py'} failed to export the network:\n"
                              f"{done.stderr.strip()[-2000:]}")
    return target


def _minor_version() -> str:
    """This ttsint's "major.minor", the lowest version a new plugin asks for."""
    from importlib import metadata

    try:
        return ".".join(metadata.version("ttsint").split(".")[:2])
    except metadata.PackageNotFoundError:
        return "0.1"


def _copy_tree(source: Traversable, target: Path, values: dict[str, str]) -> None:
    """Copy templates, substituting ``$name`` placeholders in file contents and ``__package__`` in paths."""
    for item in source.iterdir():
        if item.name == "__pycache__":
            continue
        name = item.name.replace("__package__", values["package"]).removesuffix(".tmpl")
        if item.is_dir():
            _copy_tree(item, target / name, values)
            continue
        target.mkdir(parents=True, exist_ok=True)
        text = string.Template(item.read_text(encoding="utf-8")).substitute(values)
        (target / name).write_text(text, encoding="utf-8")

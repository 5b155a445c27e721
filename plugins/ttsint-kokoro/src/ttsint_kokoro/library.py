"""Where Kokoro voices live: one ordinary addon folder per voice pack, written by ``ttsint kokoro import``.

The library is ``$TTSINT_KOKORO_DIR``, else ``$XDG_DATA_HOME/ttsint/kokoro``
(``~/.local/share/ttsint/kokoro``).
Each ``kokoro-<pack>`` folder holds ``addon.toml`` and the pack; the model is named, not copied, when it
is the installed PyPI parts. A voice mix (``kokoro-af_heart*0.7+am_michael*0.3``) becomes an addon folder
in the cache the first time it is named. This module imports nothing heavy: the addon hook lists the
library on every ``ttsint`` start.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from ttsint import AddonError

__all__ = ["PREFIX", "library_dir", "installed", "addon_toml", "write_voice", "resolve_mix",
           "import_voices"]

PREFIX = "kokoro-"


def library_dir() -> Path:
    env = os.environ.get("TTSINT_KOKORO_DIR")
    if env:
        return Path(env).expanduser()
    data = os.environ.get("XDG_DATA_HOME")
    return (Path(data).expanduser() if data else Path.home() / ".local" / "share") / "ttsint" / "kokoro"


def installed(root: Path | None = None) -> dict[str, Path]:
    """Voice addon folders in the library, by addon name (``kokoro-<pack>``)."""
    root = root or library_dir()
    try:
        entries = sorted(root.iterdir())
    except OSError:
        return {}
    return {e.name: e for e in entries if e.name.startswith(PREFIX) and (e / "addon.toml").is_file()}


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def addon_toml(name: str, language: str, model: str, voices: list[tuple[str, float]],
               model_sha256: str | None = None, description: str = "") -> str:
    """The addon.toml of one Kokoro voice (a pack, or a mix of packs)."""
    voice_list = ", ".join(f"{{ file = {_quote(f)}, weight = {w!r} }}" for f, w in voices)
    sha = f"model_sha256 = {_quote(model_sha256)}\n" if model_sha256 else ""
    return f"""# A Kokoro-82M voice, written by ttsint-kokoro; `ttsint kokoro import` makes these.
name = {_quote(name)}
version = "1.0.0"
description = {_quote(description or f"Kokoro-82M (StyleTTS 2 + iSTFTNet, int8), voice {name[len(PREFIX):]}")}
license = "Apache-2.0"
sample_rate = 24000
hop_length = 600  # samples per duration frame
n_mels = 80  # Kokoro makes audio directly; core requires the key

[frontend]
type = "kokoro-espeak"
language = {_quote(language)}

[segments]
max_symbols = 512  # 510 phoneme tokens and two pads per network call

[kokoro]
model = {_quote(model)}
{sha}voices = [{voice_list}]

[[stack]]
type = "StreamablePipeline"
sequence_block = {{ type = "KokoroNetwork" }}
streamable_block = {{ type = "KokoroAudio" }}
"""


def _language(pack: str) -> str | None:
    from .voices import LANGUAGES

    return LANGUAGES.get(pack[:1])


def write_voice(root: Path, pack: str, array: Any, model: str, model_sha256: str | None = None) -> Path:
    """Write the addon folder ``root/kokoro-<pack>`` for one pack (the pack as raw float32 ``.bin``)."""
    language = _language(pack)
    if language is None:
        raise AddonError(f"voice pack {pack!r}: its first letter names no language espeak-ng speaks here")
    folder = root / f"{PREFIX}{pack}"
    folder.mkdir(parents=True, exist_ok=True)
    array.astype("<f4").tofile(folder / f"{pack}.bin")
    (folder / "addon.toml").write_text(addon_toml(folder.name, language, model, [(f"{pack}.bin", 1.0)],
                                                  model_sha256), encoding="utf-8")
    return folder


def resolve_mix(name: str, registered: dict[str, Path]) -> Path | None:
    """The addon folder for a mix name ``kokoro-A+B`` / ``kokoro-A*0.7+B*0.3`` (written on first use).

    None when ``name`` is not a Kokoro mix; an AddonError for a mix that names an unknown pack or has
    a weight that is not positive.
    """
    if not name.startswith(PREFIX) or ("+" not in name and "*" not in name):
        return None
    from ttsint import default_cache_dir

    from .voices import parse_mix

    mix = parse_mix(name[len(PREFIX):])
    sources = []
    for pack in mix.packs:
        folder = registered.get(PREFIX + pack)
        if folder is None:
            known = sorted(n[len(PREFIX):] for n in registered)
            raise AddonError(f"voice mix {name!r} names the pack {pack!r}, which is not installed "
                             f"(installed: {', '.join(known) or 'none'}); add packs with "
                             "ttsint kokoro import parts VOICES")
        sources.append(folder)
    first = _read_kokoro(sources[0])
    voices = []
    for folder, weight in zip(sources, mix.weights, strict=True):
        table = _read_kokoro(folder)
        voices += [(str((folder / v["file"]).resolve()), w * weight)
                   for v, w in zip(table["voices"], _normalised(table["voices"]), strict=True)]
    key = hashlib.sha256(repr((name, voices, first.get("model"))).encode()).hexdigest()[:16]
    folder = default_cache_dir() / "kokoro" / "mixes" / key
    model = first.get("model", "parts")
    if model != "parts" and not Path(model).is_absolute():
        model = str((sources[0] / model).resolve())
    parts = ", ".join(f"{p} {w:.0%}" for p, w in zip(mix.packs, mix.weights, strict=True))
    text = addon_toml(name, first["_language"], model, voices, first.get("model_sha256"),
                      f"Kokoro-82M, a mix of {parts}")
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "addon.toml"
    if not config.is_file() or config.read_text(encoding="utf-8") != text:
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".addon-")
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, config)
    return folder


def _normalised(voices: list[dict[str, Any]]) -> list[float]:
    weights = [float(v.get("weight", 1.0)) for v in voices]
    return [w / sum(weights) for w in weights]


def _read_kokoro(folder: Path) -> dict[str, Any]:
    import tomllib

    config = tomllib.loads((folder / "addon.toml").read_text(encoding="utf-8"))
    table = dict(config.get("kokoro", {}))
    table["_language"] = config.get("frontend", {}).get("language", "en-us")
    return table


# -- import --------------------------------------------------------------------------------

def _packs_from(source: Path) -> dict[str, Any]:
    """Every pack in ``source``: a voices .bin/.npz/.npy, a folder of them, or kokoro-js's npm tarball."""
    from .voices import read_packs

    if not source.exists():
        raise AddonError(f"the voices {source} do not exist; give a voices file (.bin, .npz, .npy), a "
                         "folder of .bin packs, or kokoro-js's npm tarball (.tgz)")
    if source.is_dir():
        files = sorted(p for p in source.iterdir() if p.suffix in (".bin", ".npy", ".npz") and p.is_file())
        if not files:
            raise AddonError(f"{source} holds no voice packs (.bin, .npy or .npz files)")
        packs: dict[str, Any] = {}
        for file in files:
            packs.update(read_packs(file))
        return packs
    if source.name.endswith((".tgz", ".tar.gz")):
        with tempfile.TemporaryDirectory() as tmp:
            try:
                with tarfile.open(source) as tar:
                    members = [m for m in tar.getmembers() if m.isfile()
                               and re.fullmatch(r"package/voices/[A-Za-z0-9_]+\.bin", m.name)
                               and m.size < (1 << 22)]
                    if not members:
                        raise AddonError(f"{source} has no package/voices/*.bin: not the kokoro-js tarball")
                    tar.extractall(tmp, members=members, filter="data")
            except (tarfile.TarError, OSError) as exc:
                raise AddonError(f"{source}: not a readable tarball ({exc})") from None
            return _packs_from(Path(tmp) / "package" / "voices")
    return read_packs(source)


def _model_from(source: str, out: Path) -> tuple[str, str | None]:
    """Check the model and return (the addon's ``model`` value, its sha256) for voices written to ``out``."""
    from .model import MODEL_SHA256, assemble_parts, int8_form, part_files, timed_model

    if source == "parts":
        part_files()  # a missing part is reported now, not at the first sentence
        int8_form(timed_model("parts"))  # the form int8 runs here, made now rather than at the first load
        return "parts", None
    path = Path(source)
    target = out / "kokoro-model.onnx"
    if path.is_dir():
        parts = sorted(path.rglob("part*.bin"))
        if not parts:
            raise AddonError(f"{path} holds no part*.bin files; give the folder that holds the model's "
                              "parts, "
                             "an .onnx file, or 'parts' for the installed PyPI parts")
        out.mkdir(parents=True, exist_ok=True)
        assemble_parts(parts, target, MODEL_SHA256)
    elif path.is_file():
        if path.resolve() != target.resolve():
            out.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    else:
        raise AddonError(f"the model {path} does not exist; give an .onnx file, a folder of its parts, "
                         "or 'parts' for the installed PyPI parts")
    from ttsint import file_sha256

    sha = file_sha256(target)
    int8_form(timed_model(target, sha))  # checks the graph; caches the timed copy and the form int8 runs
    return "../kokoro-model.onnx", sha


def import_voices(model: str, voices: Path, out: Path | None = None) -> tuple[list[Path], list[str]]:
    """Write one addon folder per pack in ``voices`` to ``out`` (the library by default).

    Returns the folders written and the packs skipped (no espeak-ng language for them).
    """
    out = out or library_dir()
    packs = _packs_from(Path(voices))
    value, sha = _model_from(model, out)
    written, skipped = [], []
    for pack, array in sorted(packs.items()):
        if _language(pack) is None:
            skipped.append(pack)
            continue
        written.append(write_voice(out, pack, array, value, sha))
    return written, skipped

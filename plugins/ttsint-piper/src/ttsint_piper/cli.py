"""``ttsint piper``: import a Piper voice file as an addon folder."""

from __future__ import annotations

from pathlib import Path

import click


@click.group()
def piper() -> None:
    """Piper voices (VITS .onnx + .onnx.json) as ttsint addons."""


@piper.command("import")
@click.argument("model", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--output",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Addon folder to write (default: ./VOICE).",
)
@click.option("--name", default=None, help="Addon name (default: the model's file name without .onnx).")
@click.option("--force", is_flag=True, help="Write into a non-empty folder.")
def import_command(model: Path, out_dir: Path | None, name: str | None, force: bool) -> None:
    """Split VOICE.onnx (with VOICE.onnx.json beside it) into an addon: encoder, flow, decoder, addon.toml."""
    from .importer import import_voice

    report = import_voice(model, out_dir, name=name, force=force)
    click.echo(
        f"imported {report.name} into {report.directory}: {report.sample_rate} Hz, "
        f"{report.hop_length} samples per frame, decoder receptive field {report.receptive_field} frames"
    )
    click.echo(f"  ttsint synth --addon {report.directory} 'Hello there.' -o hello.wav")

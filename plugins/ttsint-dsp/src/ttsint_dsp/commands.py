"""`ttsint plot`: draw the mel spectrogram of a .npy file, or of text as an addon's stack makes it."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click
import ttsint

if TYPE_CHECKING:
    import numpy as np

# numpy, torch and matplotlib load inside the command: `ttsint --help` imports this module.

__all__ = ["plot", "text_mel"]


def text_mel(
    text: str, addon: str | None = None, sets: Sequence[str] = ()
) -> tuple[np.ndarray, ttsint.Addon]:
    """The mel an addon's stack makes for ``text``; with a vocoder in the stack, the mel that feeds it."""
    from .vocoders import mel_input

    overrides = dict(ttsint.parse_override(s) for s in sets)
    voice = ttsint.Voice.load(addon or ttsint.default_addon(), overrides)
    block = mel_input(voice.block) or voice.block
    if block is voice.block and voice.output_kind == "waveform":
        raise ttsint.TTSIntError(
            "the stack makes a waveform and no ttsint-dsp Vocoder in it says where the "
            "mel is; plot a .npy mel instead"
        )
    frames = ttsint.concat_chunks(block.stream(voice.encode(text), None))
    return frames.detach().cpu().numpy(), voice.addon


@click.command()
@click.argument("source")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="Image to write (.png).")
@click.option(
    "--addon",
    "addon_name",
    metavar="NAME|PATH",
    help="Addon that speaks TEXT, or whose sample_rate and hop_length time a .npy mel.",
)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override an addon config value.")
@click.option("--sample-rate", type=int, help="For a .npy mel without --addon (default 16000).")
@click.option("--hop-length", type=int, help="For a .npy mel without --addon (default 256).")
@click.option("--title", help="Plot title.")
def plot(
    source: str,
    output: str,
    addon_name: str | None,
    sets: Sequence[str],
    sample_rate: int | None,
    hop_length: int | None,
    title: str | None,
) -> None:
    """Render a mel spectrogram to OUTPUT: SOURCE is a .npy of frames [T, n_mels], or text to speak."""
    import numpy as np

    from .mel import MelSpec
    from .plot import plot_mel

    if source.lower().endswith(".npy"):
        path = Path(source)
        if not path.is_file():
            raise ttsint.TTSIntError(f"{source}: no such .npy file")
        mel = np.load(path)
        if mel.ndim != 2 or mel.shape[1] < 2:
            raise ttsint.TTSIntError(f"{source}: expected mel frames [T, n_mels], got shape {mel.shape}")
        defaults = MelSpec()
        if addon_name:
            addon = ttsint.load_addon(addon_name, dict(ttsint.parse_override(s) for s in sets))
            defaults = MelSpec(sample_rate=addon.sample_rate, hop_length=addon.hop_length)
        rate = sample_rate or defaults.sample_rate
        hop = hop_length or defaults.hop_length
        heading = title or f"{path.name}: {mel.shape[0]} frames x {mel.shape[1]} mel bins"
    else:
        mel, addon = text_mel(source, addon_name, sets)
        rate, hop = addon.sample_rate, addon.hop_length
        quoted = source if len(source) <= 50 else source[:47] + "..."
        heading = (
            title or f"{addon.name}: \u201c{quoted}\u201d ({mel.shape[0]} frames x {mel.shape[1]} mel bins)"
        )
    plot_mel(mel, output, sample_rate=rate, hop_length=hop, title=heading)
    click.echo(f"wrote {output}", err=True)

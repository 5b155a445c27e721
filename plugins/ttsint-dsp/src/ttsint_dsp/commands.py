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

__all__ = ["plot", "text_mel", "read_frames"]

#: Image formats `ttsint plot` and `ttsint synth --plot` draw (the plotters this plugin registers).
FORMATS = (".png", ".svg", ".pdf")


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
    return ttsint.to_numpy(frames), voice.addon


def read_frames(path: Path, label: str) -> np.ndarray:
    """A .npy that ``ttsint synth -o`` writes, as real numbers [T, C]; a TTSIntError naming it otherwise.

    Nothing in it is unpickled: object arrays and damaged files are refused with one line saying why.
    """
    import numpy as np

    if not path.is_file():
        raise ttsint.TTSIntError(f"{label}: no such .npy file")
    with open(path, "rb") as handle:
        if handle.read(6) != b"\x93NUMPY":
            raise ttsint.TTSIntError(f"{label}: not a .npy file (it does not start with numpy's header); "
                                     "give a .npy of frames written by `ttsint synth -o x.npy` or numpy.save")
    try:
        data = np.load(path, allow_pickle=False)
    except ValueError as exc:
        why = ("it holds Python objects, not numbers" if "allow_pickle" in str(exc)
               else f"it is not a readable .npy array ({exc})")
        raise ttsint.TTSIntError(f"{label}: {why}; give a .npy of frames written by `ttsint synth -o x.npy` "
                                 "or numpy.save") from None
    except (OSError, EOFError) as exc:
        raise ttsint.TTSIntError(
            f"{label}: cannot read it as .npy ({exc}); the file may be truncated"
        ) from None
    if not isinstance(data, np.ndarray) or data.dtype.kind not in "fiub":
        kind = getattr(data, "dtype", type(data).__name__)
        raise ttsint.TTSIntError(f"{label}: holds {kind} values; expected real numbers (mel frames "
                                 "[T, n_mels] or a waveform [N, 1])")
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2 or data.shape[0] == 0 or data.shape[1] == 0:
        raise ttsint.TTSIntError(f"{label}: expected mel frames [T, n_mels] or a waveform [N, 1], got shape "
                                 f"{list(data.shape)}")
    return data.astype(np.float32, copy=False)


def _positive(flag: str, value: int | None) -> int | None:
    if value is not None and value < 1:
        raise ttsint.ConfigError(flag, f"expected a positive number of samples, got {value}",
                                 f"leave {flag} out to take it from --addon (or the default)")
    return value


@click.command()
@click.argument("source")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False),
              help=f"Image to write: {', '.join(FORMATS)}.")
@click.option(
    "--addon",
    "addon_name",
    metavar="NAME|PATH",
    help="Addon that speaks TEXT, or whose sample_rate and hop_length time a .npy.",
)
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="Override an addon config value.")
@click.option("--sample-rate", type=int, help="For a .npy without --addon (default 16000).")
@click.option("--hop-length", type=int, help="For a .npy without --addon (default 256).")
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
    """Draw a mel spectrogram to OUTPUT. SOURCE is a .npy that `ttsint synth -o` writes (mel frames
    [T, n_mels] are drawn as they are; a waveform [N, 1] is drawn as its log-mel), or text to speak."""
    import numpy as np
    import torch

    from .mel import MelSpec, log_mel
    from .plot import plot_mel

    ttsint.check_output_path(output, "-o")
    suffix = Path(output).suffix.lower()
    if suffix not in FORMATS:
        raise ttsint.ConfigError("-o", f"cannot draw {suffix or 'a file without an extension'!r} images",
                                 f"name a {', '.join(FORMATS[:-1])} or {FORMATS[-1]} file")
    rate_option, hop_option = _positive("--sample-rate", sample_rate), _positive("--hop-length", hop_length)
    if addon_name is not None and not addon_name.strip():
        raise ttsint.ConfigError("--addon", "the addon name is empty",
                                 "name an addon (`ttsint voices` lists them) or leave --addon out")
    try:
        source.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ttsint.ConfigError("SOURCE", f"is not valid UTF-8 (character {exc.start})",
                                 "pass the text as UTF-8, or in a file") from None
    if source.lower().endswith(".npy"):
        path = Path(source)
        frames = read_frames(path, source)
        defaults = MelSpec()
        if addon_name:
            addon = ttsint.load_addon(addon_name, dict(ttsint.parse_override(s) for s in sets))
            defaults = MelSpec.from_config(addon.config)
        spec = MelSpec(**{**defaults.__dict__, "sample_rate": rate_option or defaults.sample_rate,
                          "hop_length": hop_option or defaults.hop_length})
        if frames.shape[1] == 1:  # a waveform, as synth writes it for a stack that ends in a vocoder
            if frames.shape[0] < spec.n_fft:
                raise ttsint.TTSIntError(f"{source}: a waveform of {frames.shape[0]} samples is shorter than "
                                         f"one analysis window ({spec.n_fft} samples)")
            mel = log_mel(torch.from_numpy(np.ascontiguousarray(frames[:, 0])), spec).numpy()
            what = f"log-mel of {frames.shape[0]} waveform samples"
        else:
            mel, what = frames, "mel bins"
        heading = title or f"{path.name}: {mel.shape[0]} frames x {mel.shape[1]} {what}"
        rate, hop = spec.sample_rate, spec.hop_length
    else:
        mel, addon = text_mel(source, addon_name, sets)
        rate, hop = addon.sample_rate, addon.hop_length
        quoted = source if len(source) <= 50 else source[:47] + "..."
        heading = (
            title or f"{addon.name}: \u201c{quoted}\u201d ({mel.shape[0]} frames x {mel.shape[1]} mel bins)"
        )
    plot_mel(mel, output, sample_rate=rate, hop_length=hop, title=heading)
    click.echo(f"wrote {output}", err=True)

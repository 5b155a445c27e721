"""Renders a mel spectrogram to an image on matplotlib's Agg canvas (no display, no backend switch)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import torch

__all__ = ["plot_mel"]


def plot_mel(
    mel: np.ndarray | torch.Tensor,
    path: str | Path,
    *,
    sample_rate: int,
    hop_length: int,
    title: str | None = None,
) -> Path:
    """Draw mel frames [T, n_mels] against time in seconds and mel bin, with a colorbar; write PNG (or any
    format matplotlib knows from the suffix) to ``path``.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    data = mel.detach().cpu().numpy() if isinstance(mel, torch.Tensor) else np.asarray(mel)
    if data.ndim != 2 or data.shape[0] == 0:
        raise ValueError(f"expected mel frames [T, n_mels], got shape {data.shape}")
    frames, bins = data.shape
    seconds = frames * hop_length / sample_rate
    fig = Figure(figsize=(min(16.0, max(6.0, frames / 40)), 4.0), layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    image = ax.imshow(
        np.ma.masked_invalid(data.T),
        origin="lower",
        aspect="auto",
        cmap="magma",
        interpolation="nearest",
        extent=(0.0, seconds, -0.5, bins - 0.5),
    )
    ax.set_xlabel("Time (s)")
    ax.set_ylabel("Mel bin")
    heading = title or f"Mel spectrogram: {frames} frames x {bins} bins, hop {hop_length} @ {sample_rate} Hz"
    # Wrap long titles (quoted text) so they stay inside the figure.
    ax.set_title(textwrap.fill(heading, width=max(40, int(fig.get_figwidth() * 9))), fontsize=10)
    fig.colorbar(image, ax=ax, label="log magnitude")
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    return out

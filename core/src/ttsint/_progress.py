"""One updating line on a terminal while ``ttsint synth`` works: sentences done, audio made, real-time factor.

tqdm draws it (a 28 ms import with no dependencies, imported only when the line is shown); it is shown
only when standard error is a terminal and ``--quiet`` is not given.
"""

from __future__ import annotations

import re
import time
from typing import Any, TextIO

__all__ = ["ProgressLine", "count_sentences"]

_SENTENCE_END = re.compile(r"[.!?\u2026\u3002]+[\"')\]\u201d\u2019]*(?=\s|$)")


def count_sentences(text: str) -> int:
    """About how many sentences ``text`` holds, counted by their end punctuation (cheap on any length).

    The front end's own split may differ (long sentences are cut to fit a network); the line's total
    grows when it does.
    """
    return max(1, len(_SENTENCE_END.findall(text.rstrip() + ("" if text.rstrip()[-1:] in ".!?" else "."))))


class ProgressLine:
    """Called as ``line(started, audio_seconds, elapsed_seconds)`` for each chunk; redraws at most 5 times
    a second. ``close()`` clears it, so that what follows (errors, ``wrote ...``) starts a clean line."""

    def __init__(self, sentences: int, stream: TextIO, min_interval: float = 0.2) -> None:
        from tqdm import tqdm

        self.bar: Any = tqdm(total=sentences, file=stream, leave=False, dynamic_ncols=True,
                             bar_format="{n_fmt}/{total_fmt} sentences |{bar}| {desc}")
        self.min_interval = min_interval
        self._last = 0.0
        self.bar.set_description_str("loading the voice", refresh=True)

    def __call__(self, started: int, audio_seconds: float, elapsed: float) -> None:
        now = time.monotonic()
        if now - self._last < self.min_interval:
            return
        self._last = now
        self.bar.total = max(self.bar.total, started)
        self.bar.n = max(0, started - 1)  # the sentence being spoken is not done yet
        rtf = f"{elapsed / audio_seconds:.2f}" if audio_seconds > 0 else "-"
        self.bar.set_description_str(f"{audio_seconds:.1f} s of audio, real-time factor {rtf}", refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()

"""Segmentation: text of any length becomes sentences, each short enough for the addon's networks.

Sentences are found lazily, a window of text at a time, so the first one is ready after the same
work whatever the length of the text. A sentence whose symbols exceed the limit is cut at the last
clause boundary that fits, else at the last word boundary that fits, until every piece fits.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sentencex

from ._data import Utterance
from ._errors import ConfigError, FrontendError

__all__ = ["SegmentSettings", "normalize_space", "segment_settings", "split_sentences", "segment_text",
           "symbol_bound"]

WINDOW_CHARS = 4000
"""Characters handed to the sentence splitter at a time; a longer sentence widens the window."""

_SPEAKABLE = re.compile(r"\w")
_CLAUSE_END = re.compile(r"[,;:)\]]+[\"']?\s+|\s+(?=[-\u2013\u2014(\[]\s?)")
_SPACE = re.compile(r"\s+")


def normalize_space(text: str) -> str:
    """The text with every run of whitespace made one space and the ends trimmed: what segments rejoin to."""
    return " ".join(text.split())


def split_sentences(text: str, language: str = "en", window: int = WINDOW_CHARS) -> Iterator[str]:
    """Yield the sentences of ``text`` (whitespace-normalised), reading it ``window`` characters at a time.

    Pieces with no letter or digit (a stray quote, an ellipsis) join the sentence before them, and
    a boundary the splitter puts inside a word is ignored, so the sentences rejoin with single
    spaces to ``normalize_space(text)``.
    """
    pos, size, pending = 0, window, ""
    while pos < len(text):
        end = min(len(text), pos + size)
        if end < len(text):  # do not cut a word in two at the window's edge
            space = max(text.rfind(" ", pos, end), text.rfind("\n", pos, end))
            end = space + 1 if space > pos else end
        cuts = _boundaries(text[pos:end], language)
        last_window = end >= len(text)
        # Trust a boundary only with a whole sentence after it: the splitter needs right context.
        keep = [*cuts, end - pos] if last_window else cuts[:-1]
        if not keep:
            size *= 2  # one sentence longer than the window: read more before deciding where it ends
            continue
        prev = 0
        for cut in keep:
            piece = normalize_space(text[pos + prev:pos + cut])
            prev = cut
            if not piece:
                continue
            if pending and not _SPEAKABLE.search(piece):
                pending += " " + piece
            elif pending and _SPEAKABLE.search(pending):
                yield pending
                pending = piece
            else:
                pending = f"{pending} {piece}".strip()
        pos += prev
        size = window
    if pending:
        yield pending


def _boundaries(text: str, language: str) -> list[int]:
    """Offsets in ``text`` where a sentence ends and whitespace follows (never inside a word)."""
    sentences = list(sentencex.segment(language, text))
    if "".join(sentences) != text:  # offsets would not line up: treat the window as one piece
        return []
    cuts, offset = [], 0
    for sentence in sentences:
        offset += len(sentence)
        if 0 < offset < len(text) and (text[offset - 1].isspace() or text[offset].isspace()):
            cuts.append(offset)
    return cuts


@dataclass(frozen=True)
class SegmentSettings:
    """An addon's ``[segments]`` table: the symbol limit per segment, its source, and the pause between."""

    max_symbols: int | None
    source: str
    pause: float


def symbol_bound(addon: Any) -> tuple[int, str] | None:
    """The largest symbol count every encoder network of ``addon`` (a ``ttsint.Addon``) accepts.

    Read from the exports' shape bounds. The addon is not typed here: _addon.py depends on this module.
    """
    bounds = []
    for net in addon.networks_with_role("encoder"):
        if "symbols" not in net.inputs:
            continue
        # Read from the serialized export when it recorded one, without deserializing the network.
        if getattr(net, "specs", None) is not None:
            upper = net.upper_bound("symbols", 1)
        elif Path(net.path).suffix == ".onnx":
            upper = None  # an ONNX graph records no bound (and reading a torch module would need one)
        else:
            upper = _dynamic_upper_bound(net.module, net.inputs.index("symbols"))
        if upper is not None:
            bounds.append((upper, f"the export bound of networks.{net.name}"))
    return min(bounds) if bounds else None


def _dynamic_upper_bound(module: Any, index: int) -> int | None:
    """The upper bound torch.export recorded for the time dimension of input ``index``, if any."""
    graph = getattr(module, "graph", None)
    placeholders = [n for n in getattr(graph, "nodes", []) if getattr(n, "op", None) == "placeholder"]
    if index >= len(placeholders):
        return None
    val = placeholders[index].meta.get("val")
    shape = getattr(val, "shape", None)
    if shape is None or len(shape) < 2:
        return None
    dim = shape[1]
    node = getattr(dim, "node", None)
    env = getattr(node, "shape_env", None)
    if env is None:
        return None
    try:
        upper = env.bound_sympy(node.expr).upper
        return int(upper) if upper.is_finite else None
    except (AttributeError, TypeError, ValueError):
        return None


def segment_settings(addon: Any) -> SegmentSettings:
    """Read and check the addon's ``[segments]`` table; without ``max_symbols``, use the networks' bound."""
    table = addon.config.get("segments", {})
    if not isinstance(table, dict):
        raise ConfigError("segments", f"expected a table, got {table!r}", source=str(addon.path))
    unknown = sorted(set(table) - {"max_symbols", "pause"})
    if unknown:
        raise ConfigError(f"segments.{unknown[0]}", "unknown key", "accepted: max_symbols, pause",
                          source=str(addon.path))
    pause = table.get("pause", 0.25)
    if isinstance(pause, bool) or not isinstance(pause, (int, float)) or not 0 <= pause <= 10:
        raise ConfigError("segments.pause", f"expected seconds between 0 and 10, got {pause!r}",
                          source=str(addon.path))
    declared = table.get("max_symbols")
    if declared is not None:
        if isinstance(declared, bool) or not isinstance(declared, int) or declared < 1:
            raise ConfigError("segments.max_symbols", f"expected a positive integer, got {declared!r}",
                              source=str(addon.path))
        return SegmentSettings(declared, "segments.max_symbols", float(pause))
    bound = symbol_bound(addon)
    if bound is None:
        return SegmentSettings(None, "no limit declared", float(pause))
    return SegmentSettings(bound[0], bound[1], float(pause))


def segment_text(
    text: str,
    encode: Callable[[str], Utterance],
    max_symbols: int | None = None,
    *,
    source: str = "segments.max_symbols",
    language: str = "en",
) -> Iterator[tuple[str, Utterance]]:
    """Yield (segment text, its utterance) for each sentence, splitting any whose symbols exceed the limit.

    ``encode`` is the front end. Raises FrontendError when there is nothing to say, or when a
    single word alone makes more than ``max_symbols`` symbols (named with ``source``).
    """
    if not _SPEAKABLE.search(text):
        raise FrontendError(f"nothing to say: {text[:60]!r} has no letters or digits" if text.strip()
                            else "nothing to say: the text is empty")
    for sentence in split_sentences(text, language):
        yield from _fit(sentence, encode(sentence), encode, max_symbols, source)


def _fit(text: str, utt: Utterance, encode: Callable[[str], Utterance], limit: int | None,
         source: str) -> Iterator[tuple[str, Utterance]]:
    count = int(utt["symbols"].shape[0])
    while limit is not None and count > limit:
        cut = _cut(text, len(text) * limit / count)
        if cut is None:
            raise FrontendError(
                f"the word {text[:40]!r}{'...' if len(text) > 40 else ''} makes {count} symbols, and this "
                f"voice takes at most {limit} symbols per segment ({source}); no split between words can "
                "make it fit: break it up with spaces or punctuation")
        head = text[:cut].rstrip()
        yield from _fit(head, encode(head), encode, limit, source)  # splits again if the estimate was high
        text = text[cut:].lstrip()
        utt = encode(text)
        count = int(utt["symbols"].shape[0])
    yield text, utt


def _cut(text: str, budget: float) -> int | None:
    """Where to end the first piece: the last clause boundary within ``budget`` characters when it
    keeps at least half of them, else the last word boundary within it (or the first one at all)."""
    def cuts(pattern: re.Pattern[str]) -> list[int]:
        found = [m.end() for m in pattern.finditer(text) if 0 < m.start() and m.end() < len(text)]
        return [c for c in found if _SPEAKABLE.search(text[:c]) and _SPEAKABLE.search(text[c:])]

    clauses = [c for c in cuts(_CLAUSE_END) if c <= budget]
    if clauses and clauses[-1] >= budget / 2:
        return clauses[-1]
    words = cuts(_SPACE)
    within = [c for c in words if c <= budget]
    return within[-1] if within else words[0] if words else None

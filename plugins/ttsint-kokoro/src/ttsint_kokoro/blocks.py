"""The blocks that run Kokoro: the network per sentence (a SequenceBlock), its audio out in chunks.

Kokoro's decoder is not windowed here: per sentence, the network runs whole (``KokoroNetwork``), and
``KokoroAudio`` streams its samples. Streaming is per sentence, the next sentence prepared while this
one plays (benchmarks/RESULTS.md has the figures that decided it). Both take and give NumPy arrays
(``arrays = "numpy"``): the network runs in ONNX Runtime, so a Kokoro voice never imports torch.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from ttsint import (
    AddonError,
    BuildContext,
    Chunk,
    ConfigError,
    ParameterError,
    Range,
    SequenceBlock,
    StreamableBlock,
    StreamError,
    Utterance,
)

from .model import (
    HOP,
    MAX_TOKENS,
    KokoroSession,
    SessionSettings,
    float_model,
    get_session,
    int8_form,
    timed_model,
)
from .voices import load_pack, mix_packs, style_for

__all__ = ["KokoroNetwork", "KokoroAudio", "addon_voice", "addon_model"]


def addon_model(addon: Any) -> Path:
    """The timed model an addon's ``[kokoro]`` table names: ``model = "parts"`` or a file path."""
    table = _table(addon)
    model = table.get("model", "parts")
    if not isinstance(model, str):
        raise ConfigError("kokoro.model", f"expected \"parts\" or a path to an .onnx file, got {model!r}",
                          source=str(addon.path))
    if model == "parts":
        return timed_model("parts")
    path = Path(model)
    path = path if path.is_absolute() else addon.path / path
    sha = table.get("model_sha256")
    return timed_model(path, sha if isinstance(sha, str) else None)


def addon_voice(addon: Any) -> np.ndarray:
    """The voice pack of an addon: ``voices = [{file, weight}, ...]`` in ``[kokoro]``, mixed."""
    table = _table(addon)
    voices = table.get("voices")
    if not isinstance(voices, list) or not voices or not all(isinstance(v, dict) for v in voices):
        raise ConfigError("kokoro.voices", "expected a list of {file = PATH, weight = NUMBER} tables",
                          source=str(addon.path))
    packs, weights = [], []
    for i, voice in enumerate(voices):
        file, weight = voice.get("file"), voice.get("weight", 1.0)
        if not isinstance(file, str):
            raise ConfigError(f"kokoro.voices[{i}].file", "expected a path to a voice pack",
                              source=str(addon.path))
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not weight > 0:
            raise ConfigError(f"kokoro.voices[{i}].weight", f"expected a positive number, got {weight!r}",
                              source=str(addon.path))
        path = Path(file) if Path(file).is_absolute() else addon.path / file
        packs.append(load_pack(path))
        weights.append(float(weight))
    total = sum(weights)
    return mix_packs(packs, tuple(w / total for w in weights))


def _table(addon: Any) -> dict[str, Any]:
    if addon is None:
        raise AddonError("the Kokoro blocks run a Kokoro addon's network; load one (ttsint addons lists "
                         "the kokoro-* voices)")
    table = addon.config.get("kokoro")
    if not isinstance(table, dict):
        raise ConfigError("kokoro", "missing: a Kokoro addon names its model and voices in [kokoro]",
                          source=str(addon.path))
    return table


class KokoroNetwork(SequenceBlock):
    """Runs the whole Kokoro network on one sentence: ``symbols`` in, ``audio`` and ``durations`` out.

    The style row is chosen by the sentence's token count, as Kokoro's reference does. One ONNX Runtime
    session serves every voice and stream in the process, warmed up when the first voice loads.
    ``precision`` chooses the int8 export (the default: kokoro-onnx's audio; on a VNNI CPU run as its
    GEMM form, ``gemm_model``: the same integers, faster) or its float32 form (not faster).
    """

    arrays = "numpy"
    context_params = ("session", "pack")
    request_params = ("speed",)

    def __init__(self, session: KokoroSession, pack: np.ndarray,
                 speed: Annotated[float, Range(0.5, 2.0)] = 1.0,
                 threads: Annotated[int, Range(1, 64)] = 2,
                 optimization: Literal["basic", "extended", "all"] = "all",
                 spinning: bool = False,
                 precision: Literal["int8", "float32"] = "int8") -> None:
        """``threads``, ``optimization``, ``spinning`` and ``precision`` choose the shared session."""
        self.session = session
        self.pack = pack
        self.speed = float(speed)
        self._calls = 0
        self._seconds = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> KokoroNetwork:
        settings = SessionSettings(params.get("threads", 2), params.get("optimization", "all"),
                                   params.get("spinning", False))
        pack = addon_voice(ctx.addon)
        model = addon_model(ctx.addon)
        model = float_model(model) if params.get("precision", "int8") == "float32" else int8_form(model)
        session = get_session(model, settings)
        return cls(session=session, pack=pack, **params)

    def describe(self) -> str:
        s = self.session.settings
        name = self.session.path.name
        precision = ("float32" if name.endswith(".float32.onnx") else
                     "int8 as GEMMs" if name.endswith(".gemm.onnx") else "int8")
        return (f"KokoroNetwork(threads={s.threads}, optimization={s.optimization}, spinning={s.spinning}, "
                f"precision={precision}, speed={self.speed:g})")

    def forward(self, utt: Utterance) -> Utterance:
        symbols = np.asarray(utt["symbols"], dtype=np.int64)
        tokens = len(symbols) - 2
        if tokens < 1 or symbols[0] != 0 or symbols[-1] != 0:
            raise StreamError("KokoroNetwork expects the kokoro-espeak front end's symbols: token ids "
                              "between two pads (0)")
        if tokens > MAX_TOKENS:
            raise StreamError(f"KokoroNetwork: {tokens} tokens, more than the {MAX_TOKENS} the network "
                              "accepts; the addon's [segments] max_symbols = 512 splits longer sentences")
        import time

        start = time.perf_counter()
        speed = self.speed
        if (requested := utt.get("speed")) is not None:  # a request's speed (Voice.stream params)
            value = float(np.asarray(requested))
            if not 0.1 <= value <= 10:
                raise ParameterError("speed", f"expected a number from 0.1 to 10, got {value:g}")
            speed *= value
        audio, durations = self.session.run(symbols, style_for(self.pack, tokens), speed)
        with self._lock:
            self._calls += 1
            self._seconds += time.perf_counter() - start
        if len(durations) != len(symbols) or int(durations.sum()) * HOP != len(audio):
            raise StreamError(f"KokoroNetwork: the network gave {len(durations)} durations summing to "
                              f"{int(durations.sum())} frames and {len(audio)} samples for {len(symbols)} "
                              f"symbols; expected one duration per symbol and {HOP} samples per frame")
        return {**utt, "audio": audio[:, None], "durations": durations}

    def report(self) -> dict[str, Any]:
        with self._lock:
            return {"calls": self._calls, "network_seconds": round(self._seconds, 3)} if self._calls else {}


class KokoroAudio(StreamableBlock):
    """Yields a sentence's ``audio`` in chunks of ``chunk_samples``; its durations time the words."""

    arrays = "numpy"
    produces = "waveform"

    def __init__(self, chunk_samples: Annotated[int, Range(240, 240_000)] = 12_000) -> None:
        self.chunk_samples = int(chunk_samples)

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        if upstream is not None:
            raise StreamError("KokoroAudio reads the audio KokoroNetwork made; it must come first")
        audio = utt.get("audio")
        if audio is None:
            raise StreamError("KokoroAudio needs the utterance's audio: put KokoroNetwork before it")
        for start in range(0, audio.shape[0], self.chunk_samples):
            yield Chunk(frames=audio[start:start + self.chunk_samples], start=start)

    def symbol_frames(self, utt: Utterance) -> np.ndarray | None:
        return utt.get("durations")

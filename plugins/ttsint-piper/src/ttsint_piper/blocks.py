"""The blocks a Piper addon's stack names: the VITS front half per sentence, then flow and decoder in windows.

``PiperEncoder`` (a SequenceBlock) runs the encoder piece (phonemes -> rounded durations) and the prior
piece (-> the noisy prior ``[frames, 192]``), feeding each noise input from a seeded generator.
``PiperFlow`` and ``PiperDecoder`` (WindowedNetworkBlocks) run the flow (prior -> latent) and the
HiFi-GAN decoder (latent -> audio) over context windows, each with its measured receptive field as
context, so streamed audio equals the whole sentence's. Each piece is one of the addon's networks
(``[networks.encoder]`` ...), taken through the build context, so the runtime that runs it is the
config's choice (``--runtime``, ``runtime = {...}``) as for any addon.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np
import tomllib
import ttsint
from ttsint import (
    SEGMENT_KEY,
    AddonError,
    BuildContext,
    Chunk,
    Network,
    ParameterError,
    Range,
    SequenceBlock,
    Utterance,
    WindowedNetworkBlock,
)

from .config import PiperConfig

__all__ = ["PiperEncoder", "PiperFlow", "PiperDecoder", "noise_array"]

MAX_FRAMES = 200_000
"""Most latent frames one sentence may make (about 39 minutes at 22,050 Hz): a bound on the noise drawn."""


def noise_array(rng: np.random.Generator, channels: int, length: int, distribution: str) -> np.ndarray:
    """Standard noise [1, channels, length], drawn frame by frame so a longer draw extends a shorter one."""
    if distribution == "uniform":
        values = rng.random((length, channels), dtype=np.float32)
    else:
        values = rng.standard_normal((length, channels), dtype=np.float32)
    return np.ascontiguousarray(values.T[None])


def _imported_params(params: dict[str, Any], type_name: str) -> tuple[Path | None, dict[str, Any]]:
    """For ``installed = NAME``: the cached import's folder and its params for this block, then ``params``."""
    name = params.pop("installed", None)
    if name is None:
        return None, params
    from .importer import installed_addon

    folder = installed_addon(str(name))
    config = tomllib.loads((folder / "addon.toml").read_text(encoding="utf-8"))
    for spec in config.get("stack", []):
        streamable = spec.get("streamable_block", {})
        for part in (spec, spec.get("sequence_block", {}), streamable, *streamable.get("stack", [])):
            if isinstance(part, dict) and part.get("type") == type_name:
                base = {k: v for k, v in part.items() if k != "type"}
                return folder, {**base, **params}
    raise AddonError(f"{folder}/addon.toml has no {type_name} block; remove the folder to import again")


_IMPORTS: dict[Path, Any] = {}


def _source(folder: Path | None, ctx: BuildContext) -> Any:
    """The addon whose networks a block runs: the cached import of an installed voice, else the one built."""
    if folder is None:
        if ctx.addon is None:
            raise ParameterError("type", "Piper blocks run an addon's networks: build them from an addon")
        return ctx.addon
    if folder not in _IMPORTS:  # read and digest-checked once per process, not once per block
        _IMPORTS[folder] = ttsint.load_addon(folder)
    return _IMPORTS[folder]


def _network(addon: Any, piece: str, ctx: BuildContext) -> Network:
    """The addon's network ``piece`` on the runtime the config chooses for it."""
    network = addon.networks.get(piece)
    if network is None:
        raise AddonError(
            f"{addon.path}: no [networks.{piece}] table (an import by an older ttsint-piper); "
            "import the voice again: ttsint piper import VOICE.onnx"
        )
    return ctx.bind(network)


class PiperEncoder(SequenceBlock):
    """Phoneme ids -> ``prior`` [frames, 192] and per-symbol ``durations`` (frames), one sentence at a time.

    ``noise_scale``, ``length_scale`` and ``noise_w`` default to the voice's ``.onnx.json``; ``speed``
    divides ``length_scale``, and so does a request's ``speed`` (``Voice.stream(text, params=...)``).
    With ``seed`` set, each sentence draws its noise from a generator seeded with it, so a text gives
    the same audio on every run and on the streamed and whole paths; without it, the noise differs from
    run to run, as in Piper. ``installed`` names an installed voice whose cached import holds the
    networks (the plugin's own addon for it says so).
    """

    arrays = "numpy"  # ONNX pieces: NumPy in and out, so a Piper voice never imports torch
    context_params = ("encoder", "prior")
    request_params = ("speed",)

    def __init__(
        self,
        encoder: Network,
        prior: Network,
        config: str | Path | PiperConfig = "voice.onnx.json",
        crossing: list[str] | None = None,
        noise: list[dict[str, Any]] | None = None,
        noise_scale: Annotated[float, Range(0, 10)] | None = None,
        length_scale: Annotated[float, Range(0.05, 20)] | None = None,
        noise_w: Annotated[float, Range(0, 10)] | None = None,
        speed: Annotated[float, Range(0.1, 10)] = 1.0,
        seed: int | None = None,
        installed: str | None = None,
    ) -> None:
        if not isinstance(config, PiperConfig):
            raise ParameterError("config", "build PiperEncoder from an addon config, or pass a PiperConfig")
        for key, value, low, high in (
            ("noise_scale", noise_scale, 0, 10),
            ("noise_w", noise_w, 0, 10),
            ("length_scale", length_scale, 0.05, 20),
            ("speed", speed, 0.1, 10),
        ):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high
            ):
                raise ParameterError(key, f"expected a number from {low} to {high}, got {value!r}")
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
            raise ParameterError("seed", f"expected a non-negative integer, got {seed!r}")
        self.config = config
        self.noise_scale = config.noise_scale if noise_scale is None else float(noise_scale)
        self.length_scale = config.length_scale if length_scale is None else float(length_scale)
        self.noise_w = config.noise_w if noise_w is None else float(noise_w)
        self.speed = float(speed)
        self.seed = seed
        self.crossing = list(crossing or [])
        self.noise = [dict(n) for n in noise or []]
        self.encoder = encoder
        self.prior = prior
        if "durations" not in encoder.outputs or "prior" not in prior.outputs:
            raise AddonError(
                f"{encoder.path}: the encoder must output 'durations' and the prior piece 'prior'; "
                "import the voice again"
            )

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> PiperEncoder:
        folder, params = _imported_params(dict(params), cls.type_name)
        addon = _source(folder, ctx)
        name = params.pop("config", "voice.onnx.json")
        config = PiperConfig.from_file(addon.file(name, "config"))
        encoder, prior = _network(addon, "encoder", ctx), _network(addon, "prior", ctx)
        return cls(encoder=encoder, prior=prior, config=config, **params)

    def scales(self, utt: Utterance | None = None) -> np.ndarray:
        """noise_scale, length_scale / speed (times the request's ``speed`` if ``utt`` has one), noise_w."""
        speed = self.speed
        if utt is not None and (requested := utt.get("speed")) is not None:
            value = float(ttsint.to_numpy(requested))
            if not 0.1 <= value <= 10:
                raise ParameterError("speed", f"expected a number from 0.1 to 10, got {value:g}")
            speed *= value
        return np.array([self.noise_scale, self.length_scale / speed, self.noise_w], np.float32)

    def forward(self, utt: Utterance) -> Utterance:
        ids = ttsint.to_numpy(utt["symbols"]).astype(np.int64)[None]
        phonemes = int(ids.shape[1])
        rng = np.random.default_rng(self.seed)
        scales = self.scales(utt)
        feed = {"input": ids, "input_lengths": np.array([phonemes], np.int64), "scales": scales}
        # Draw in graph order (the duration noise first), so a seed fixes every draw.
        for spec in self.noise:
            if spec["network"] == "encoder":
                feed[spec["name"]] = noise_array(rng, spec["channels"], phonemes, spec["distribution"])
        crossed = self._run(self.encoder, feed)
        durations = crossed["durations"].reshape(-1)
        frames = max(int(durations.sum()), 1)
        if frames > MAX_FRAMES:
            raise AddonError(
                f"the voice asked for {frames:,} frames for {phonemes} phonemes (at most "
                f"{MAX_FRAMES:,}); lower length_scale"
            )
        lengths = {"phonemes": phonemes, "frames": frames}
        prior_feed = {**crossed, "scales": scales}
        for spec in self.noise:
            if spec["network"] == "prior":
                prior_feed[spec["name"]] = noise_array(
                    rng, spec["channels"], lengths[spec["axis"]], spec["distribution"]
                )
        prior = self._run(self.prior, prior_feed)["prior"]
        return {
            **utt,
            "prior": np.ascontiguousarray(prior[0].T),
            "durations": durations.astype(np.int64),
        }

    @staticmethod
    def _run(network: Network, feed: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """One batched call of a piece with the inputs it takes; its outputs by name, as NumPy."""
        out = network.run({k: np.ascontiguousarray(feed[k]) for k in network.inputs}, batched=True)
        return {k: ttsint.to_numpy(v) for k, v in out.items()}

    def describe(self) -> str:
        seed = "random" if self.seed is None else self.seed
        return (
            f"{self.type_name} (noise_scale={self.noise_scale:g}, length_scale={self.length_scale:g}, "
            f"noise_w={self.noise_w:g}, speed={self.speed:g}, seed={seed})"
        )


class _WindowedPiece(WindowedNetworkBlock):
    """One piece run on windows of frames: from the utterance's ``source_key``, or from upstream.

    The ONNX pieces take channels-first ``[1, 192, frames]``; the blocks' frames are time-first NumPy.
    The first sentence of a text starts with a window of ``first_chunk_frames``, for early first audio.
    A later sentence is readied while the ones before it play (no listener waits on its first chunk),
    so its first window covers ``ahead_share`` of its frames: the look-ahead thread computes that much
    beside the playing sentence's rest, and the windows after it grow from there, so a sentence pays
    its context once or twice instead of at every small window (benchmarks/RESULTS.md, Piper
    throughput).
    """

    arrays = "numpy"

    piece: ClassVar[str] = ""
    source_key: ClassVar[str] = ""
    ahead_share: float = 1.0

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> _WindowedPiece:
        folder, params = _imported_params(dict(params), cls.type_name)
        network = _network(_source(folder, ctx), cls.piece, ctx)
        return cls(network=network, **params)

    def first_window(self, utt: Utterance) -> int | None:
        """``first_chunk_frames`` in a text's first sentence; ``ahead_share`` of a later one's frames, up
        to ``chunk_frames`` (the most a window holds)."""
        first = self.first_chunk_frames
        durations = utt.get("durations")
        if first is None or durations is None or not int(utt.get(SEGMENT_KEY, 0)):
            return first
        return max(first, min(self.chunk_frames, math.ceil(self.ahead_share * int(np.sum(durations)))))

    def stream(self, utt: Utterance, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        if upstream is None:
            frames = utt.get(self.source_key)
            if frames is None:
                raise AddonError(
                    f"{self.where}: {self.type_name} needs '{self.source_key}' frames, from "
                    "upstream or from the sequence block before it"
                )
            upstream = iter([Chunk(frames=frames, start=0)])
        yield from super().stream(utt, upstream)

    def upstream_frames(self, upstream: Iterator[Chunk] | None) -> Iterator[Chunk]:
        assert upstream is not None  # stream() supplies the utterance's frames when nothing is upstream
        return upstream

    def run_window(self, window: Any) -> np.ndarray:
        return self.run_network({self.source_key: window.frames})

    def run_all(self, frames: np.ndarray) -> np.ndarray:
        return self.to_frames(self.run_network({self.source_key: frames}))

    def run_network(self, tensors: dict[str, np.ndarray]) -> np.ndarray:
        """The piece's output, as it gives it, for time-first frames (its mask all ones)."""
        frames = ttsint.to_numpy(tensors[self.source_key])
        feed = {self.source_key: np.ascontiguousarray(frames.T[None], dtype=np.float32)}
        if "mask" in self.network.inputs:
            feed["mask"] = np.ones((1, 1, frames.shape[0]), np.float32)
        return ttsint.to_numpy(self.network.run(feed, batched=True)[self.network.outputs[0]])


class PiperFlow(_WindowedPiece):
    """The VITS flow (prior -> latent, [frames, 192]) on windows of prior frames, its mask all ones."""

    piece, source_key = "flow", "prior"

    def __init__(
        self,
        network: Network,
        chunk_frames: Annotated[int, Range(1)] = 512,
        first_chunk_frames: Annotated[int, Range(1)] | None = 13,
        context_frames: Annotated[int, Range(0)] | None = None,
        exact: bool = True,
        chunk_growth: float | None = 4,
        ahead_share: Annotated[float, Range(0.01, 1)] = 1.0,
        installed: str | None = None,
    ) -> None:
        super().__init__(network, chunk_frames, first_chunk_frames, context_frames, exact, chunk_growth)
        self.ahead_share = float(ahead_share)

    def to_frames(self, output: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(output[0].T)


class PiperDecoder(_WindowedPiece):
    """The VITS HiFi-GAN decoder on windows of ``latent`` frames; a waveform of ``hop`` samples per frame."""

    produces: ClassVar[str] = "waveform"
    piece, source_key = "decoder", "latent"

    def __init__(
        self,
        network: Network,
        hop_length: int | None = None,
        chunk_frames: Annotated[int, Range(1)] = 512,
        first_chunk_frames: Annotated[int, Range(1)] | None = 2,
        context_frames: Annotated[int, Range(0)] | None = None,
        exact: bool = True,
        chunk_growth: float | None = 4,
        ahead_share: Annotated[float, Range(0.01, 1)] = 0.3,
        installed: str | None = None,
    ) -> None:
        super().__init__(network, chunk_frames, first_chunk_frames, context_frames, exact, chunk_growth)
        self.ahead_share = float(ahead_share)
        self.output_rate = hop_length or self.measured_hop()

    def measured_hop(self) -> int:
        """Samples per latent frame, from one run of the decoder on 4 frames of zeros."""
        return int(self.run_all(np.zeros((4, 192), np.float32)).shape[0] // 4)

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> PiperDecoder:
        addon = ctx.addon
        if addon is not None:
            params = {"hop_length": addon.hop_length, **params}
        block = super().from_config(params, ctx)
        assert isinstance(block, PiperDecoder)
        if addon is not None and (hop := block.measured_hop()) != addon.hop_length:
            raise AddonError(
                f"{addon.config_file}: hop_length is {addon.hop_length}, but the decoder makes "
                f"{hop} samples per frame"
            )
        return block

    def to_frames(self, output: np.ndarray) -> np.ndarray:
        return output.reshape(-1, 1)

    def symbol_frames(self, utt: Utterance) -> np.ndarray | None:
        return utt.get("durations")

"""The blocks a Piper addon's stack names: the VITS front half per sentence, then flow and decoder in windows.

``PiperEncoder`` (a SequenceBlock) runs the encoder piece (phonemes -> rounded durations) and the prior
piece (-> the noisy prior ``[frames, 192]``), feeding each noise input from a seeded generator.
``PiperFlow`` and ``PiperDecoder`` (WindowedNetworkBlocks) run the flow (prior -> latent) and the
HiFi-GAN decoder (latent -> audio) over context windows, each with its measured receptive field as
context, so streamed audio equals the whole sentence's.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any, ClassVar

import numpy as np
import tomllib
import torch
from ttsint import (
    AddonError,
    BuildContext,
    Chunk,
    Network,
    ParameterError,
    Range,
    SequenceBlock,
    Utterance,
    WindowedNetworkBlock,
    file_sha256,
)

from .config import PiperConfig

__all__ = ["PiperEncoder", "PiperFlow", "PiperDecoder", "noise_array", "onnx_session"]

MAX_FRAMES = 200_000
"""Most latent frames one sentence may make (about 39 minutes at 22,050 Hz): a bound on the noise drawn."""


def onnx_session(path: Path, threads: int | None) -> Any:
    """An ONNX Runtime CPU session for one of the addon's pieces (checked by digest before this).

    The blocks default to one thread each: core's look-ahead thread runs the next sentence's encoder
    while this one's flow and decoder stream, and ONNX Runtime's default (a thread per core in every
    session) oversubscribed 2 cores: RTF 1.0 against 0.46 with one thread (benchmarks/RESULTS.md).
    """
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime's own error types
        raise AddonError(f"{path}: ONNX Runtime cannot load it ({type(exc).__name__}: {exc})") from None


def noise_array(rng: np.random.Generator, channels: int, length: int, distribution: str) -> np.ndarray:
    """Standard noise [1, channels, length], drawn frame by frame so a longer draw extends a shorter one."""
    if distribution == "uniform":
        values = rng.random((length, channels), dtype=np.float32)
    else:
        values = rng.standard_normal((length, channels), dtype=np.float32)
    return np.ascontiguousarray(values.T[None])


def _piece(root: Path, addon: Any, name: Any, digest: Any, key: str) -> Path:
    """A model file of the addon, confined to its folder and checked against its declared sha256."""
    if not isinstance(name, str):
        raise ParameterError(key, f"expected a file name, got {name!r}")
    path = addon.file(name, key) if addon is not None and root == addon.path else _confined(root, name, key)
    if not isinstance(digest, str) or len(digest) != 64:
        raise ParameterError(
            f"{key}_sha256", "missing: every model file of a Piper addon is pinned by sha256"
        )
    actual = file_sha256(path)
    if actual != digest:
        raise AddonError(
            f"{path}: sha256 {actual} does not match {key}_sha256 {digest}\n  the file changed "
            "after import: import the voice again (ttsint piper import)"
        )
    return path


def _confined(root: Path, name: str, key: str) -> Path:
    path = (root / name).resolve()
    if root.resolve() not in path.parents or not path.is_file():
        raise ParameterError(key, f"{name!r} is not a file inside {root}")
    return path


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


class PiperEncoder(SequenceBlock):
    """Phoneme ids -> ``prior`` [frames, 192] and per-symbol ``durations`` (frames), one sentence at a time.

    ``noise_scale``, ``length_scale`` and ``noise_w`` default to the voice's ``.onnx.json``; ``speed``
    divides ``length_scale``. With ``seed`` set, each sentence draws its noise from a generator seeded
    with it, so a text gives the same audio on every run and on the streamed and whole paths; without
    it, the noise differs from run to run, as in Piper.
    """

    def __init__(
        self,
        encoder: str | Path | None = None,
        prior: str | Path | None = None,
        config: str | Path | PiperConfig = "voice.onnx.json",
        crossing: list[str] | None = None,
        noise: list[dict[str, Any]] | None = None,
        noise_scale: Annotated[float, Range(0, 10)] | None = None,
        length_scale: Annotated[float, Range(0.05, 20)] | None = None,
        noise_w: Annotated[float, Range(0, 10)] | None = None,
        speed: Annotated[float, Range(0.1, 10)] = 1.0,
        seed: int | None = None,
        threads: int | None = 1,
        encoder_sha256: str | None = None,
        prior_sha256: str | None = None,
        installed: str | None = None,
    ) -> None:
        # from_config resolves the file names (and their digests, or ``installed``) into paths; by hand,
        # pass paths and a PiperConfig.
        if encoder is None or prior is None or not isinstance(config, PiperConfig):
            raise ParameterError(
                "encoder",
                "build PiperEncoder from an addon config, or pass the encoder "
                "and prior paths and a PiperConfig",
            )
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
        self.encoder = onnx_session(Path(encoder), threads)
        self.prior = onnx_session(Path(prior), threads)
        self._encoder_inputs = {i.name for i in self.encoder.get_inputs()}
        self._prior_inputs = {i.name for i in self.prior.get_inputs()}
        self._encoder_outputs = [o.name for o in self.encoder.get_outputs()]
        if "durations" not in self._encoder_outputs or "prior" not in {
            o.name for o in self.prior.get_outputs()
        }:
            raise AddonError(
                f"{encoder}: the encoder must output 'durations' and the prior piece 'prior'; "
                "import the voice again"
            )

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> PiperEncoder:
        folder, params = _imported_params(dict(params), cls.type_name)
        addon = ctx.addon if folder is None else None
        root = folder or (ctx.addon.path if ctx.addon is not None else Path("."))
        encoder = _piece(
            root, addon, params.pop("encoder", None), params.pop("encoder_sha256", None), "encoder"
        )
        prior = _piece(root, addon, params.pop("prior", None), params.pop("prior_sha256", None), "prior")
        name = params.pop("config", "voice.onnx.json")
        config_file = addon.file(name, "config") if addon is not None else _confined(root, name, "config")
        return cls(encoder=encoder, prior=prior, config=PiperConfig.from_file(config_file), **params)

    def scales(self) -> np.ndarray:
        return np.array([self.noise_scale, self.length_scale / self.speed, self.noise_w], np.float32)

    def forward(self, utt: Utterance) -> Utterance:
        ids = utt["symbols"].detach().cpu().numpy().astype(np.int64)[None]
        phonemes = int(ids.shape[1])
        rng = np.random.default_rng(self.seed)
        scales = self.scales()
        feed = {"input": ids, "input_lengths": np.array([phonemes], np.int64), "scales": scales}
        # Draw in graph order (the duration noise first), so a seed fixes every draw.
        for spec in self.noise:
            if spec["network"] == "encoder":
                feed[spec["name"]] = noise_array(rng, spec["channels"], phonemes, spec["distribution"])
        outputs = self.encoder.run(None, {k: v for k, v in feed.items() if k in self._encoder_inputs})
        crossed = dict(zip(self._encoder_outputs, outputs, strict=True))
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
        prior = self.prior.run(["prior"], {k: v for k, v in prior_feed.items() if k in self._prior_inputs})[0]
        return {
            **utt,
            "prior": torch.from_numpy(np.ascontiguousarray(prior[0].T)),
            "durations": torch.from_numpy(durations.astype(np.int64)),
        }

    def describe(self) -> str:
        seed = "random" if self.seed is None else self.seed
        return (
            f"{self.type_name} (noise_scale={self.noise_scale:g}, length_scale={self.length_scale:g}, "
            f"noise_w={self.noise_w:g}, speed={self.speed:g}, seed={seed})"
        )


class _WindowedPiece(WindowedNetworkBlock):
    """One ONNX piece run on windows of frames: from the utterance's ``source_key``, or from upstream."""

    piece: ClassVar[str] = ""
    source_key: ClassVar[str] = ""
    output_key: ClassVar[str] = ""
    context_params = ()

    def __init__(
        self,
        path: Path,
        receptive_field: int,
        chunk_frames: int,
        first_chunk_frames: int | None,
        context_frames: int | None,
        exact: bool,
        chunk_growth: float | None,
        threads: int | None,
    ) -> None:
        if isinstance(receptive_field, bool) or not isinstance(receptive_field, int) or receptive_field < 0:
            raise ParameterError(
                "receptive_field", f"expected a non-negative integer, got {receptive_field!r}"
            )
        self.session = onnx_session(Path(path), threads)
        network = Network(
            name=self.piece,
            role=self.piece,
            inputs=[self.source_key],
            outputs=[self.output_key],
            path=Path(path),
            module=self.session,
            receptive_field=receptive_field,
        )
        super().__init__(
            network,
            chunk_frames=chunk_frames,
            first_chunk_frames=first_chunk_frames,
            context_frames=context_frames,
            exact=exact,
            chunk_growth=chunk_growth,
        )

    @classmethod
    def _resolve(cls, params: dict[str, Any], ctx: BuildContext) -> tuple[Path, dict[str, Any]]:
        folder, params = _imported_params(dict(params), cls.type_name)
        addon = ctx.addon if folder is None else None
        root = folder or (ctx.addon.path if ctx.addon is not None else Path("."))
        path = _piece(
            root, addon, params.pop(cls.piece, None), params.pop(f"{cls.piece}_sha256", None), cls.piece
        )
        return path, params

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

    def run_all(self, frames: torch.Tensor) -> torch.Tensor:
        return self.run_network({self.source_key: frames})


class PiperFlow(_WindowedPiece):
    """The VITS flow (prior -> latent, [frames, 192]) on windows of prior frames, its mask all ones."""

    piece, source_key, output_key = "flow", "prior", "latent"

    def __init__(
        self,
        flow: str | Path | None = None,
        receptive_field: int = -1,
        chunk_frames: Annotated[int, Range(1)] = 512,
        first_chunk_frames: Annotated[int, Range(1)] | None = 20,
        context_frames: Annotated[int, Range(0)] | None = None,
        exact: bool = True,
        chunk_growth: float | None = 4,
        threads: int | None = 1,
        flow_sha256: str | None = None,
        installed: str | None = None,
    ) -> None:
        if flow is None:
            raise ParameterError("flow", "build PiperFlow from an addon config, or pass the flow path")
        super().__init__(
            Path(flow),
            receptive_field,
            chunk_frames,
            first_chunk_frames,
            context_frames,
            exact,
            chunk_growth,
            threads,
        )
        self._masked = "mask" in {i.name for i in self.session.get_inputs()}

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> PiperFlow:
        path, params = cls._resolve(params, ctx)
        return cls(flow=path, **params)

    def run_network(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        prior = np.ascontiguousarray(tensors["prior"].detach().cpu().numpy().T[None])
        feed = {"prior": prior}
        if self._masked:
            feed["mask"] = np.ones((1, 1, prior.shape[2]), np.float32)
        latent = self.session.run(None, feed)[0]
        return torch.from_numpy(np.ascontiguousarray(latent[0].T))


class PiperDecoder(_WindowedPiece):
    """The VITS HiFi-GAN decoder on windows of ``latent`` frames; a waveform of ``hop`` samples per frame."""

    produces: ClassVar[str] = "waveform"
    piece, source_key, output_key = "decoder", "latent", "audio"

    def __init__(
        self,
        decoder: str | Path | None = None,
        receptive_field: int = -1,
        hop_length: int | None = None,
        chunk_frames: Annotated[int, Range(1)] = 512,
        first_chunk_frames: Annotated[int, Range(1)] | None = 8,
        context_frames: Annotated[int, Range(0)] | None = None,
        exact: bool = True,
        chunk_growth: float | None = 4,
        threads: int | None = 1,
        decoder_sha256: str | None = None,
        installed: str | None = None,
    ) -> None:
        if decoder is None:
            raise ParameterError(
                "decoder", "build PiperDecoder from an addon config, or pass the decoder path"
            )
        super().__init__(
            Path(decoder),
            receptive_field,
            chunk_frames,
            first_chunk_frames,
            context_frames,
            exact,
            chunk_growth,
            threads,
        )
        self.output_rate = hop_length or self._measure_hop()

    def _measure_hop(self) -> int:
        out = self.session.run(None, {"latent": np.zeros((1, 192, 4), np.float32)})[0]
        return int(out.size // 4)

    @classmethod
    def from_config(cls, params: dict[str, Any], ctx: BuildContext) -> PiperDecoder:
        path, params = cls._resolve(params, ctx)
        addon = ctx.addon
        if addon is not None:
            params.setdefault("hop_length", addon.hop_length)
        block = cls(decoder=path, **params)
        if addon is not None and block.output_rate != addon.hop_length:
            raise AddonError(
                f"{addon.config_file}: hop_length is {addon.hop_length}, but the decoder makes "
                f"{block.output_rate} samples per frame"
            )
        return block

    def run_network(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        latent = np.ascontiguousarray(tensors["latent"].detach().cpu().numpy().T[None])
        audio = self.session.run(None, {"latent": latent})[0]
        return torch.from_numpy(audio.reshape(-1, 1))

    def symbol_frames(self, utt: Utterance) -> torch.Tensor | None:
        return utt.get("durations")

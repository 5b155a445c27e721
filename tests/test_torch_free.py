"""Torch at the edge (issue 22 item 5): a voice whose networks are all ONNX and whose blocks take NumPy
never imports torch, from loading the addon to writing the WAV.

The proof runs in a fresh interpreter under ``python -X importtime``, whose report lists every module
imported: an ONNX-only synthesis must list none under ``torch``. The addon here is built for the
test: two real ONNX networks (made with the ``onnx`` helper API, no torch) and blocks that declare
``arrays = "numpy"``, registered by a plugin module the subprocess loads beside the installed ones,
including core's ``WindowedNetworkBlock`` for the decoder. The same blocks declared "torch" must give
the same audio, as torch tensors: the arrays contract converts at the boundary and changes no value.
The installed ONNX voices (en-rms, Piper's en_US-joe-medium, Kokoro) are held to the same: a cold
``ttsint synth`` with each imports no torch module.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import numpy as np
import pytest
import ttsint
from onnx import TensorProto, helper, numpy_helper

HIDDEN = 4
HOP = 4
SYMBOLS = "abcdefghijklmnopqrstuvwxyz '.,?!-"

PLUGIN = '''
"""NumPy blocks for an ONNX-only voice: an encoder, an upsampler that decides durations, a windowed
decoder (core's WindowedNetworkBlock) that makes HOP samples per frame."""

from __future__ import annotations

import numpy as np
from ttsint import SequenceBlock, StreamableBlock, Chunk, WindowedNetworkBlock, hookimpl

HOP = {hop}


class NumpyEncoder(SequenceBlock):
    arrays = "numpy"
    context_params = ("network",)

    def __init__(self, network):
        self.network = network

    @classmethod
    def from_config(cls, params, ctx):
        return cls(ctx.network("encoder"))

    def forward(self, utt):
        assert isinstance(utt["symbols"], np.ndarray), type(utt["symbols"])
        out = self.network.run({{"symbols": utt["symbols"]}})
        assert isinstance(out["text_encoding"], np.ndarray), type(out["text_encoding"])
        return out


class NumpyUpsample(StreamableBlock):
    arrays = "numpy"
    request_params = ("speed",)

    def __init__(self, repeat: int = 3, chunk_frames: int = 5):
        self.repeat, self.chunk_frames = repeat, chunk_frames

    def _repeat(self, utt):
        speed = utt.get("speed")
        return self.repeat if speed is None else max(1, round(self.repeat / float(speed)))

    def symbol_frames(self, utt):
        return np.full(len(utt["symbols"]), self._repeat(utt), dtype=np.int64)

    def stream(self, utt, upstream):
        frames = np.repeat(utt["text_encoding"], self._repeat(utt), axis=0)
        for start in range(0, len(frames), self.chunk_frames):
            yield Chunk(frames[start:start + self.chunk_frames], start)


class NumpyDecoder(WindowedNetworkBlock):
    arrays = "numpy"
    produces = "waveform"
    output_rate = HOP

    def to_frames(self, output):
        assert isinstance(output, np.ndarray), type(output)
        return output.reshape(-1, 1)


class TorchEncoder(NumpyEncoder):
    arrays = "torch"

    def forward(self, utt):
        assert type(utt["symbols"]).__module__.startswith("torch"), type(utt["symbols"])
        return self.network.run({{"symbols": utt["symbols"]}})


class TorchDecoder(NumpyDecoder):
    arrays = "torch"

    def to_frames(self, output):
        assert type(output).__module__.startswith("torch"), type(output)
        return output.reshape(-1, 1)


@hookimpl
def ttsint_register_blocks(register):
    for name in ("NumpyEncoder", "NumpyUpsample", "NumpyDecoder", "TorchEncoder", "TorchDecoder"):
        register(name, globals()[name])
'''

ADDON = f'''\
name = "numpy-toy"
version = "0.0.1"
sample_rate = 8000
n_mels = {HIDDEN}
hop_length = {HOP}

[frontend]
type = "characters"
symbols = "{SYMBOLS}"
arrays = "numpy"

[networks.encoder]
file = "encoder.onnx"
role = "encoder"
inputs = ["symbols"]
outputs = ["text_encoding"]
runtime = "onnxruntime"

[networks.decoder]
file = "decoder.onnx"
role = "decoder"
inputs = ["frames"]
outputs = ["audio"]
receptive_field = 1
runtime = "onnxruntime"

[[stack]]
type = "StreamablePipeline"
sequence_block = {{ type = "NumpyEncoder" }}
streamable_block = {{ type = "NumpyUpsample" }}

[[stack]]
type = "NumpyDecoder"
chunk_frames = 6
first_chunk_frames = 2
'''

# Runs in the subprocess: the installed plugins plus the test's, the CLI's own synth command.
PROBE = '''
import json, sys
sys.path.insert(0, sys.argv[1])
import ttsint
import numpy_toy
registry = ttsint.Registry(plugins={"numpy_toy": numpy_toy})
ttsint.reset_registry(lambda: registry)
from ttsint.cli import run
code = run(["synth", "Hello world. A second sentence.", "--addon", sys.argv[2], "-o", sys.argv[3],
            "--timestamps", sys.argv[4], "--quiet"])
assert code == 0, code
print(json.dumps(sorted(m for m in sys.modules if m == "torch" or m.startswith("torch."))))
'''


def _onnx(nodes: list, inputs: list, outputs: list, initializers: list) -> bytes:
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializers)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


def _networks(directory: Path) -> None:
    rng = np.random.default_rng(0)
    table = rng.standard_normal((len(SYMBOLS) + 1, HIDDEN)).astype(np.float32)
    (directory / "encoder.onnx").write_bytes(_onnx(
        [helper.make_node("Gather", ["table", "symbols"], ["text_encoding"])],
        [helper.make_tensor_value_info("symbols", TensorProto.INT64, [1, "n"])],
        [helper.make_tensor_value_info("text_encoding", TensorProto.FLOAT, [1, "n", HIDDEN])],
        [numpy_helper.from_array(table, "table")]))
    # A width-3 convolution over time (receptive field 1 each side), then tanh: HOP samples per frame.
    weight = (rng.standard_normal((HOP, HIDDEN, 3)) / 4).astype(np.float32)
    (directory / "decoder.onnx").write_bytes(_onnx(
        [helper.make_node("Transpose", ["frames"], ["channels"], perm=[0, 2, 1]),
         helper.make_node("Conv", ["channels", "weight"], ["conv"], pads=[1, 1]),
         helper.make_node("Tanh", ["conv"], ["act"]),
         helper.make_node("Transpose", ["act"], ["audio"], perm=[0, 2, 1])],
        [helper.make_tensor_value_info("frames", TensorProto.FLOAT, [1, "t", HIDDEN])],
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, "t", HOP])],
        [numpy_helper.from_array(weight, "weight")]))


@pytest.fixture(scope="module")
def numpy_voice(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(plugin directory, addon directory) of the ONNX-only NumPy voice."""
    root = tmp_path_factory.mktemp("torch_free")
    plugin_dir, addon_dir = root / "plugin", root / "addon"
    plugin_dir.mkdir()
    addon_dir.mkdir()
    (plugin_dir / "numpy_toy.py").write_text(textwrap.dedent(PLUGIN.format(hop=HOP)), encoding="utf-8")
    _networks(addon_dir)
    (addon_dir / "addon.toml").write_text(ADDON, encoding="utf-8")
    ttsint.stamp_digests(addon_dir / "addon.toml")
    return plugin_dir, addon_dir


def _registry(plugin_dir: Path) -> ttsint.Registry:
    sys.path.insert(0, str(plugin_dir))
    try:
        import numpy_toy
    finally:
        sys.path.remove(str(plugin_dir))
    return ttsint.Registry(plugins={"numpy_toy": numpy_toy})


def _torch_modules(importtime: str) -> list[str]:
    """The modules under ``torch`` that a ``-X importtime`` report lists."""
    found = []
    for line in importtime.splitlines():
        if line.startswith("import time:") and "|" in line:
            name = line.rsplit("|", 1)[1].strip()
            if name == "torch" or name.startswith("torch."):
                found.append(name)
    return found


@pytest.mark.slow
def test_an_onnx_only_numpy_voice_synthesizes_without_importing_torch(numpy_voice: tuple[Path, Path],
                                                                      tmp_path: Path) -> None:
    plugin_dir, addon_dir = numpy_voice
    out, stamps = tmp_path / "out.wav", tmp_path / "out.json"
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", PROBE, str(plugin_dir), str(addon_dir),
                           str(out), str(stamps)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []
    assert _torch_modules(done.stderr) == []
    assert "onnxruntime" in done.stderr  # the report is real: the networks ran on ONNX Runtime
    with wave.open(str(out)) as wav:
        assert wav.getframerate() == 8000 and wav.getnframes() > 0
    words = [w["text"] for s in json.loads(stamps.read_text())["segments"] for w in s.get("words", [])]
    assert words == ["Hello", "world.", "A", "second", "sentence."]


def test_loading_the_addon_alone_imports_no_torch(numpy_voice: tuple[Path, Path]) -> None:
    _, addon_dir = numpy_voice
    code = (f"import sys, ttsint\nttsint.load_addon({str(addon_dir)!r})\n"
            "print([m for m in sys.modules if m == 'torch' or m.startswith('torch.')])")
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", code], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip() == "[]"
    assert _torch_modules(done.stderr) == []


def test_numpy_and_torch_blocks_make_the_same_audio_each_in_its_own_kind(
        numpy_voice: tuple[Path, Path]) -> None:
    import torch

    plugin_dir, addon_dir = numpy_voice
    registry = _registry(plugin_dir)
    text = "Hello world."
    with ttsint.Voice.load(addon_dir, registry=registry) as voice:
        numpy_audio = voice.synthesize(text)
        streamed = [c.frames for c in voice.stream_utterance(voice.encode(text))]
    assert isinstance(numpy_audio, np.ndarray) and numpy_audio.shape[1] == 1
    assert all(isinstance(f, np.ndarray) for f in streamed)
    # The same networks behind torch-declaring blocks (and the mixed stack: a torch encoder feeding a
    # NumPy upsampler, a NumPy upsampler feeding a torch decoder): same values, torch out of torch blocks.
    stack = [{"type": "StreamablePipeline", "sequence_block": {"type": "TorchEncoder"},
              "streamable_block": {"type": "NumpyUpsample"}},
             {"type": "TorchDecoder", "chunk_frames": 6, "first_chunk_frames": 2}]
    addon = ttsint.load_addon(addon_dir, registry=registry)
    with ttsint.Voice(addon, stack) as voice:
        torch_audio = voice.synthesize(text)
    assert isinstance(torch_audio, torch.Tensor)
    np.testing.assert_allclose(torch_audio.numpy(), numpy_audio, atol=1e-6)
    # Streaming in windows equals the decoder on the whole utterance (the windowed block's promise).
    with ttsint.Voice.load(addon_dir, registry=registry) as voice:
        decoder = voice.block.stack[1]
        utt = voice.encode(text)
        encoding = voice.block.stack[0].sequence_block.forward(utt)["text_encoding"]
        whole = decoder.run_all(np.repeat(encoding, 3, axis=0))
    np.testing.assert_allclose(whole, numpy_audio, atol=1e-6)
    assert ttsint.to_numpy(torch_audio).dtype == np.float32


def test_request_parameters_reach_the_blocks_without_copying_the_stack(
        numpy_voice: tuple[Path, Path]) -> None:
    plugin_dir, addon_dir = numpy_voice
    text = "Hello world. A second sentence."
    with ttsint.Voice.load(addon_dir, registry=_registry(plugin_dir)) as voice:
        assert voice.request_params == {"speed"}
        block = voice.block
        alone = {speed: ttsint.concat_chunks(voice.stream(text, params={"speed": speed}))
                 for speed in (1.0, 3.0)}
        # Two requests at different speeds, interleaved chunk by chunk on the same built stack.
        fast, slow = voice.stream(text, params={"speed": 3.0}), voice.stream(text, params={"speed": 1.0})
        got: dict[float, list[np.ndarray]] = {3.0: [], 1.0: []}
        for a, b in itertools.zip_longest(fast, slow):
            if a is not None:
                got[3.0].append(a.frames)
            if b is not None:
                got[1.0].append(b.frames)
        assert voice.block is block
        with pytest.raises(ttsint.ParameterError, match=r"pitch: no block of voice 'numpy-toy' reads it"):
            voice.stream(text, params={"pitch": 2.0})
        with pytest.raises(ttsint.ParameterError, match="speed: expected a number"):
            voice.stream(text, params={"speed": "fast"})
    pause = 2000  # 0.25 s at 8 kHz: the default pause between sentences, the same at every speed
    assert len(alone[1.0]) - pause == 3 * (len(alone[3.0]) - pause)
    for speed in (1.0, 3.0):
        np.testing.assert_array_equal(np.concatenate(got[speed]), alone[speed])


# Installed voices whose blocks all declare NumPy and whose networks run on onnxruntime: a cold
# `ttsint synth` with each imports no torch (the figure issue 22 asks for, per voice).
TORCH_FREE_VOICES = ["en-rms", "en_US-joe-medium", "kokoro-af_heart"]


@pytest.mark.slow
@pytest.mark.parametrize("voice", TORCH_FREE_VOICES)
def test_a_cold_synth_with_an_installed_onnx_voice_imports_no_torch(voice: str, tmp_path: Path) -> None:
    out = tmp_path / "hello.wav"
    done = subprocess.run([sys.executable, "-X", "importtime", "-m", "ttsint", "synth", "Hello world.",
                           "--addon", voice, "-o", str(out), "--quiet"], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert _torch_modules(done.stderr) == [], f"{voice}: a cold synth imported torch"
    with wave.open(str(out)) as wav:
        assert wav.getnframes() > wav.getframerate() // 2  # at least half a second of "Hello world."


def test_cpu_device_does_not_touch_a_torch_another_thread_is_importing(monkeypatch) -> None:
    """A server loads voices on parallel threads: one may be importing torch while another asks for
    the CPU device. torch.device on the half-imported module waited for that import while the import
    waited for it (every_voice_server never became ready); cpu_device must answer without it."""
    import importlib.machinery
    import types

    import ttsint

    half = types.ModuleType("torch")
    half.__spec__ = importlib.machinery.ModuleSpec("torch", None)
    half.__spec__._initializing = True

    def device(name: str) -> None:
        raise AssertionError("torch.device called on a torch still being imported")

    half.device = device
    monkeypatch.setitem(sys.modules, "torch", half)
    assert str(ttsint.cpu_device()) == "cpu"
    half.__spec__._initializing = False
    with pytest.raises(AssertionError, match="still being imported"):
        ttsint.cpu_device()

"""onnx-static: an ONNX network as one session per bucket, padded and masked, equals the plain network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import ttsint
from conftest import write_addon
from onnx import TensorProto, helper, numpy_helper
from ttsint_inferentia import OnnxStaticRuntime

CHANNELS = 4

NETWORKS = {"decoder": 4, "pooled": None, "strided": None}
"""The tiny addon's networks and their receptive fields (the decoder's: 2 + 1 + 1 frames each side)."""


def _model(nodes: list, weights: dict[str, tuple[int, ...]], seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    inits = [numpy_helper.from_array((rng.standard_normal(s) / 2).astype(np.float32), n)
             for n, s in weights.items()]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("frames", TensorProto.FLOAT,
                                                                         [1, CHANNELS, "n"])],
                              [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [1, 1, "m"])], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]).SerializeToString()


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> ttsint.Addon:
    """A HiFi-GAN in miniature (biased convolutions, an upsampling by 2, a shared input), and two networks
    it cannot pad exactly: one pools over time, one convolves with a stride."""
    folder = tmp_path_factory.mktemp("tiny-conv")
    (folder / "decoder.onnx").write_bytes(_model([
        helper.make_node("Conv", ["frames", "w1", "b1"], ["c1"], pads=[2, 2]),
        helper.make_node("LeakyRelu", ["c1"], ["a1"], alpha=0.1),
        helper.make_node("ConvTranspose", ["a1", "wt", "bt"], ["up"], strides=[2], pads=[1, 1]),
        helper.make_node("Conv", ["up", "w2", "b2"], ["c2"], pads=[1, 1]),
        helper.make_node("Conv", ["up", "w2", "b2"], ["c3"], pads=[2, 2], dilations=[2]),
        helper.make_node("Add", ["c2", "c3"], ["sum"]),
        helper.make_node("Tanh", ["sum"], ["audio"]),
    ], {"w1": (CHANNELS, CHANNELS, 5), "b1": (CHANNELS,), "wt": (CHANNELS, 2, 4), "bt": (2,), "w2": (1, 2, 3),
        "b2": (1,)}))
    (folder / "pooled.onnx").write_bytes(_model([
        helper.make_node("ReduceMean", ["frames"], ["mean"], axes=[2], keepdims=1),
        helper.make_node("Sub", ["frames", "mean"], ["centred"]),
        helper.make_node("Conv", ["centred", "w"], ["audio"]),
    ], {"w": (1, CHANNELS, 1)}))
    (folder / "strided.onnx").write_bytes(_model([
        helper.make_node("Conv", ["frames", "w"], ["audio"], strides=[2], pads=[1, 1]),
    ], {"w": (1, CHANNELS, 3)}))
    networks = {name: {"file": f"{name}.onnx", "role": "decoder", "inputs": ["frames"], "outputs": ["audio"],
                       **({"receptive_field": rf} if rf else {})} for name, rf in NETWORKS.items()}
    config = {"name": "tiny-conv", "version": "0.1.0", "sample_rate": 16000, "hop_length": 2, "n_mels": 4,
              "frontend": {"type": "characters", "symbols": " ab"}, "networks": networks,
              "stack": [{"type": "Identity"}]}
    return ttsint.load_addon(write_addon(folder, config))


def frames(n: int) -> np.ndarray:
    return np.random.default_rng(n).standard_normal((1, CHANNELS, n)).astype(np.float32)


def plain(network: ttsint.Network) -> ort.InferenceSession:
    return ort.InferenceSession(network.onnx.read(), providers=["CPUExecutionProvider"])


def test_every_length_gives_the_plain_networks_output(tiny: ttsint.Addon) -> None:
    net = tiny.networks["decoder"]
    executable = OnnxStaticRuntime(buckets=[4, 8, 16]).load(net)
    session = plain(net)
    for n in range(1, 41):  # 17 to 40 exceed the largest bucket: split with the receptive field as overlap
        want = session.run(None, {"frames": frames(n)})[0]
        got = executable({"frames": frames(n)})["audio"]
        assert got.shape == want.shape == (1, 1, 2 * n)
        assert float(np.abs(got - want).max()) <= 1e-5, n
    assert executable.shapes == ["float32[1x4x4]", "float32[1x4x8]", "float32[1x4x16]"]
    report = executable.report()
    assert report["compiles"] == report["shapes"] == 3 and report["compile_ms"] > 0
    assert report["calls"] == 40 and 0 < report["padding_waste"] < 0.5
    computed = padded = 0
    for n in range(1, 41):
        for span in ttsint.split_spans(n, 16, 4):
            bucket = ttsint.next_bucket(span.length, [4, 8, 16])
            computed, padded = computed + bucket, padded + bucket - span.length
    assert (report["computed"], report["padded"]) == (computed, padded)


def test_padding_without_the_mask_changes_the_last_outputs(tiny: ttsint.Addon) -> None:
    """Why the copy masks: zero frames after the end are not the network's own zero padding inside."""
    session = plain(tiny.networks["decoder"])
    x = frames(5)
    padded = np.concatenate([x, np.zeros((1, CHANNELS, 3), np.float32)], axis=-1)
    want = session.run(None, {"frames": x})[0]
    naive = session.run(None, {"frames": padded})[0][..., :10]
    assert float(np.abs(naive - want).max()) > 1e-3
    assert float(np.abs(naive[..., :4] - want[..., :4]).max()) <= 1e-6  # only near the end


def test_networks_it_cannot_pad_exactly_are_refused(tiny: ttsint.Addon) -> None:
    runtime = OnnxStaticRuntime(buckets=[8])
    with pytest.raises(ttsint.AddonError, match=r"network 'pooled' also uses ReduceMean; run it on "
                                                r"onnxruntime"):
        runtime.load(tiny.networks["pooled"])
    strided = runtime.load(tiny.networks["strided"])
    with pytest.raises(ttsint.StreamError, match=r"only length-keeping convolutions and upsampling"):
        strided({"frames": frames(5)})


def test_longer_than_the_largest_bucket_needs_a_receptive_field(tiny: ttsint.Addon) -> None:
    net = tiny.networks["decoder"]
    executable = OnnxStaticRuntime(buckets=[8]).load(net)  # 8 <= 2 x 4: no piece would keep a position
    with pytest.raises(ttsint.StreamError, match=r"9 positions exceed runtime 'onnx-static'.s "
                                                 r"largest bucket \(8\)"):
        executable({"frames": frames(9)})


def test_bad_options_are_refused() -> None:
    for bad in ([], [0], ["8"], 8):
        with pytest.raises(ValueError, match="buckets must be a non-empty list"):
            OnnxStaticRuntime(buckets=bad)  # type: ignore[arg-type]


def test_a_torch_export_network_is_refused(ref_voice: ttsint.Voice) -> None:
    with pytest.raises(ttsint.AddonError, match=r"runtime 'onnx-static' runs ONNX networks, and network "
                                                r"'decoder' \(decoder.pt2\) ships none"):
        OnnxStaticRuntime().load(ref_voice.addon.networks["decoder"])


def test_any_block_may_choose_it_by_config(tiny: ttsint.Addon) -> None:
    """It pads for the block, so blocks whose shapes vary are not refused it (cpu-static is)."""
    from ttsint_inferentia import OnnxStaticExecutable

    pool = ttsint.RuntimePool(ttsint.get_registry())
    executable = pool.executable(tiny.networks["decoder"], [ttsint.RuntimeSetting("onnx-static")],
                                 block_path="stack[0]", fixed_shapes=False)
    assert isinstance(executable, OnnxStaticExecutable) and executable.runtime.buckets[0] == 16


def test_report_counts_compiles_and_their_time_on_cpu_static(ref_voice: ttsint.Voice, tmp_path: Path) -> None:
    """--stats shows how many shapes were compiled and how long it took, for cpu-static too."""
    from ttsint_inferentia import CpuStaticRuntime

    executable = CpuStaticRuntime(cache_dir=tmp_path).load(ref_voice.addon.networks["duration_predictor"])
    import torch

    for n in (8, 8, 9):
        executable({"symbols": torch.ones(1, n, dtype=torch.int64), "mask": torch.ones(1, n)})
    report = executable.report()
    assert report["compiles"] == report["shapes"] == 2 and report["compile_ms"] > 0
    again = CpuStaticRuntime(cache_dir=tmp_path).load(ref_voice.addon.networks["duration_predictor"])
    again({"symbols": torch.ones(1, 8, dtype=torch.int64), "mask": torch.ones(1, 8)})
    report = again.report()
    assert report["cache_hits"] == 1 and "compiles" not in report and "load_ms" in report

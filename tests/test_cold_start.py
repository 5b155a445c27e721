"""Cold start (issue 28): networks are checked at load but deserialized only when run; shipped ONNX forms.

en-rms runs its three default networks from the ONNX files it ships, so loading it and speaking never
calls torch.export.load; each file handed to a runtime is the one whose digest was checked.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import onnx
import pytest
import torch
import ttsint
from onnx import TensorProto, helper

EN_RMS = Path(__file__).parents[1] / "plugins/ttsint-voice-en/src/ttsint_voice_en/addon"


def test_loading_an_addon_deserializes_no_network() -> None:
    addon = ttsint.load_addon("en-rms")
    assert set(addon.networks) == {"text_encoder", "duration_predictor", "decoder", "decoder_step"}
    assert not any(net.loaded for net in addon.networks.values())
    # What the segmenter and fixed-shape blocks read comes from the serialized program, not from torch.
    assert addon.networks["text_encoder"].upper_bound("symbols", 1) == 4096
    assert addon.networks["decoder_step"].input_specs()["state"] == ((1, 193, 124), torch.float32)


def test_en_rms_speaks_from_its_shipped_onnx_forms_without_deserializing_a_program() -> None:
    with ttsint.Voice.load("en-rms") as voice:
        audio = voice.synthesize("Hello world.")
        reports = voice.network_reports()
        assert {r["runtime"] for r in reports.values()} == {"onnxruntime"}
        assert all(r.get("shipped") == 1 for r in reports.values()), reports
        assert not any(net.loaded for net in voice.addon.networks.values())
        assert not any(b.network.loaded for b in voice.bindings)
    assert audio.shape[0] > 8000 and np.isfinite(ttsint.to_numpy(audio)).all()  # NumPy: no torch on this path


def test_torch_runtime_still_runs_the_pt2_and_agrees(tmp_path: Path) -> None:
    symbols = torch.arange(1, 30)
    addon = ttsint.load_addon("en-rms")
    net = addon.networks["text_encoder"]
    pool = ttsint.RuntimePool(ttsint.get_registry())
    onnx_run = pool.executable(net, [ttsint.RuntimeSetting("onnxruntime")], block_path="test")
    torch_run = pool.executable(net, [ttsint.RuntimeSetting("torch")], block_path="test")
    inputs = {"symbols": symbols.unsqueeze(0), "mask": torch.ones(1, len(symbols))}
    a, b = onnx_run(inputs)["text_encoding"], torch_run(inputs)["text_encoding"]
    assert net.loaded  # the torch runtime asked for the program
    assert float((a - b).abs().max()) <= 1e-4


def _copy_en_rms(tmp_path: Path) -> Path:
    target = tmp_path / "en-rms"
    shutil.copytree(EN_RMS, target)
    return target


def test_a_changed_onnx_form_is_refused_at_its_digest(tmp_path: Path) -> None:
    addon = _copy_en_rms(tmp_path)
    data = bytearray((addon / "decoder.onnx").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (addon / "decoder.onnx").write_bytes(bytes(data))
    with pytest.raises(ttsint.ConfigError) as info:
        ttsint.Voice.load(addon)
    assert info.value.path == "networks.decoder.onnx_sha256"
    assert "decoder.onnx has SHA-256" in str(info.value)


def test_a_pt2_changed_after_load_is_not_deserialized(tmp_path: Path) -> None:
    addon_dir = _copy_en_rms(tmp_path)
    addon = ttsint.load_addon(addon_dir)
    (addon_dir / "duration_predictor.pt2").write_bytes(b"PK not the checked archive")
    with pytest.raises(ttsint.AddonError, match="duration_predictor.pt2 changed after the addon was loaded"):
        addon.networks["duration_predictor"].module  # noqa: B018 (the access deserializes it)


def _model(node: onnx.NodeProto, *, external: bool = False, domain: str = "") -> bytes:
    weight = helper.make_tensor("w", TensorProto.FLOAT, [1], [2.0])
    if external:
        weight.ClearField("float_data")
        weight.data_location = TensorProto.EXTERNAL
        entry = weight.external_data.add()
        entry.key, entry.value = "location", "../../../etc/passwd"
    graph = helper.make_graph([node], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])], [weight])
    opsets = [helper.make_opsetid("", 20)] + ([helper.make_opsetid(domain, 1)] if domain else [])
    return helper.make_model(graph, opset_imports=opsets).SerializeToString()


def test_onnx_inspection_refuses_external_data_and_custom_operators() -> None:
    plain = _model(helper.make_node("Mul", ["x", "w"], ["y"]))
    graph = ttsint.check_archive(plain, ".onnx", "plain.onnx")
    assert graph.inputs == (("x", "torch.float32"),) and graph.outputs == (("y", "torch.float32"),)
    with pytest.raises(ttsint.ArchiveError, match=r"leak\.onnx: refused: member 'initializer w': is stored "
                                                  r"as external data"):
        ttsint.check_archive(_model(helper.make_node("Mul", ["x", "w"], ["y"]), external=True), ".onnx",
                             "leak.onnx")
    custom = _model(helper.make_node("Run", ["x", "w"], ["y"], domain="evil.ops"), domain="evil.ops")
    with pytest.raises(ttsint.ArchiveError, match="needs a custom operator library"):
        ttsint.check_archive(custom, ".onnx", "custom.onnx")
    with pytest.raises(ttsint.ArchiveError, match="not a well-formed ONNX file|not an ONNX model"):
        ttsint.check_archive(plain[: len(plain) // 2], ".onnx", "cut.onnx")


@pytest.mark.slow
def test_a_cold_synth_never_imports_the_pt2_deserializer(tmp_path: Path) -> None:
    # run(), not main(): main ends the process itself, before a probe after it could look
    probe = ("import sys\nfrom ttsint.cli import run\n"
             "code = run(['synth', 'Hello world.', '-o', sys.argv[1], '--stats'])\n"
             "assert not code, code\n"
             "print('SERDE', 'torch._export.serde.serialize' in sys.modules)\n"
             "print('SSML', 'ttsint._ssml' in sys.modules)\n"
             "print('METADATA', 'importlib.metadata' in sys.modules)\n")
    env = {**os.environ, "TTSINT_CACHE_DIR": str(tmp_path / "cache")}
    runs = [subprocess.run([sys.executable, "-c", probe, str(tmp_path / "hello.wav")], capture_output=True,
                           text=True, timeout=300, env=env) for _ in range(2)]
    for done in runs:
        assert done.returncode == 0, done.stderr
        assert "SERDE False" in done.stdout, done.stdout
        assert "SSML False" in done.stdout  # plain text: the SSML parser (and xml.etree) stays unloaded
    # the first process asked importlib.metadata for the plugins; the second read its answer back
    assert "METADATA True" in runs[0].stdout and "METADATA False" in runs[1].stdout
    assert "load " in done.stdout and "(addon, networks, stack), then synthesis:" in done.stdout
    assert (tmp_path / "hello.wav").stat().st_size > 20_000


# -- what inspection found, remembered by digest (_cache.remembered_inspection) ---------------------

@pytest.fixture
def counted_inspections(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A fresh cache directory, and the labels of the files check_archive inspects from now on."""
    import ttsint._network as network

    monkeypatch.setenv("TTSINT_CACHE_DIR", str(tmp_path / "cache"))
    seen: list[str] = []
    real = network.check_archive

    def counting(data: bytes, suffix: str, label: str) -> object:
        seen.append(label.rsplit(": ", 1)[-1])
        return real(data, suffix, label)

    monkeypatch.setattr(network, "check_archive", counting)
    return seen


def _records(tmp_path: Path) -> list[Path]:
    return sorted((tmp_path / "cache" / "inspected").glob("*.json"))


def test_a_second_load_reads_what_inspection_found_instead_of_inspecting_again(
        tmp_path: Path, counted_inspections: list[str]) -> None:
    first = ttsint.load_addon("en-rms")
    assert sorted(counted_inspections) == ["decoder.pt2", "decoder_step.pt2", "duration_predictor.pt2",
                                           "text_encoder.pt2"]
    assert len(_records(tmp_path)) == 4
    counted_inspections.clear()
    second = ttsint.load_addon("en-rms")
    assert counted_inspections == []
    for name, net in first.networks.items():
        assert second.networks[name].signature == net.signature
        assert second.networks[name].specs == net.specs
    assert second.networks["decoder_step"].input_specs()["state"] == ((1, 193, 124), torch.float32)
    with ttsint.Voice.load(second) as voice:  # the shipped ONNX forms: inspected once, then remembered
        voice.synthesize("Hi.")
    assert sorted(counted_inspections) == ["decoder.onnx", "duration_predictor.onnx", "text_encoder.onnx"]


def test_a_record_anyone_else_could_have_written_is_not_believed(
        tmp_path: Path, counted_inspections: list[str]) -> None:
    ttsint.load_addon("en-rms")
    records = _records(tmp_path)
    records[0].chmod(0o666)  # writable by others
    other = records[2].read_text(encoding="utf-8")
    records[1].write_text(other, encoding="utf-8")  # another file's findings under this file's digest
    counted_inspections.clear()
    ttsint.load_addon("en-rms")
    assert len(counted_inspections) == 2


def test_changed_inspecting_code_inspects_again(tmp_path: Path, counted_inspections: list[str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import ttsint._network as network

    ttsint.load_addon("en-rms")
    counted_inspections.clear()
    monkeypatch.setattr(network, "_inspector", lambda: "a stricter inspection")
    ttsint.load_addon("en-rms")
    assert len(counted_inspections) == 4


def test_a_refused_file_is_never_remembered(tmp_path: Path, counted_inspections: list[str]) -> None:
    addon = _copy_en_rms(tmp_path)
    evil = helper.make_node("Evil", ["x", "w"], ["y"], domain="com.evil")
    (addon / "decoder.onnx").write_bytes(_model(evil, domain="com.evil"))
    ttsint.stamp_digests(addon / "addon.toml")  # the digests match: inspection is the defence here
    for _ in range(2):
        with pytest.raises(ttsint.ArchiveError, match="needs a custom operator library"):
            ttsint.Voice.load(addon)
    assert counted_inspections.count("decoder.onnx") == 2
    digest = ttsint.sha256_hex((addon / "decoder.onnx").read_bytes())
    assert not [r for r in _records(tmp_path) if r.name.startswith(digest)]


def test_an_onnx_only_network_hands_the_bytes_its_load_checked_to_its_first_session(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import ttsint._network as network

    addon_dir = _copy_en_rms(tmp_path)
    config = addon_dir / "addon.toml"
    text = config.read_text(encoding="utf-8")
    onnx_digest = ttsint.sha256_hex((addon_dir / "text_encoder.onnx").read_bytes())
    pt2_digest = ttsint.sha256_hex((addon_dir / "text_encoder.pt2").read_bytes())
    pt2 = f'file = "text_encoder.pt2"\nsha256 = "{pt2_digest}"\n'
    text = text.replace(pt2 + 'onnx_file = "text_encoder.onnx"\n',
                        f'file = "text_encoder.onnx"\nsha256 = "{onnx_digest}"\n')
    text = text.replace(f'onnx_sha256 = "{onnx_digest}"\n', "", 1)
    config.write_text(text, encoding="utf-8")
    reads: list[str] = []
    real = network._read
    monkeypatch.setattr(network, "_read", lambda f, at, src: reads.append(f.name) or real(f, at, src))
    form = ttsint.load_addon(addon_dir).networks["text_encoder"].onnx
    assert form is not None and reads.count("text_encoder.onnx") == 1
    assert form.read() == (addon_dir / "text_encoder.onnx").read_bytes()
    assert reads.count("text_encoder.onnx") == 1  # the checked bytes, not a second read and hash
    (addon_dir / "text_encoder.onnx").write_bytes(b"changed after the load")
    with pytest.raises(ttsint.ConfigError, match="text_encoder.onnx has SHA-256"):
        form.read()  # later reads check the file again

"""GriffinLim and the Vocoder base: exact length, no seams, close to one-shot, and the addon's analysis."""

from __future__ import annotations

import pytest
import torch
import ttsint
from ttsint_dsp import GriffinLim, NetworkVocoder, Vocoder, log_mel

HOP = 256


def make(**kw) -> GriffinLim:
    return GriffinLim(16000, HOP, 80, fmax=8000.0, **{"n_iter": 16, **kw})


def boundaries(gl: GriffinLim, frames: int) -> list[int]:
    """Sample positions where one window's central frames end and the next begin."""
    found, at = [], gl.first_chunk_frames or gl.chunk_frames
    while at < frames:
        found.append(at * HOP)
        at += gl.chunk_frames
    return found


@pytest.fixture(scope="module")
def streamed(voiced_mel) -> torch.Tensor:
    torch.set_num_threads(1)
    return ttsint.concat_chunks(make().stream({}, iter([ttsint.Chunk(voiced_mel, 0)])))


def test_output_is_frames_times_hop_mono_in_range(streamed, voiced_mel):
    assert streamed.shape == (voiced_mel.shape[0] * HOP, 1)
    assert streamed.dtype == torch.float32
    assert float(streamed.abs().max()) <= 1.0


@pytest.mark.parametrize("size", [1, 5, 32, 1000])
def test_upstream_chunking_does_not_change_a_sample(size, run, streamed, voiced_mel):
    assert torch.equal(run(make(), voiced_mel, size), streamed)


@pytest.mark.parametrize("frames", [1, 2, 3, 17, 40])
def test_any_length_gives_frames_times_hop(frames, run, voiced_mel):
    assert run(make(n_iter=2), voiced_mel[:frames], 1).shape == (frames * HOP, 1)


def test_streamed_is_close_to_one_shot(streamed, voiced_mel, spec):
    """Griffin-Lim finds phases, not samples, so compare spectra: log-mel MAE under 0.1 (measured ~0.03)."""
    whole = make().vocode_whole(voiced_mel)
    assert whole.shape == streamed.shape
    n = voiced_mel.shape[0]
    mel_streamed = log_mel(streamed[:, 0], spec)[:n]
    mel_whole = log_mel(whole[:, 0], spec)[:n]
    assert float((mel_streamed - mel_whole).abs().mean()) < 0.1
    # Both invert the target about equally well.
    err_streamed = float((mel_streamed - voiced_mel).abs().mean())
    err_whole = float((mel_whole - voiced_mel).abs().mean())
    assert err_streamed < 0.5 and err_streamed < 1.1 * err_whole


def test_no_step_at_window_boundaries(streamed, voiced_mel):
    x = streamed[:, 0]
    jump = (x[1:] - x[:-1]).abs()
    near = torch.zeros_like(jump, dtype=torch.bool)
    for b in boundaries(make(), voiced_mel.shape[0]):
        near[b - 512 : b + 512] = True
    assert near.any()
    assert float(jump[near].max()) <= 1.05 * float(jump[~near].max())


def test_vocode_equals_streaming(voiced_mel, streamed):
    assert torch.equal(make().vocode(voiced_mel), streamed)


def test_reads_the_analysis_from_the_addon():
    voice = ttsint.Voice.load("demo", {"stack.1": {"type": "GriffinLim"}})
    gl = voice.block.stack[1]
    assert isinstance(gl, Vocoder) and voice.output_kind == "waveform"
    assert (gl.sample_rate, gl.hop, gl.spec.n_fft, gl.spec.fmax) == (16000, 256, 1024, 8000.0)


def test_n_mels_disagreeing_with_the_addon_is_a_config_error():
    with pytest.raises(ttsint.ConfigError) as info:
        ttsint.Voice.load("demo", {"stack.1": {"type": "GriffinLim", "n_mels": 64}})
    assert info.value.path == "stack[1].n_mels"
    assert "n_mels=64" in str(info.value) and "n_mels=80" in str(info.value)


def test_without_an_addon_the_analysis_must_be_given():
    with pytest.raises(ttsint.ConfigError, match="sample_rate"):
        ttsint.build_stack([{"type": "Gain", "db": 0}, {"type": "GriffinLim"}])
    block = ttsint.build_stack(
        {"type": "GriffinLim", "sample_rate": 8000, "hop_length": 128, "n_mels": 40, "n_fft": 512}
    )
    assert block.hop == 128


def test_wrong_mel_width_at_stream_time(run):
    with pytest.raises(ttsint.StreamError, match="expects 80 mel bins"):
        run(make(), torch.zeros(4, 64), 4)


class _Conv(torch.nn.Module):
    """A stand-in neural vocoder: a 3-frame mel convolution upsampled to hop samples per frame."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.conv = torch.nn.Conv1d(80, 8, 3, padding=1)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        y = torch.tanh(self.conv(mel.transpose(1, 2))).transpose(1, 2)  # [1, T, 8]
        return y.repeat_interleave(32, dim=2).reshape(1, -1)  # 8 * 32 = 256 samples per frame


@pytest.mark.parametrize("size", [1, 7])
def test_network_vocoder_streams_exactly(size, run, random_mel):
    net = ttsint.Network(
        "vocoder", "vocoder", ["mel"], ["wave"], path=None, module=_Conv(), receptive_field=1
    )
    vocoder = NetworkVocoder(net, 16000, 256, 80, chunk_frames=8, first_chunk_frames=3)
    whole = net.run({"mel": random_mel})["wave"].reshape(-1, 1)
    out = run(vocoder, random_mel, size)
    assert out.shape == (random_mel.shape[0] * 256, 1)
    assert torch.allclose(out, whole, atol=1e-6)


def test_network_vocoder_from_config_uses_the_named_network():
    import copy

    import ttsint

    addon = copy.copy(ttsint.load_addon("demo"))
    base = addon.networks["decoder"]
    def vocoder(name):
        return ttsint.Network(name, "vocoder", ["frames", "mask"], ["audio"], base.path, base.module,
                              receptive_field=4)

    addon.networks = {**addon.networks, "voc_a": vocoder("voc_a"), "voc_b": vocoder("voc_b")}
    block = ttsint.build_stack({"type": "NetworkVocoder", "network": "voc_b"}, addon)
    assert block.network.name == "voc_b"
    with pytest.raises(ttsint.ConfigError, match="exactly one network with role 'vocoder'"):
        ttsint.build_stack({"type": "NetworkVocoder"}, addon)

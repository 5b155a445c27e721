from __future__ import annotations

import threading

import pytest
import torch
import ttsint
from torch import nn
from ttsint_encoders import CustomizedEncoders, Encoders
from ttsint_encoders.encoders import dependency_levels


def test_encoders_and_customized_encoders_agree(demo, symbols_of):
    custom = ttsint.Voice.load("demo", {"stack.0.sequence_block.type": "CustomizedEncoders",
                                        "stack.0.sequence_block.threads": 2})
    assert isinstance(demo.block.sequence_block, Encoders)
    assert isinstance(custom.block.sequence_block, CustomizedEncoders)
    for n in (1, 5, 300):
        utt = symbols_of(n, seed=n)
        a = demo.block.sequence_block.forward(utt)
        b = custom.block.sequence_block.forward(utt)
        assert set(a) == set(b) == {"symbols", "text_encoding", "durations"}
        for key in a:
            assert torch.equal(a[key], b[key])
        assert a["text_encoding"].shape == (n, 64) and a["durations"].shape == (n,)


def test_forward_does_not_mutate_its_input(demo, symbols_of):
    utt = symbols_of(9)
    out = demo.block.sequence_block.forward(utt)
    assert set(utt) == {"symbols"} and "durations" in out


def test_customized_encoders_runs_independent_encoders_on_several_threads(symbols_of):
    """Both encoders must be inside forward at the same moment: a barrier of two proves it."""
    import threading

    custom = ttsint.Voice.load("demo", {"stack.0.sequence_block.type": "CustomizedEncoders"})
    enc = custom.block.sequence_block
    assert [len(level) for level in enc.levels] == [2]  # text encoder and duration predictor together
    barrier = threading.Barrier(2, timeout=30)
    for block in enc.levels[0]:
        original = block.forward

        def meet_then_run(utt, _orig=original):
            barrier.wait()  # raises BrokenBarrierError if the other encoder is not running concurrently
            return _orig(utt)

        block.forward = meet_then_run
    out = enc.forward(symbols_of(50))
    assert {"text_encoding", "durations"} <= set(out)


class _Embed(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(40, 8)

    def forward(self, symbols: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.emb(symbols) * mask.unsqueeze(-1)


class _Durations(nn.Module):
    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return (hidden.abs().sum(-1) + 1.0) * mask


class _Frames(nn.Module):
    def forward(self, frames: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return torch.cat([frames, frames], dim=-1) * mask.unsqueeze(-1)


def _save(module: nn.Module, args: tuple, path) -> None:
    n = torch.export.Dim("n", min=1, max=4096)
    program = torch.export.export(module.eval(), args, dynamic_shapes=tuple({1: n} for _ in args))
    torch.export.save(program, str(path))


@pytest.fixture(scope="module")
def chained_addon(tmp_path_factory):
    """An addon whose second encoder consumes the first's output; listed in the wrong order on purpose."""
    root = tmp_path_factory.mktemp("chained")
    _save(_Embed(), (torch.ones(1, 5, dtype=torch.long), torch.ones(1, 5)), root / "embed.pt2")
    _save(_Durations(), (torch.randn(1, 5, 8), torch.ones(1, 5)), root / "dur.pt2")
    _save(_Frames(), (torch.randn(1, 5, 8), torch.ones(1, 5)), root / "dec.pt2")
    (root / "addon.toml").write_text('''
name = "chained"
version = "1"
sample_rate = 8000
n_mels = 16
hop_length = 80
[frontend]
type = "characters"
symbols = "abcdefghijklmnopqrstuvwxyz "
[networks.durations]
file = "dur.pt2"
role = "encoder"
inputs = ["hidden", "mask"]
outputs = ["durations"]
receptive_field = 0
[networks.embed]
file = "embed.pt2"
role = "encoder"
inputs = ["symbols", "mask"]
outputs = ["hidden"]
receptive_field = 0
[networks.decoder]
file = "dec.pt2"
role = "decoder"
inputs = ["frames", "mask"]
outputs = ["mel"]
receptive_field = 0
[[stack]]
type = "StreamablePipeline"
sequence_block = { type = "Encoders" }
[stack.streamable_block]
type = "StreamableStack"
stack = [{ type = "Upsampler", encoding = "hidden" }, { type = "Decoder" }]
''')
    ttsint.stamp_digests(root / "addon.toml")
    return root


@pytest.mark.parametrize("encoders", ["Encoders", "CustomizedEncoders"])
def test_encoders_follow_tensor_names_not_listing_order(chained_addon, encoders):
    voice = ttsint.Voice.load(chained_addon, {"stack.0.sequence_block.type": encoders})
    out = voice.block.sequence_block.forward(voice.encode("abc"))
    assert set(out) >= {"hidden", "durations"}
    mel = voice.synthesize("abc")
    assert mel.shape[1] == 16 and mel.shape[0] == int(torch.round(out["durations"]).sum())


def test_dependency_cycle_is_a_config_error(chained_addon):
    addon = ttsint.load_addon(chained_addon)
    embed = addon.networks["embed"]
    embed.inputs = ["durations", "mask"]  # now embed needs durations, which needs hidden from embed
    with pytest.raises(ttsint.ConfigError, match="cycle") as info:
        dependency_levels(addon.networks_with_role("encoder"), "stack[0].sequence_block")
    assert info.value.path == "stack[0].sequence_block"


def test_encoders_without_addon_explain_why():
    with pytest.raises(ttsint.ConfigError, match="no addon") as info:
        ttsint.build_stack({"type": "Encoders"})
    assert info.value.path == "stack"


def test_closing_the_voice_shuts_the_encoder_pool_down() -> None:
    overrides = {"stack.0.sequence_block.type": "CustomizedEncoders", "stack.0.sequence_block.threads": 2}
    with ttsint.Voice.load("demo", overrides) as voice:
        pool = voice.block.sequence_block._pool
        voice.synthesize("hello there")
        workers = [t for t in threading.enumerate() if t.name.startswith("ttsint-encoders")]
        assert workers and pool is not None
    for worker in workers:
        worker.join(60)  # shutdown(wait=True) has returned, so this returns at once; never hangs the suite
    assert not any(t.is_alive() for t in workers)
    with pytest.raises(RuntimeError, match="shutdown"):
        pool.submit(int)

"""precompile = true compiles every shape while the stack is built, so no utterance waits for a compile."""

from __future__ import annotations

import torch
import ttsint

from .conftest import neuron_overrides


def test_precompile_builds_every_bucket_and_window_up_front(tmp_path, ref_voice) -> None:
    overrides = neuron_overrides(tmp_path, **{"stack.0.sequence_block.buckets": [16, 32],
                                              "stack.0.sequence_block.precompile": True,
                                              "stack.0.streamable_block.stack.1.precompile": True})
    voice = ttsint.Voice.load("demo", overrides=overrides)
    encoders, decoder = voice.block.sequence_block, voice.block.streamable_block.stack[1]

    def compiles() -> list[int]:
        return [n.executable.report().get("compiles", 0) for n in [*encoders.networks, decoder.network]]

    assert compiles() == [2, 2, 1]  # two buckets for each encoder network, one window shape
    assert encoders.report()["utterances"] == 0  # warm-up runs are not counted as utterances
    text = "precompiled voices answer at once"
    mel = voice.synthesize(text)
    assert compiles() == [2, 2, 1]
    assert torch.allclose(mel, ref_voice.synthesize(text), atol=1e-4)


def test_input_specs_come_from_the_exported_graph(ref_voice) -> None:
    specs = ref_voice.addon.networks["decoder"].input_specs()
    assert specs is not None
    (shape, dtype), (mask_shape, _) = specs["frames"], specs["mask"]
    assert shape[0] == 1 and shape[1] is None and shape[2] == 64 and dtype == torch.float32
    assert mask_shape[1] is None

"""Decoder: the addon's decoder network run on windows of upsampled frames with context, exactly."""

from __future__ import annotations

from typing import Any

from ttsint import WindowedNetworkBlock


class Decoder(WindowedNetworkBlock):
    """Decodes upstream frames in chunks, each with context of at least the receptive field, trimmed after.

    A smaller first chunk lowers the time to the first frame; the output equals full-utterance decoding.
    It takes either kind of frames and returns that kind (``arrays = "any"``): NumPy windows run on ONNX
    Runtime without torch; the torch runtime converts NumPy in and out.
    """

    produces = "mel"
    network_role = "decoder"
    arrays = "any"

    def decode_all(self, frames: Any) -> Any:
        """Decode a whole utterance at once: the reference that streaming must equal."""
        return self.run_all(frames)

"""ttsint-encoders: encoders, upsampler and streaming decoder blocks for duration-based acoustic models."""

from .decoder import Decoder
from .encoders import CustomizedEncoders, EncoderNetwork, Encoders
from .upsampler import Upsampler

__all__ = ["CustomizedEncoders", "Decoder", "EncoderNetwork", "Encoders", "Upsampler"]

"""ttsint-encoders: encoders, upsampler and streaming decoder blocks for duration-based acoustic models."""

import ttsint

# Names resolve on first use, so loading the plugin entry point imports none of the blocks.
__getattr__, __all__ = ttsint.lazy_exports(__name__, {
    "decoder": ["Decoder"],
    "encoders": ["CustomizedEncoders", "EncoderNetwork", "Encoders"],
    "stateful_decoder": ["StatefulDecoder"],
    "upsampler": ["Upsampler"],
})

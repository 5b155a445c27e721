"""ttsint-voice-en: the en-rms voice (weights and addon config) and its Flite phone front end."""

import ttsint

# Names resolve on first use, so loading the plugin entry point imports none of the blocks.
__getattr__, __all__ = ttsint.lazy_exports(__name__, {
    "frontend": ["FlitePhones"],
})

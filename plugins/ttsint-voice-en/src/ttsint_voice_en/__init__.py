"""ttsint-voice-en: the en-rms voice (weights and addon config) and its Flite phone front end."""

from .frontend import FlitePhones

__all__ = ["FlitePhones"]

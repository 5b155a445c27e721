"""The demo addon: a seeded FastSpeech-style model, exported with torch.export (real, untrained networks)."""

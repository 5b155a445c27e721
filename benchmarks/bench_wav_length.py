"""Streamed WAVs of `ttsint serve`: the length each reader gets, and what exact sizes cost the first byte.

    python benchmarks/bench_wav_length.py [--voices en-rms,en_US-joe-medium,kokoro-af_heart] [--repeats 3]
        [--texts 1,300] [--modes streamed,auto,exact]

Starts one real server with the voices and asks it, with ``response_format: "wav"``, for a one-sentence
text and a 300-word text in each ``wav_length`` mode:

- ``streamed``: what every streamed WAV was before (sizes 0xFFFFFFFF), the baseline;
- ``auto`` (the default): exact sizes when the sentences' durations give the length within 0.5 s of
  readying, else as ``streamed``;
- ``exact``: exact sizes always (every sentence readied first, or the WAV held back to its end).

Printed: per voice, text and mode, the time to the first response byte at the client (median and
min-max over ``--repeats``, the modes interleaved) and its ratio to ``streamed`` in the same run, and
which header was sent; then the duration that Python's ``wave``, soundfile, ``soxi`` and ``ffprobe``
read from the header of a saved one-sentence en-rms WAV, before (``streamed``) and after (``auto``),
beside the duration of the samples it holds.
"""

from __future__ import annotations

import argparse
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import httpx

SENTENCE = "Hello world, this is a test of the formats."
BASE = ("The quick brown fox jumps over the lazy dog, and then it runs away. A large crowd gathered at the "
        "station to watch the first train arrive. Please call me back when you get a moment this afternoon. "
        "The weather was cold, but the sky stayed clear all day long. She opened the window and listened "
        "to the birds outside. ")
WORDS_300 = " ".join((BASE * 8).split()[:300]).rstrip(",.") + "."
MODES = ("streamed", "auto", "exact")


def start(voices: list[str]) -> tuple[subprocess.Popen, str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    args = [sys.executable, "-m", "ttsint", "serve", "--port", str(port), "--workers", "2", "--log-level",
            "warning"]
    for voice in voices:
        args += ["--addon", voice]
    server = subprocess.Popen(args)
    deadline = time.monotonic() + 600
    while True:
        try:
            if httpx.get(url + "/readyz", timeout=5).json()["ready"]:
                return server, url
        except (httpx.HTTPError, ValueError):
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the server did not become ready")
        time.sleep(0.3)


def first_byte(client: httpx.Client, voice: str, text: str, mode: str,
               save: Path | None = None) -> tuple[float, str]:
    """Seconds to the first body byte, and the x-ttsint-wav-length header; the body read to its end."""
    began = time.perf_counter()
    body = {"voice": voice, "input": text, "response_format": "wav", "wav_length": mode}
    with client.stream("POST", "/v1/audio/speech", json=body) as response:
        response.raise_for_status()
        pieces = response.iter_raw()
        head = next(pieces)
        took = time.perf_counter() - began
        data = [head, *pieces]
    if save is not None:
        save.write_bytes(b"".join(data))
    return took, response.headers.get("x-ttsint-wav-length", "?")


def reader_seconds(path: Path) -> dict[str, str]:
    """What each reader says the WAV lasts, from its header."""
    import soundfile

    out: dict[str, str] = {}
    with wave.open(str(path), "rb") as w:
        out["wave.getnframes"] = f"{w.getnframes() / w.getframerate():.4f}"
        rate = w.getframerate()
    info = soundfile.info(str(path))
    out["soundfile.info"] = f"{info.frames / info.samplerate:.4f}"
    for name, cmd in (("soxi -D", ["soxi", "-D"]),
                      ("ffprobe duration", ["ffprobe", "-v", "error", "-show_entries", "format=duration",
                                            "-of", "csv=p=0"])):
        if shutil.which(cmd[0]):
            out[name] = subprocess.run([*cmd, str(path)], capture_output=True, text=True).stdout.strip()
        else:
            out[name] = "not installed"
    out["samples held"] = f"{(path.stat().st_size - 44) / 2 / rate:.4f}"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--voices", default="en-rms,en_US-joe-medium,kokoro-af_heart")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--texts", default="1,300", help="1: one sentence, 300: 300 words")
    parser.add_argument("--modes", default=",".join(MODES), help="wav_length modes, the first the baseline")
    args = parser.parse_args()
    voices = args.voices.split(",")
    modes = args.modes.split(",")
    choices = (("1", "1 sentence", SENTENCE), ("300", "300 words", WORDS_300))
    texts = [(label, text) for key, label, text in choices if key in args.texts.split(",")]
    server, url = start(voices)
    try:
        with httpx.Client(base_url=url, timeout=900) as client:
            for voice in voices:
                first_byte(client, voice, "Warm up.", "auto")
            print(f"{'voice':18} {'text':10} {'mode':9} {'header':9} {'first byte s (min-max)':26} "
                  "÷ streamed")
            for voice in voices:
                for label, text in texts:
                    times: dict[str, list[float]] = {m: [] for m in modes}
                    headers: dict[str, set[str]] = {m: set() for m in modes}
                    for _ in range(args.repeats):
                        for mode in modes:
                            took, header = first_byte(client, voice, text, mode)
                            times[mode].append(took)
                            headers[mode].add(header)
                    base = statistics.median(times[modes[0]])
                    for mode in modes:
                        t = times[mode]
                        print(f"{voice:18} {label:10} {mode:9} {'/'.join(sorted(headers[mode])):9} "
                              f"{statistics.median(t):7.3f} ({min(t):.3f}-{max(t):.3f})      "
                              f"{statistics.median(t) / base:6.2f}")
            with tempfile.TemporaryDirectory() as tmp:
                print(f"\nreaders on a streamed one-sentence WAV from {voices[0]} "
                      "(seconds, from the header):")
                for mode, when in (("streamed", "before"), ("auto", "after")):
                    path = Path(tmp) / f"{mode}.wav"
                    first_byte(client, voices[0], SENTENCE, mode, save=path)
                    said = reader_seconds(path)
                    print(f"  {when} ({mode}): " + ", ".join(f"{k} {v}" for k, v in said.items()))
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)


if __name__ == "__main__":
    main()

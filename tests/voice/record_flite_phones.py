"""Record the phones the en-rms front end gave before issue 17, as test data for ``test_frontend_phones.py``.

    python tests/voice/record_flite_phones.py     # -> tests/voice/data/flite_phones.json

Runs the old path, ``flite -voice rms -t TEXT -o none -ps`` (full synthesis, audio discarded), on the
everyday benchmark sentences, the voice's held-out sentences, a fixed sample of its training sentences and a
few tricky inputs (numbers, abbreviations, several sentences, leading dashes).
The training list is rebuilt by ``training/make_corpus.py`` from the standard library's docstrings, which
depend on the Python version, so the script checks that it reproduces ``training/heldout.txt`` first.
"""

from __future__ import annotations

import json
import platform
import random
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TRAINING = REPO / "plugins" / "ttsint-voice-en" / "training"
OUT = Path(__file__).resolve().parent / "data" / "flite_phones.json"
SAMPLE_SEED = 17
SAMPLE_SIZE = 500
# Numbers, money, times, abbreviations, several sentences, leading dashes, typography.
TRICKY = [
    "Dr. Smith paid $3.50 at 9 a.m. on Jan. 5.",
    "It's 42 degrees; isn't it cold?",
    "The U.S.A. and the U.K. signed it in 1999.",
    "Call 555-1234, or e-mail me at bob@example.com.",
    "- a line that starts with a dash",
    "-t is not an option here.",
    "--help",
    "First sentence. Second sentence! Third one?",
    '"Quoted," she said (quietly).',
    "He read 3 books, 12 articles and 1,000 pages.",
    "The 2nd and 3rd of May, 2024.",
    "Wait... what?",
    "Mr. and Mrs. O'Neill live at 221B Baker St.",
    "The train leaves at 10:30 pm.",
    "It costs 20% more than the $1.5 million plan.",
    "A-B testing vs. C&D.",
    "The caf\u00e9\u2019s na\u00efve r\u00e9sum\u00e9 \u2014 in \u201cquotes\u201d.",
    "Line one\nline two.\tTabbed.",
]


def training_sentences() -> list[str]:
    """The 3200 training sentences, rebuilt exactly as make_corpus.py chose them."""
    sys.path.insert(0, str(TRAINING))
    import make_corpus

    sentences = make_corpus.harvest_sentences()
    random.Random(make_corpus.SEED).shuffle(sentences)
    heldout = (TRAINING / "heldout.txt").read_text().splitlines()
    if sentences[: make_corpus.N_HELDOUT] != heldout:
        raise SystemExit(f"this Python ({platform.python_version()}) does not rebuild training/heldout.txt; "
                         "use the Python version the corpus was built with")
    return sentences[make_corpus.N_HELDOUT: make_corpus.N_HELDOUT + make_corpus.N_TRAIN]


def write_records(records: list[dict[str, str]]) -> None:
    """One record per line, so that a changed sentence shows as a one-line diff."""
    header = {"recorded_with": "flite -voice rms -t TEXT -o none -ps (before issue 17), "
                               "TEXT = clean_text(sentence)",
              "python": platform.python_version()}
    body = ",\n".join(json.dumps(r) for r in records)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(header)[:-1] + ', "records": [\n' + body + "\n]}\n")


def main() -> None:
    sys.path.insert(0, str(TRAINING))
    from phonemize import text_to_phones as synthesize_phones
    from ttsint_voice_en.frontend import clean_text

    def lines(path: Path) -> list[str]:
        return [s.strip() for s in path.read_text().splitlines() if s.strip()]

    sets = {
        "everyday": lines(REPO / "benchmarks" / "everyday.txt"),
        "heldout": lines(TRAINING / "heldout.txt"),
        "train_sample": random.Random(SAMPLE_SEED).sample(training_sentences(), SAMPLE_SIZE),
        "tricky": TRICKY,
    }
    records = []
    for name, sentences in sets.items():
        for text in sentences:
            phones = synthesize_phones(clean_text(text))
            records.append({"set": name, "text": text, "phones": " ".join(phones)})
        print(f"{name}: {len(sentences)} sentences", flush=True)
    write_records(records)
    print(f"wrote {len(records)} records to {OUT}")


if __name__ == "__main__":
    main()

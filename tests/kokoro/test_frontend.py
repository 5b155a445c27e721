"""The Kokoro front end: ids equal kokoro-onnx's, word ids, long sentences split, foreign scripts skipped."""

from __future__ import annotations

from pathlib import Path

import pytest
import ttsint
from ttsint_kokoro.frontend import KokoroPhonemes

ROOT = Path(__file__).resolve().parents[2]


def corpus() -> list[str]:
    """Over 500 lines: the phoneme corpus of the Piper tests (numbers, dates, abbreviations, quotes),
    everyday sentences, and the sentences of the project's README (code names, punctuation)."""
    lines: list[str] = []
    for path in (ROOT / "tests" / "piper" / "corpus.txt", ROOT / "benchmarks" / "everyday.txt"):
        if path.is_file():
            lines += [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    lines += [s for s in ttsint.split_sentences(readme) if any(c.isalpha() for c in s)][:300]
    return lines


@pytest.fixture(scope="module")
def frontend() -> KokoroPhonemes:
    return KokoroPhonemes("en-us")


def test_token_ids_equal_kokoro_onnx_on_the_corpus(frontend: KokoroPhonemes) -> None:
    tokenizer = pytest.importorskip("kokoro_onnx.tokenizer", reason="kokoro-onnx: the reference").Tokenizer()
    lines = corpus()
    assert len(lines) >= 500
    differ = []
    for line in lines:
        # kokoro-onnx's own path: phonemize, collapse whitespace, tokenize
        theirs = tokenizer.tokenize(" ".join(tokenizer.phonemize(line, "en-us").split()), limit=None)
        if frontend.token_ids(line) != theirs:
            differ.append(line)
    assert not differ, f"{len(differ)} of {len(lines)} lines differ, e.g. {differ[:3]}"


def test_an_utterance_is_the_tokens_between_two_pads_with_their_words(frontend: KokoroPhonemes) -> None:
    text = "Dr. Smith paid 1990 dollars, didn't he?"
    utt = frontend(text)
    symbols, words = utt["symbols"].tolist(), utt["word_ids"].tolist()
    assert symbols[0] == symbols[-1] == 0 and symbols[1:-1] == frontend.token_ids(text)
    assert len(words) == len(symbols) and words[0] == words[-1] == -1
    spoken = sorted({w for w in words if w >= 0})
    assert spoken == list(range(len(text.split())))  # every word, "1990" too (two espeak groups)
    order = [w for w in words if w >= 0]
    assert order == sorted(order)


def test_a_sentence_longer_than_the_network_takes_is_split_not_truncated(frontend: KokoroPhonemes) -> None:
    sentence = ", ".join(["the quick brown fox jumps over the lazy dog"] * 30) + "."
    pieces = list(frontend.segments(sentence, 512))
    assert len(pieces) > 1
    assert all(len(utt["symbols"]) <= 512 for _, utt in pieces)
    assert " ".join(text for text, _ in pieces) == sentence  # nothing dropped


def test_words_in_a_script_the_voice_cannot_speak_are_skipped_and_counted(frontend: KokoroPhonemes) -> None:
    before = (frontend.skipped_words, frontend.skipped_sentences)
    texts = [text for text, _ in frontend.segments("Hello there. 你好世界 再见. Good 世界 night.")]
    assert texts == ["Hello there.", "Good night."]
    assert (frontend.skipped_words - before[0], frontend.skipped_sentences - before[1]) == (3, 1)
    with pytest.raises(ttsint.FrontendError, match="no words in a script"):
        list(frontend.segments("你好世界。"))


EVERYDAY = Path(__file__).resolve().parents[2] / "benchmarks" / "everyday.txt"


def test_every_word_of_an_everyday_paragraph_gets_its_phonemes(frontend: KokoroPhonemes) -> None:
    """espeak-ng joins function words in context ("in the" -> one group); each word still gets phonemes."""
    lines = [x.strip() for x in EVERYDAY.read_text(encoding="utf-8").splitlines() if x.strip()]
    paragraph = lines[:20] + ["Put the milk back in the fridge, please.",
                              "Do not forget to lock the back door.",
                              "It's 3:45 p.m., and the U.S. team won 2-1!"]
    for sentence in paragraph:
        utt = frontend(sentence)
        owners = utt["word_ids"].tolist()
        assert len(owners) == len(utt["symbols"]), sentence
        assert sorted({w for w in owners if w >= 0}) == list(range(len(sentence.split()))), sentence
        order = [w for w in owners if w >= 0]
        assert order == sorted(order), sentence


def test_a_group_espeak_joins_is_shared_by_its_words(frontend: KokoroPhonemes) -> None:
    utt = frontend("Put it in the fridge.")
    ipa = frontend.phonemes("Put it in the fridge.")
    spoken: dict[int, str] = {}
    for ch, w in zip(ipa, utt["word_ids"][1:-1].tolist(), strict=True):
        if w >= 0:
            spoken[w] = spoken.get(w, "") + ch
    assert "ɪnðə" in ipa.split()  # espeak-ng joined "in the"
    assert spoken[2] == "ɪn" and spoken[3] == "ðə"


def test_a_joined_group_is_not_shared_with_the_next_word(frontend: KokoroPhonemes) -> None:
    text = "Rest for a few days."
    ipa, owners = frontend.phonemes(text), frontend(text)["word_ids"][1:-1].tolist()
    spoken: dict[int, str] = {}
    for ch, w in zip(ipa, owners, strict=True):
        spoken[w] = spoken.get(w, "") + ch
    assert spoken[3] == "fjˈuː"  # "few" alone, though espeak-ng joined "for a"

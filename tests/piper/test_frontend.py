"""The Piper front end: phoneme ids identical to piper-tts's on the corpus, unknown phonemes skipped and
counted, bad voice configs refused with one clear message."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import ttsint
from ttsint_piper import PiperConfig, PiperPhonemes

CORPUS = Path(__file__).with_name("corpus.txt")


def test_corpus_is_large_and_varied() -> None:
    lines = CORPUS.read_text(encoding="utf-8").splitlines()
    assert len(lines) >= 500
    text = "\n".join(lines)
    for sample in ("Dr.", "e.g.", "\u201c", '"', "%", "$", "2049", ":", ";", "...", "?", "!"):
        assert sample in text
    assert min(map(len, lines)) <= 3 and max(map(len, lines)) >= 300


@pytest.mark.slow
def test_ids_identical_to_piper_tts_on_the_corpus(piper_voice, joe_model: Path) -> None:
    frontend = PiperPhonemes(PiperConfig.from_file(joe_model.with_name(joe_model.name + ".json")))
    differ = []
    # One process, lines in order, like piper-tts: espeak-ng keeps a little state from one text to the next.
    for line in CORPUS.read_text(encoding="utf-8").splitlines():
        ours = [frontend.ids(s) for s in frontend.sentences(line)]
        theirs = [piper_voice.phonemes_to_ids(s) for s in piper_voice.phonemize(line)]
        if ours != theirs:
            differ.append(line)
    assert differ == []
    assert not frontend.skipped


def test_the_linking_glide_and_terminators(tiny_config) -> None:
    frontend = PiperPhonemes(PiperConfig.from_dict(tiny_config()))
    sentences = frontend.sentences("Maria ate twenty eight apples, then left... Why? Stop")
    joined = ["".join(s) for s in sentences]
    assert "ʲ" in joined[0]  # "Maria", "twenty eight": espeak's linking phoneme, as piper-tts writes it
    assert joined[0].count(", ") == 1 and joined[0].endswith("?")  # the ellipsis ends no sentence
    assert joined[-1].endswith("p")  # the end of the text ends the last sentence, without punctuation
    without = PiperPhonemes(PiperConfig.from_dict(tiny_config()), linking_glide=False)
    assert "ʲ" not in "".join(without.sentences("Maria ate")[0])


def test_unknown_phonemes_are_skipped_with_a_warning_and_counted(caplog: pytest.LogCaptureFixture,
                                                                 tiny_config) -> None:
    frontend = PiperPhonemes(PiperConfig.from_dict(tiny_config()))  # no "ɜ" in the tiny map
    with caplog.at_level("WARNING", logger="ttsint_piper"):
        utt = frontend("The bird heard the first word.")
    assert frontend.skipped["ɜ"] >= 4
    assert "no id for the phoneme 'ɜ'" in caplog.text
    ids = utt["symbols"].tolist()
    assert ids[:2] == [1, 0] and ids[-1] == 2 and max(ids) < len(tiny_config()["phoneme_id_map"])


def test_nothing_to_say_is_a_frontend_error(tiny_config) -> None:
    frontend = PiperPhonemes(PiperConfig.from_dict(tiny_config()))
    with pytest.raises(ttsint.FrontendError, match="nothing to say"):
        frontend("   ")


@pytest.mark.parametrize("change, message", [
    (lambda c: c.update(phoneme_id_map={f"p{i}": [i % 40] for i in range(10_000)}), "10,000 entries"),
    (lambda c: c["audio"].update(sample_rate=2_000_000_000), "audio.sample_rate"),
    (lambda c: c["phoneme_id_map"].update(a=[999]), "below num_symbols"),
    (lambda c: c["phoneme_id_map"].pop("^"), "has no '\\^'"),
    (lambda c: c.update(phoneme_type="pinyin"), "not supported"),
    (lambda c: c["espeak"].update(voice="../../etc"), "espeak.voice"),
])
def test_bad_configs_name_the_field(tmp_path: Path, change, message: str, tiny_config) -> None:
    config = tiny_config()
    change(config)
    path = tmp_path / "bad.onnx.json"
    path.write_text(json.dumps(config), encoding="utf-8")
    with pytest.raises(ttsint.AddonError, match=message) as info:
        PiperConfig.from_file(path)
    assert str(path) in str(info.value)


def test_word_ids_tie_each_phoneme_to_its_written_word(tiny_config) -> None:
    frontend = PiperPhonemes(PiperConfig.from_dict(tiny_config()))
    text = "On March 3, 2024, Dr. Smith paid 12 dollars!"
    utt = frontend(text)
    words = utt["word_ids"]
    assert len(words) == len(utt["symbols"])
    assert words[0] == -1 and words[-1] == -1
    found = sorted({int(w) for w in words if w >= 0})
    assert found == list(range(len(text.split())))  # every word here is spoken on its own
    assert all(int(a) <= int(b) for a, b in zip(words[words >= 0][:-1], words[words >= 0][1:], strict=True))

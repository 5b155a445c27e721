"""The SSML parser: each element and attribute in a table, say-as readings, IPA mapping, hostile documents."""

from __future__ import annotations

import time

import pytest
from ttsint import SSMLError, is_ssml, parse_ssml
from ttsint._ssml import BREAK_STRENGTHS, Break, Phoneme, ipa_to_cmu, say_as


def speak(body: str) -> str:
    return f'<speak version="1.1" xmlns="http://www.w3.org/2001/10/synthesis" xml:lang="en-US">{body}</speak>'


def runs(body: str) -> list[tuple[str | None, str, float, float, float]]:
    return [(r.voice, r.text, r.prosody.rate, r.prosody.volume_db, r.prosody.pitch_semitones)
            for r in parse_ssml(speak(body)).runs]


# (element snippet, expected runs as (voice, text, rate, volume dB, pitch st))
ELEMENTS = [
    ("Plain words.", [(None, "Plain words.", 1.0, 0.0, 0.0)]),
    ("<p>One.</p><p>Two.</p>", [(None, "One.", 1, 0, 0), (None, "Two.", 1, 0, 0)]),
    ("<s>One</s><s>Two</s>", [(None, "One", 1, 0, 0), (None, "Two", 1, 0, 0)]),
    ('<prosody rate="slow">a b</prosody>', [(None, "a b", 0.75, 0, 0)]),
    ('<prosody rate="150%">a</prosody>', [(None, "a", 1.5, 0, 0)]),
    ('<prosody rate="+20%">a</prosody>', [(None, "a", 1.2, 0, 0)]),
    ('<prosody rate="0.8">a</prosody>', [(None, "a", 0.8, 0, 0)]),
    ('<prosody volume="+6dB">a</prosody>', [(None, "a", 1, 6, 0)]),
    ('<prosody volume="x-soft">a</prosody>', [(None, "a", 1, -12, 0)]),
    ('<prosody pitch="+2st">a</prosody>', [(None, "a", 1, 0, 2)]),
    ('<prosody pitch="high">a</prosody>', [(None, "a", 1, 0, 3)]),
    ('<prosody rate="fast"><prosody rate="fast">a</prosody></prosody>', [(None, "a", 1.5625, 0, 0)]),
    ('x <voice name="other">y</voice> z',
     [(None, "x", 1, 0, 0), ("other", "y", 1, 0, 0), (None, "z", 1, 0, 0)]),
    ('<emphasis level="strong">a</emphasis>', [(None, "a", 0.8, 6, 0)]),
    ("<emphasis>a</emphasis>", [(None, "a", 0.9, 3, 0)]),
    ('<emphasis level="reduced">a</emphasis>', [(None, "a", 1.1, -4, 0)]),
    ('<sub alias="World Wide Web">WWW</sub>', [(None, "World Wide Web", 1, 0, 0)]),
    ('<say-as interpret-as="characters">AB1</say-as>', [(None, "ay bee one", 1, 0, 0)]),
    ('<say-as interpret-as="cardinal">1,234</say-as>',
     [(None, "one thousand two hundred thirty four", 1, 0, 0)]),
    ('<say-as interpret-as="ordinal">22nd</say-as>', [(None, "twenty second", 1, 0, 0)]),
    ('<say-as interpret-as="digits">2048</say-as>', [(None, "two zero four eight", 1, 0, 0)]),
    ('<say-as interpret-as="date" format="mdy">12/07/2026</say-as>',
     [(None, "December seventh twenty twenty six", 1, 0, 0)]),
    ('<say-as interpret-as="date">2026-03-01</say-as>', [(None, "March first twenty twenty six", 1, 0, 0)]),
    ('<say-as interpret-as="time">14:30</say-as>', [(None, "fourteen thirty", 1, 0, 0)]),
    ('<say-as interpret-as="time" format="hms12">14:05</say-as>', [(None, "two oh five p m", 1, 0, 0)]),
    ('<say-as interpret-as="telephone">+1 555 0100</say-as>',
     [(None, "plus one, five five five, zero one zero zero", 1, 0, 0)]),
    ('say <phoneme alphabet="ipa" ph="təˈmeɪtoʊ">tomato</phoneme>', [(None, "say tomato", 1, 0, 0)]),
    ('a <mark name="m"/> b', [(None, "a b", 1, 0, 0)]),
    ("<w>word</w> <token>t</token>", [(None, "word t", 1, 0, 0)]),
]


@pytest.mark.parametrize(("body", "expected"), ELEMENTS, ids=[e[0][:40] for e in ELEMENTS])
def test_element_table(body: str, expected: list[tuple]) -> None:
    got = runs(body)
    assert [(v, t) for v, t, *_ in got] == [(v, t) for v, t, *_ in expected]
    for g, e in zip(got, expected, strict=True):
        assert g[2:] == pytest.approx(e[2:], abs=1e-9)


BREAKS = [('<break time="500ms"/>', 0.5), ('<break time="1.5s"/>', 1.5),
          *[(f'<break strength="{k}"/>', v) for k, v in BREAK_STRENGTHS.items()], ("<break/>", 0.4)]


@pytest.mark.parametrize(("tag", "seconds"), BREAKS, ids=[b[0] for b in BREAKS])
def test_break_time_and_strength(tag: str, seconds: float) -> None:
    doc = parse_ssml(speak(f"<s>one</s>{tag}<s>two</s>"))
    breaks = [i for i in doc.items if isinstance(i, Break)]
    # an explicit break replaces the pause a sentence end brings
    assert [b.seconds for b in breaks] == [pytest.approx(seconds)]


def test_sentence_and_paragraph_pauses() -> None:
    doc = parse_ssml(speak("<p><s>a</s><s>b</s></p><p>c</p>"))
    kinds = [(type(i).__name__, getattr(i, "seconds", None)) for i in doc.items]
    assert kinds == [("Run", None), ("Break", BREAK_STRENGTHS["medium"]), ("Run", None),
                     ("Break", BREAK_STRENGTHS["strong"]), ("Run", None)]


def test_marks_point_at_words() -> None:
    doc = parse_ssml(speak('<mark name="start"/>Hello <mark name="mid"/>big world. <voice name="v">'
                           'Then <mark name="v1"/>more</voice><mark name="end"/>'))
    assert [(m.name, m.run, m.word) for m in doc.marks] == [
        ("start", 0, 0), ("mid", 0, 1), ("v1", 1, 1), ("end", 1, 2)]


def test_phoneme_part() -> None:
    run = parse_ssml(speak('a <phoneme ph="ˈpɪkæn">pecan</phoneme> b')).runs[0]
    assert [p for p in run.parts if isinstance(p, Phoneme)] == [Phoneme("ˈpɪkæn", "pecan")]
    assert run.has_phonemes


@pytest.mark.parametrize(("body", "warning"), [
    ('<audio src="x.wav">fallback</audio>', "<audio>"),
    ("<lang xml:lang='fr'>oui</lang>", "<lang>"),
    ("<foo>bar</foo>", "<foo>"),
    ('<prosody contour="(0%,+20Hz)">a</prosody>', "contour"),
    ('<say-as interpret-as="cardinal">many</say-as>', "could not read"),
    ('<say-as interpret-as="unit">5 kg</say-as>', "not supported"),
    ('<phoneme alphabet="x-sampa" ph="p@">pa</phoneme>', "only ipa"),
])
def test_ignored_with_a_warning(body: str, warning: str) -> None:
    doc = parse_ssml(speak(body))
    assert any(warning in w for w in doc.warnings), doc.warnings
    assert doc.runs  # the text is still said


@pytest.mark.parametrize(("body", "message"), [
    ('<break time="soon"/>', "duration"),
    ('<break time="11s"/>', "10 s"),
    ('<break strength="huge"/>', "strength"),
    ('<prosody rate="10">a</prosody>', "outside"),
    ('<prosody volume="+6">a</prosody>', "decibels"),
    ('<prosody pitch="+50Hz">a</prosody>', "Hz"),
    ("<emphasis level='loud'>a</emphasis>", "emphasis"),
    ("<sub>a</sub>", "alias"),
    ("<say-as>a</say-as>", "interpret-as"),
    ("<phoneme>a</phoneme>", "ph"),
    ("<mark/>", "name"),
    ("", "nothing to say"),
])
def test_bad_attributes_are_named(body: str, message: str) -> None:
    with pytest.raises(SSMLError, match=message):
        parse_ssml(speak(body))


def test_say_as_readings() -> None:
    assert say_as("3", "ordinal") == "third"
    assert say_as("40", "ordinal") == "fortieth"
    assert say_as("-7.25", "cardinal") == "minus seven point two five"
    assert say_as("1999", "date", "y") == "nineteen ninety nine"
    assert say_as("2005", "date", "y") == "two thousand five"
    assert say_as("7", "time") == "seven o'clock"
    assert say_as("7:05pm", "time") == "seven oh five p m"


def test_ipa_to_cmu() -> None:
    assert ipa_to_cmu("təˈmeɪtoʊ") == (["t", "ax", "m", "ey", "t", "ow"], [])
    assert ipa_to_cmu("ˈtʃɜːtʃ") == (["ch", "er", "ch"], [])
    phones, unmapped = ipa_to_cmu("ʁɛ̃")
    assert unmapped == ["ʁ"] and phones == ["eh"]


def test_is_ssml() -> None:
    assert is_ssml("  <speak>hi</speak>")
    assert is_ssml('<?xml version="1.0"?>\n<speak>hi</speak>')
    assert not is_ssml("hello <speak>")
    assert is_ssml('<!DOCTYPE speak [<!ENTITY a "b">]><speak>&a;</speak>')  # refused, not read out


# -- hostile documents ------------------------------------------------------------------------------
BILLION_LAUGHS = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
<!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
<!ENTITY lol9 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">]>
<speak>&lol9;</speak>"""
EXTERNAL = """<?xml version="1.0"?><!DOCTYPE speak [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<speak>&xxe;</speak>"""
DTD_ONLY = '<?xml version="1.0"?><!DOCTYPE speak SYSTEM "http://example.invalid/speak.dtd"><speak>hi</speak>'

HOSTILE = [
    ("billion laughs", BILLION_LAUGHS, "EntitiesForbidden|DTDForbidden"),
    ("external entity", EXTERNAL, "EntitiesForbidden|DTDForbidden"),
    ("external DTD", DTD_ONLY, "DTDForbidden"),
    ("50 MB", "<speak>" + "a " * 25_000_000 + "</speak>", "more than the limit"),
    ("deep nesting", "<speak>" + "<p>" * 200 + "x" + "</p>" * 200 + "</speak>", "nests elements"),
    ("malformed", "<speak><p>unclosed</speak>", "not well-formed"),
    ("wrong root", "<html>hi</html>", "root element"),
]


@pytest.mark.parametrize(("name", "text", "message"), HOSTILE, ids=[h[0] for h in HOSTILE])
def test_hostile_documents_get_a_clear_error(name: str, text: str, message: str) -> None:
    began = time.perf_counter()
    with pytest.raises(SSMLError, match=message) as caught:
        parse_ssml(text)
    assert time.perf_counter() - began < 2.0  # refused before any expansion or full parse
    assert "Traceback" not in str(caught.value)
    assert "/etc/passwd" not in str(caught.value) or name == "external entity"

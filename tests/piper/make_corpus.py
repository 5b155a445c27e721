"""Writes corpus.txt: 500+ lines for the phoneme-id test against piper-tts (numbers, dates, abbreviations,
quotes, long and short lines). Deterministic; run again only to change the corpus.

    python tests/piper/make_corpus.py
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).parent
NAMES = ["Maria", "Tom", "Dr. Okafor", "Mr. Lindqvist", "Mrs. Patel", "Prof. Nakamura", "St. Clair", "Ana"]
PLACES = ["the harbour", "Main St.", "the old mill", "Berlin", "the N.Y.C. office", "room 4B", "the lab"]
THINGS = [
    "the report",
    "a red kite",
    "three boxes of nails",
    "the Wi-Fi router",
    "an e-mail",
    "the U.S. map",
    "a 12-volt battery",
    "the NASA photo",
    "half a loaf",
    "the café menu",
]
VERBS = ["found", "lost", "carried", "painted", "fixed", "read", "sent", "ordered", "tested", "sold"]
MONTHS = [
    "January",
    "Feb.",
    "March",
    "Apr.",
    "May",
    "June",
    "Jul.",
    "August",
    "Sept.",
    "October",
    "Nov.",
    "Dec.",
]
ABBREV = [
    "e.g.",
    "i.e.",
    "etc.",
    "vs.",
    "approx.",
    "no.",
    "Jr.",
    "Ltd.",
    "Inc.",
    "a.m.",
    "p.m.",
    "AI",
    "CPU",
    "GPU",
    "FAQ",
    "ASAP",
    "UK",
    "EU",
    "km",
    "kg",
    "mph",
    "Fig. 3",
]
SHORT = [
    "Yes.",
    "No!",
    "Why?",
    "Okay.",
    "Wait...",
    "Hmm.",
    "Go!",
    "Really?",
    "Sure, why not.",
    "Thanks!",
    "Hi.",
    "A.",
    "Ok",
    "Stop",
    "Well, well, well.",
    "Now?",
    "Five.",
    "It's 5.",
    "Hello, world!",
    "Fine;",
]


def numbers(rng: random.Random) -> str:
    n = rng.choice(
        [rng.randint(0, 20), rng.randint(21, 999), rng.randint(1000, 99999), rng.randint(100000, 99999999)]
    )
    forms = [
        f"{n}",
        f"{n:,}",
        f"{n}.{rng.randint(0, 99):02d}",
        f"${n:,}",
        f"{rng.randint(1, 99)}%",
        f"{n}th",
        f"#{n}",
        f"-{n}",
        f"{rng.randint(1, 9)}/{rng.randint(2, 12)}",
        f"{n} kg",
    ]
    return f"{rng.choice(NAMES)} {rng.choice(VERBS)} {rng.choice(forms)} of {rng.choice(THINGS)}."


def dates(rng: random.Random) -> str:
    year = rng.randint(1066, 2099)
    day = rng.randint(1, 31)
    month = rng.randint(1, 12)
    forms = [
        f"{rng.choice(MONTHS)} {day}, {year}",
        f"{day}/{month}/{year}",
        f"{year}-{month:02d}-{day:02d}",
        f"the {day}th of {rng.choice(MONTHS)}",
        f"{year}s",
        f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d}",
        f"{rng.randint(1, 12)} {rng.choice(['a.m.', 'p.m.', 'AM', 'PM'])}",
    ]
    return f"We met at {rng.choice(PLACES)} on {rng.choice(forms)}{rng.choice(['.', '!', '?', ';', ''])}"


def abbreviations(rng: random.Random) -> str:
    a, b = rng.sample(ABBREV, 2)
    return f"{rng.choice(NAMES)} asked about {a} and {b} at {rng.choice(PLACES)}{rng.choice(['.', '?', '!'])}"


def quotes(rng: random.Random) -> str:
    said = f"{rng.choice(VERBS).capitalize()} {rng.choice(THINGS)}{rng.choice(['!', '?', '.', ','])}"
    forms = [
        f'"{said}" said {rng.choice(NAMES)}.',
        f"'{said}' she whispered.",
        f"\u201c{said}\u201d he wrote \u2014 twice.",
        f"He said, \u2018{said}\u2019 and left.",
        f"({rng.choice(THINGS)}) was [{rng.randint(1, 9)}] items: {rng.choice(THINGS)}; "
        f"{rng.choice(THINGS)}.",
        f'She yelled: "{said}" -- then laughed.',
        f"It's {rng.choice(NAMES)}'s, isn't it?",
        f"Don't, won't, can't; they'd've {rng.choice(VERBS)} it.",
    ]
    return rng.choice(forms)


def long_line(rng: random.Random) -> str:
    parts = [
        f"{rng.choice(NAMES)} {rng.choice(VERBS)} {rng.choice(THINGS)} near {rng.choice(PLACES)}"
        for _ in range(rng.randint(3, 8))
    ]
    joins = [", ", "; ", " and ", ", but ", ": ", ". ", "! ", "? "]
    text = parts[0]
    for part in parts[1:]:
        text += rng.choice(joins) + part
    return text + rng.choice([".", "!", "?", "...", ""])


def main() -> None:
    rng = random.Random(23)
    lines = list(SHORT)
    for make in (numbers, dates, abbreviations, quotes, long_line):
        lines.extend(make(rng) for _ in range(100))
    lines.extend(
        [
            "1, 2, 3, 4, 5.",
            "0.5 + 0.25 = 0.75",
            "Call 555-0199 or +1 (202) 555-0142.",
            "It costs \u00a39.99 or \u20ac12.",
            "Version 3.11.7 was released in 2023.",
            "Temperature: -4\u00b0C; humidity 87%.",
            "See section 2.3(b), pp. 14-17.",
            "W3C, HTML5 & CSS3.",
            "The 1990s vs. the 2000s.",
            "He ran 26.2 miles in 3h 05m.",
        ]
    )
    (HERE / "corpus.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(len(lines), "lines")


if __name__ == "__main__":
    main()

"""The page at / in headless Chromium (Debian's, driven by Playwright): voices, Speak, audio scheduled."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from .conftest import Server, chromium_path

pytestmark = pytest.mark.slow  # a headless browser

playwright = pytest.importorskip("playwright.sync_api")
CHROMIUM = chromium_path()
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "serve-page.png"


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (setup.sh installs it as root)")
def test_the_page_lists_voices_and_plays_speech_as_it_streams(default_server: Server, tmp_path: Path) -> None:
    problems: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM,
                                    args=["--no-sandbox", "--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page(viewport={"width": 1040, "height": 700})
        page.on("console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.goto(default_server.url + "/")
        page.wait_for_function("window.ttsintPage && window.ttsintPage.voices > 0", timeout=60_000)
        assert "en-rms" in page.locator("#voice option").all_inner_texts()[0]
        # Voices are grouped by architecture (the blocks their stacks run).
        groups = page.locator("#voice optgroup").evaluate_all("gs => gs.map(g => g.label)")
        assert any(label.endswith("PGHI") for label in groups)
        page.fill("#text", "Streaming speech, played in the browser as it arrives.")
        page.click("#speak")
        page.wait_for_function("window.ttsintPage.done + window.ttsintPage.errors > 0", timeout=300_000)
        counters = page.evaluate("window.ttsintPage")
        # Every other format the browser says it can decode plays too (fetched whole).
        others = [f for f in counters["formats"] if f != "pcm"]
        for n, fmt in enumerate(others, start=2):
            page.select_option("#format", fmt)
            page.click("#speak")
            page.wait_for_function(f"window.ttsintPage.done + window.ttsintPage.errors >= {n}",
                                   timeout=300_000)
        played = page.evaluate("window.ttsintPage.played")
        page.select_option("#format", "pcm")
        page.wait_for_timeout(300)  # let the live view draw a frame of what is playing
        shot = tmp_path / "serve-page.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert counters["errors"] == 0, counters["lastError"]
    assert counters["requests"] == counters["responses"] == counters["done"] == 1
    assert counters["buffersScheduled"] >= 1 and counters["samples"] > 16000
    assert counters["bytes"] == 2 * counters["samples"] and counters["firstAudioMs"] > 0
    assert counters["sampleRate"] == 24000  # OpenAI's pcm rate, read from X-Sample-Rate
    assert counters["scheduledSeconds"] == pytest.approx(counters["samples"] / 24000, rel=1e-3)
    assert {"mp3", "opus", "flac", "wav"} <= set(others), counters["formats"]
    seconds = counters["samples"] / 24000
    for fmt in others:  # each decoded by the browser to the same speech, give or take a codec frame
        assert played[fmt] == pytest.approx(seconds, abs=0.15), (fmt, played)
    assert problems == []
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    if os.environ.get("TTSINT_UPDATE_SCREENSHOT"):
        shutil.copy(shot, SCREENSHOT)

"""`ttsint bench --quick` through the installed CLI: the JSON document's shape, the Markdown and the PNG."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from commands import ttsint_command
from ttsint_bench import ITEMS, SCHEMA, Figure, Item, markdown
from ttsint_bench.figures import Samples

PNG = b"\x89PNG\r\n\x1a\n"
FIGURE_KEYS = {
    "name",
    "value",
    "unit",
    "baseline",
    "baseline_value",
    "ratio",
    "target",
    "target_of",
    "met",
    "params",
    "spread",
    "noisy",
    "below_zero",
}
MACHINE = {
    "cpus": 2,
    "torch": "2",
    "torch_threads": 2,
    "python": "3",
    "platform": "p",
    "load_average": None,
    "time_utc": "t",
}


def ttsint(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*ttsint_command(), *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=1800,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )


@pytest.fixture(scope="session")
def quick(tmp_path_factory) -> tuple[dict, Path, subprocess.CompletedProcess[str]]:
    """One `ttsint bench --quick` run for the whole session (it takes about a minute on a quiet machine)."""
    where = tmp_path_factory.mktemp("bench")
    done = ttsint("bench", "--quick", "--json", "b.json", "--markdown", "b.md", "--plot", "b.png", cwd=where)
    assert done.returncode == 0, done.stderr
    return json.loads((where / "b.json").read_text()), where, done


@pytest.mark.slow
def test_json_document_has_machine_and_every_item(quick):
    doc, _, _ = quick
    assert doc["schema"] == SCHEMA and doc["quick"] is True and doc["addon"] == "en-rms"
    assert {"cpus", "torch", "torch_threads", "python", "platform", "load_average", "time_utc"} <= set(
        doc["machine"]
    )
    assert [item["id"] for item in doc["items"]] == list(ITEMS)
    for item in doc["items"]:
        assert set(item) == {"id", "title", "skipped", "seconds", "notes", "figures", "skipped_figures"}
        assert item["skipped"] or item["figures"], item["id"]
        for figure in item["figures"]:
            assert set(figure) == FIGURE_KEYS, figure
            assert isinstance(figure["value"], float) and isinstance(figure["ratio"], float)
            assert figure["met"] in (True, False, None)
            if figure["noisy"]:
                assert figure["met"] is None, figure


def test_every_timed_figure_shows_its_spread_over_repeats(quick):
    """Figures timed over repeats carry quartiles of what their target reads; the Markdown shows them."""
    doc, where, _ = quick
    timed = {"ttfa", "overhead", "streaming", "encoders"}
    text = (where / "b.md").read_text()
    for item in doc["items"]:
        if item["id"] not in timed or item["skipped"]:
            continue
        for f in item["figures"]:
            if f["params"].get("engine") in ("flite", "espeak-ng"):
                continue  # a peer is one process run per text
            sp = f["spread"]
            assert sp is not None and sp["n"] >= 3, f
            assert sp["min"] <= sp["p25"] <= sp["median"] <= sp["p75"] <= sp["max"], f
            assert f"(n={sp['n']})" in text


def test_without_the_quality_extra_wer_is_listed_as_skipped_with_its_install_command(quick):
    doc, where, _ = quick
    peers = next(i for i in doc["items"] if i["id"] == "peers")
    try:
        import pocketsphinx  # noqa: F401
    except ImportError:
        wer = [k for k in peers["skipped_figures"] if k["name"] == "WER ttsint"]
        assert wer and wer[0]["install"] == "pip install 'ttsint-bench[quality]'"
        assert "skipped: WER ttsint" in (where / "b.md").read_text()
    else:
        assert any(f["name"] == "WER ttsint" for f in peers["figures"])


def test_every_figure_is_a_ratio_against_a_named_baseline(quick):
    doc, _, _ = quick
    for item in doc["items"]:
        for f in item["figures"]:
            assert f["baseline"] and f["baseline_value"] > 0, f
            assert f["ratio"] == pytest.approx(f["value"] / f["baseline_value"])


def test_overhead_per_chunk_is_measured_over_many_chunks(quick):
    doc, _, _ = quick
    item = next(i for i in doc["items"] if i["id"] == "overhead")
    figure = next(f for f in item["figures"] if f["name"].startswith("overhead per chunk"))
    assert figure["unit"] == "us" and figure["target"] == "<= 100" and figure["target_of"] == "value"
    p = figure["params"]
    assert p["chunks"] >= 20 and p["n_repeats"] >= 5 and p["context_frames"] > 0
    assert p["min"] <= p["p25"] <= figure["value"] <= p["p75"] <= p["max"]
    assert figure["spread"]["n"] == p["n_repeats"]


def test_markdown_and_plot_are_written(quick):
    doc, where, done = quick
    text = (where / "b.md").read_text()
    assert text == markdown(doc)
    assert text in done.stdout
    for item in doc["items"]:
        assert f"## {item['title']}" in text
    assert (where / "b.png").read_bytes().startswith(PNG)


def test_figure_targets_read_the_ratio_or_the_value():
    assert Figure("a", 1.0, "s", "b", 2.0, "<= 0.6").met is True
    assert Figure("a", 1.0, "s", "b", 2.0, "<= 0.4").met is False
    assert Figure("a", 150.0, "us", "b", 1000.0, "<= 100", target_of="value").met is False
    assert Figure("a", 2.0, "PESQ", "b", 1.9, ">= 1.0").met is True
    assert Figure("a", 2.0, "s", "b", 1.0).met is None


def test_a_figure_whose_spread_exceeds_its_effect_is_noisy_and_claims_nothing():
    item = Item("overhead", "Overhead")
    # a cost of -18.8 us whose repeats run from -60 to +40: no saving can be read from it
    cost = item.add("overhead per chunk", -18.8, "us", "loop", 1000.0, "<= 100", target_of="value",
                    repeats=[-60.0, -30.0, -18.8, 10.0, 40.0])
    assert cost.noisy is True and cost.met is None
    # a cost clearly below zero: the two sides did not do the same work
    negative = item.add("per chunk, other runtimes", -7000.0, "us", "loop", 13000.0, "<= 100",
                        target_of="value", repeats=[-7900.0, -7100.0, -7000.0, -6900.0, -6800.0])
    assert negative.noisy is False and negative.below_zero is True and negative.met is None
    # a ratio of 1.02 whose repeats spread 0.9 to 1.2 cannot be told from its baseline
    times = {"new": Samples([1.0, 1.2, 0.95, 1.1]), "base": Samples([1.0, 1.0, 1.0, 1.0])}
    ratio = item.add("streamed", times["new"], "s", "whole", times["base"], "<= 1.15")
    assert ratio.spread["n"] == 4 and ratio.noisy is True and ratio.met is None
    # a clear effect: every repeat about half the baseline
    clear = item.add("faster", Samples([0.5, 0.52, 0.49]), "s", "whole", Samples([1.0, 1.0, 1.0]), "<= 0.6")
    assert clear.noisy is False and clear.met is True
    single = item.add("peer", 2.0, "s", "whole", 1.0)
    assert single.spread is None and single.noisy is None
    text = markdown({"addon": "x", "quick": True, "items": [item.to_json()], "machine": MACHINE})
    row = next(line for line in text.splitlines() if line.startswith("| overhead per chunk"))
    assert "-18.8" not in row and "noisy" in row and "yes" not in row
    assert "| streamed |" in text and "noisy |" in text.split("| streamed |")[1].splitlines()[0]
    assert "1 run" in text and "(n=3)" in text
    row = next(line for line in text.splitlines() if line.startswith("| per chunk, other runtimes"))
    assert "-7000" not in row and "-7e+03" not in row and "not comparable" in row


def test_markdown_lists_figures_that_could_not_be_measured():
    item = Item("peers", "Peers")
    item.skip("WER ttsint", "pocketsphinx is not installed", "pip install 'ttsint-bench[quality]'")
    text = markdown({"addon": "x", "quick": True, "items": [item.to_json()], "machine": MACHINE})
    install = "`pip install 'ttsint-bench[quality]'`"
    assert f"skipped: WER ttsint (pocketsphinx is not installed): {install}" in text
    assert "## Not measured in this run" in text


def test_markdown_says_why_an_item_was_skipped():
    item = Item("neuron", "NeuronEncoders")
    item.skipped = "ttsint-inferentia is not installed"
    doc = {"addon": "x", "quick": True, "items": [item.to_json()], "machine": MACHINE}
    assert "Skipped: ttsint-inferentia is not installed." in markdown(doc)


def test_unknown_item_is_one_clear_error(tmp_path):
    done = ttsint("bench", "--only", "vocoders", cwd=tmp_path)
    assert done.returncode == 1
    assert "no bench item 'vocoders'" in done.stderr and "vocoder" in done.stderr
    assert "Traceback" not in done.stderr


def test_interleaved_samples_take_each_functions_own_time_without_a_clock() -> None:
    from ttsint_bench.figures import interleaved_samples, interleaved_seconds

    calls: list[str] = []

    def job(name: str, seconds: float):
        return lambda: calls.append(name) or seconds

    times = interleaved_samples({"a": job("a", 2.0), "b": job("b", 0.5)}, repeats=3, clock=None)
    assert times == {"a": [2.0] * 3, "b": [0.5] * 3}
    assert calls == ["a", "b"] * 4  # one warm-up round, then interleaved
    assert interleaved_seconds({"a": job("a", 3.0)}, repeats=2, clock=None)["a"] == 3.0

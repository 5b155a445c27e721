"""A run's three outputs: one JSON document, a Markdown table per item, and a PNG plot."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

__all__ = ["SCHEMA", "markdown", "plot", "write_json"]

SCHEMA = "ttsint-bench/1"


def write_json(doc: dict[str, Any], path: str | Path) -> None:
    Path(path).write_text(json.dumps(doc, indent=2) + "\n")


def _number(x: float) -> str:
    if x != x or x in (float("inf"), float("-inf")):
        return str(x)
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:.0f}"


def _spread(f: dict[str, Any]) -> str:
    """The quartiles over repeats of what the figure reads (its ratio, or its value), or "1 run"."""
    sp = f.get("spread")
    if not sp:
        return "1 run"
    unit = "" if f["target_of"] == "ratio" else f" {f['unit']}"
    return f"{_number(sp['p25'])} to {_number(sp['p75'])}{unit} (n={sp['n']})"


def _value(f: dict[str, Any]) -> str:
    """The value, unless it is a noisy cost (a median below zero inside its spread is no saving) or a cost
    below zero (the two sides did not do the same work)."""
    if f.get("below_zero"):
        return "below zero: not like for like"
    if f.get("noisy") and f["target_of"] == "value":
        return f"noisy (median {_number(f['value'])} {f['unit']})" if f["value"] >= 0 else "noisy"
    return f"{_number(f['value'])} {f['unit']}"


def markdown(doc: dict[str, Any]) -> str:
    """Every item as a table: figure, value, spread over repeats, baseline, ratio, target and whether it is
    met ("noisy" where the spread exceeds the effect); then each figure that could not be measured."""
    m = doc["machine"]
    lines = [
        f"# ttsint bench ({'quick' if doc['quick'] else 'full'}), addon {doc['addon']}",
        "",
        f"{m['cpus']} cores, torch {m['torch']} ({m['torch_threads']} threads), Python {m['python']}, "
        f"{m['platform']}; load average {m['load_average']}; {m['time_utc']}. Every ratio is against a "
        "baseline measured in the same run. The spread is the middle half (quartiles) over repeats of "
        "what the target reads; a figure whose spread is larger than its difference from the baseline "
        "is noisy: this run cannot tell the two apart, so no target is claimed met or missed for it.",
        "",
    ]
    skipped: list[str] = []
    for item in doc["items"]:
        lines += [f"## {item['title']}", ""]
        if item["skipped"]:
            lines += [f"Skipped: {item['skipped']}.", ""]
            continue
        if item["figures"]:
            lines += [
                "| figure | value | spread | baseline | ratio | target | met |",
                "| --- | --- | --- | --- | --- | --- | --- |",
            ]
            for f in item["figures"]:
                target = (
                    ""
                    if f["target"] is None
                    else f"{f['target']}" + (" (value)" if f["target_of"] == "value" else "")
                )
                met = ("not comparable" if f.get("below_zero") else "noisy" if f.get("noisy")
                       else {True: "yes", False: "**no**", None: ""}[f["met"]])
                hidden = f["target_of"] == "value" and f["value"] < 0
                lines.append(
                    f"| {f['name']} | {_value(f)} | {_spread(f)} | {f['baseline']}: "
                    f"{_number(f['baseline_value'])} | {'' if hidden else _number(f['ratio'])} | {target} "
                    f"| {met} |"
                )
            lines.append("")
        for k in item.get("skipped_figures", []):
            how = f": `{k['install']}`" if k.get("install") else ""
            lines.append(f"- skipped: {k['name']} ({k['reason']}){how}")
            skipped.append(f"{k['name']} ({k['reason']}){how}")
        lines += [f"- {note}" for note in item["notes"]]
        lines.append("")
    if skipped:
        lines += ["## Not measured in this run", ""] + [f"- {line}" for line in skipped] + [""]
    return "\n".join(lines).rstrip() + "\n"


def plot(doc: dict[str, Any], path: str | Path) -> None:
    """Time to first audio against text length per engine (left); every other ratio (right)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5.5), gridspec_kw={"width_ratios": [1, 1.3]})
    items = {i["id"]: i for i in doc["items"]}
    curves: dict[str, list[tuple[int, float]]] = {}
    for f in items.get("ttfa", {}).get("figures", []):
        curves.setdefault(f["params"]["engine"], []).append((f["params"]["words"], f["value"]))
    for engine, points in curves.items():
        points.sort()
        left.plot([p[0] for p in points], [p[1] for p in points], marker="o", label=engine)
    left.set_xscale("log")
    left.set_yscale("log")
    left.set_xlabel("words of text")
    left.set_ylabel("seconds to first audio")
    left.set_title("Time to first audio against text length")
    left.grid(True, which="both", alpha=0.3)
    if curves:
        left.legend()
    names, ratios, colours = [], [], []
    for item in doc["items"]:
        if item["id"] == "ttfa":
            continue
        for f in item["figures"]:
            if f["baseline"] == f["name"] or f["target_of"] == "value":
                continue
            names.append(f"{item['id']}: {f['name']}"[:60])
            ratios.append(f["ratio"])
            colours.append({True: "tab:green", False: "tab:red", None: "tab:gray"}[f["met"]])
            if f.get("noisy"):
                colours[-1] = "tab:orange"
    right.barh(range(len(ratios)), ratios, color=colours)
    right.set_yticks(range(len(ratios)), names, fontsize=7)
    right.invert_yaxis()
    right.axvline(1.0, color="black", linewidth=0.8)
    right.set_xscale("log")
    right.set_xlabel("ratio against the same-run baseline (green: target met, red: missed, orange: noisy, "
                     "grey: no target)")
    right.set_title("Ratios")
    m = doc["machine"]
    fig.suptitle(
        f"ttsint bench, addon {doc['addon']}: {m['cpus']} cores, torch {m['torch']}, {m['time_utc']}",
        fontsize=10,
    )
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)

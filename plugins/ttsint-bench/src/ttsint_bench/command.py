"""`ttsint bench`: run the suite and write its JSON document, Markdown tables and plot."""

from __future__ import annotations

from pathlib import Path

import click
import ttsint

__all__ = ["bench"]


@click.command()
@click.option(
    "--quick", is_flag=True, help="A short run (under a minute): fewer texts, repeats and sentences."
)
@click.option(
    "--addon", "addon_name", metavar="NAME|PATH", help="Addon to measure (default: the best installed)."
)
@click.option("--json", "json_path", type=click.Path(dir_okay=False), help="Write the JSON document here.")
@click.option(
    "--markdown", "markdown_path", type=click.Path(dir_okay=False), help="Write the Markdown tables here."
)
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), help="Write the PNG plot here.")
@click.option(
    "--only",
    metavar="ITEM,ITEM",
    help="Run these items only (ttfa, overhead, streaming, vocoder, encoders, neuron, memory, peers).",
)
def bench(
    quick: bool,
    addon_name: str | None,
    json_path: str | None,
    markdown_path: str | None,
    plot_path: str | None,
    only: str | None,
) -> None:
    """Benchmark an addon: every figure a ratio against a baseline measured in the same run."""
    from .report import markdown, plot, write_json
    from .suite import run_suite

    # Every argument is checked before anything is measured: a bad one fails in a second, not after the run.
    for flag, path in (("--json", json_path), ("--markdown", markdown_path), ("--plot", plot_path)):
        if path is not None:
            ttsint.check_output_path(path, flag)
    if plot_path is not None and Path(plot_path).suffix.lower() != ".png":
        raise ttsint.ConfigError("--plot", f"cannot draw {Path(plot_path).name!r}", "name a .png file")
    if only is not None and not only.strip():
        raise ttsint.ConfigError("--only", "names no item", "leave --only out to run every item")
    doc = run_suite(
        addon_name,
        quick,
        [name.strip() for name in only.split(",")] if only else None,
        progress=lambda line: click.echo(f"bench: {line}", err=True),
    )
    table = markdown(doc)
    if json_path:
        write_json(doc, json_path)
    if markdown_path:
        with open(markdown_path, "w") as f:
            f.write(table)
    if plot_path:
        plot(doc, plot_path)
    click.echo(table)
    for path in (json_path, markdown_path, plot_path):
        if path:
            click.echo(f"wrote {path}", err=True)

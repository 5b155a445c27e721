"""The ``ttsint`` command: inspect plugins and blocks, check addons, synthesize."""

from __future__ import annotations

import dataclasses
import json
import sys
import traceback
from collections.abc import Sequence
from typing import Any

import click

from .errors import ConfigError, TTSIntError
from .overrides import parse_override
from .registry import get_registry
from .scaffold import KINDS
from .stack import block_parameters, format_tree

__all__ = ["cli", "main", "run"]


def _overrides(values: Sequence[str]) -> dict[str, Any]:
    return dict(parse_override(v) for v in values)


set_option = click.option("--set", "sets", multiple=True, metavar="KEY=VALUE",
                          help="Override a config value by dotted path, e.g. stack.0.sequence_block.type=X.")
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
runtime_option = click.option("--runtime", metavar="NAME|JSON",
                              help="Run every network on this runtime (e.g. onnxruntime, or "
                                   "'{\"type\": \"onnxruntime\", \"threads\": 2}'); "
                                   "`ttsint runtimes` lists them.")
device_option = click.option("--device", metavar="DEVICE",
                             help="Run every network on this device (cpu, cuda, cuda:1, mps).")


def _runtime_value(text: str | None) -> Any:
    """``--runtime``: a name, or a JSON table with ``type`` and options."""
    if text is None or not text.lstrip().startswith("{"):
        return text
    try:
        return json.loads(text)
    except ValueError as exc:
        raise ConfigError("--runtime", f"neither a runtime name nor valid JSON: {exc}",
                          "e.g. --runtime onnxruntime, or --runtime '{\"type\": \"onnxruntime\", "
                          "\"threads\": 2}'") from exc


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
@click.version_option(package_name="ttsint", prog_name="ttsint")
def cli(debug: bool) -> None:
    """Integrate and stream text-to-speech models built from SequenceBlocks and StreamableBlocks."""


def _block_rows() -> list[dict[str, Any]]:
    rows = []
    for reg in get_registry().iter_blocks():
        row: dict[str, Any] = {"name": reg.name, "kind": "?", "plugin": reg.plugin,
                               "distribution": reg.distribution, "version": reg.version, "doc": ""}
        try:
            cls = reg.load()
            row["kind"] = getattr(cls, "kind", "?")
            row["doc"] = ((cls.__doc__ or "").strip().splitlines() or [""])[0]
        except TTSIntError as exc:
            row["error"] = str(exc)
            row["doc"] = "cannot be imported (see --json)"
        rows.append(row)
    return rows


def _table(rows: list[dict[str, Any]], columns: Sequence[str]) -> str:
    widths = {c: max([len(c)] + [len(str(r.get(c) or "")) for r in rows]) for c in columns[:-1]}
    lines = ["  ".join(c.upper().ljust(widths.get(c, 0)) for c in columns).rstrip()]
    for r in rows:
        lines.append("  ".join(str(r.get(c) or "").ljust(widths.get(c, 0)) for c in columns).rstrip())
    return "\n".join(lines)


@cli.command()
@json_option
def blocks(as_json: bool) -> None:
    """List every block type that configs can name."""
    rows = _block_rows()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(_table(rows, ["name", "kind", "distribution", "version", "doc"]))
    _warn_failures()


@cli.command()
@json_option
def plugins(as_json: bool) -> None:
    """List loaded plugins with their versions, and plugins that failed to load."""
    reg = get_registry()
    rows = [{"name": p.name, "distribution": p.distribution, "version": p.version,
             "status": "ok" if p.ok else "failed", "error": p.error,
             **({"traceback": p.traceback} if p.traceback else {})} for p in reg.plugins]
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(_table(rows, ["name", "distribution", "version", "status", "error"]))


@cli.command()
@json_option
def addons(as_json: bool) -> None:
    """List addons that installed plugins register by name."""
    rows = [{"name": r.name, "plugin": r.plugin, "distribution": r.distribution, "version": r.version,
             "path": str(r.target)} for regs in get_registry().addons.values() for r in regs]
    columns = ["name", "distribution", "version", "path"]
    click.echo(json.dumps(rows, indent=2) if as_json else _table(rows, columns))


@cli.command()
@json_option
def runtimes(as_json: bool) -> None:
    """List the runtimes that can execute an addon's networks, and the devices each can use here."""
    rows = []
    for reg in get_registry().iter_runtimes():
        row: dict[str, Any] = {"name": reg.name, "plugin": reg.plugin, "distribution": reg.distribution,
                               "version": reg.version, "devices": "", "fixed_shapes": False, "doc": ""}
        try:
            cls = reg.load()
            row["devices"] = ", ".join(cls.devices()) or "none here"
            row["fixed_shapes"] = bool(cls.fixed_shapes)
            row["device_types"] = list(cls.device_types)
            row["options"] = [p for p in block_parameters(cls)[0] if p != "device"]
            row["doc"] = ((cls.__doc__ or "").strip().splitlines() or [""])[0]
        except TTSIntError as exc:
            row["error"] = str(exc)
            row["doc"] = "cannot be imported (see --json)"
        rows.append(row)
    if as_json:
        click.echo(json.dumps(rows, indent=2))
    else:
        click.echo(_table(rows, ["name", "distribution", "version", "devices", "doc"]))
    _warn_failures()


@cli.command()
@click.argument("addon")
@set_option
@runtime_option
@device_option
def check(addon: str, sets: Sequence[str], runtime: str | None, device: str | None) -> None:
    """Load ADDON (a directory or registered name), build its stack and print the block tree and where
    each network runs."""
    from .voice import Voice

    voice = Voice.load(addon, _overrides(sets), runtime=_runtime_value(runtime), device=device)
    a = voice.addon
    click.echo(f"addon {a.name} {a.version}  ({a.path})")
    click.echo(f"  sample_rate={a.sample_rate} n_mels={a.n_mels} hop_length={a.hop_length} "
               f"frontend={a.frontend.type_name} ({len(a.frontend.symbols)} symbols)")
    seg = voice.segment_settings
    limit = f"at most {seg.max_symbols} symbols ({seg.source})" if seg.max_symbols else "no symbol limit"
    click.echo(f"  segments: sentences of {limit}, {seg.pause:g} s pause between them")
    for net in a.networks.values():
        rf = f" receptive_field={net.receptive_field}" if net.receptive_field is not None else ""
        # load_addon refused any network whose bytes differ from its declared digest
        digest = f" sha256 {net.config['sha256'][:12]}… verified" if net.config.get("sha256") else ""
        click.echo(f"  network {net.name}: {net.role} {net.inputs} -> {net.outputs}{rf}{digest}")
        runs = [f"runs on {b.executable.runtime.describe()} (for {b.block_path})"
                for b in voice.bindings if b.network.name == net.name]
        for line in runs or ["not run by this stack"]:
            click.echo(f"    {line}")
    click.echo(format_tree(voice.block))
    _warn_failures()


@cli.command()
@click.argument("text", required=False)
@click.option("--text-file", type=click.Path(dir_okay=False, exists=True), metavar="PATH",
              help="Read the text from PATH (UTF-8), of any length, instead of TEXT.")
@click.option("--addon", "addon_name", metavar="NAME|PATH",
              help="Addon to speak with (default: the best installed).")
@set_option
@runtime_option
@device_option
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write .npy (frames [T, C]) or .wav, chunk by chunk as they arrive.")
@click.option("--timestamps", "timestamps", type=click.Path(dir_okay=False), metavar="PATH",
              help="Write each sentence's start and end (and each word's, where durations are known) "
                   "to PATH as JSON.")
@click.option("--stats", is_flag=True,
              help="Print segments, time to first chunk, gaps at sentence boundaries, total time, RTF, "
                   "and the blocks' own reports.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), metavar="PATH",
              help="Also draw the mel (the vocoder's input, if any) to PATH (.png; needs ttsint-dsp).")
@json_option
def synth(text: str | None, text_file: str | None, addon_name: str | None, sets: Sequence[str],
          runtime: str | None, device: str | None, output: str | None, timestamps: str | None, stats: bool,
          plot_path: str | None, as_json: bool) -> None:
    """Stream TEXT (or - for stdin, or --text-file PATH) through an addon's stack, sentence by sentence."""
    from .synth import synthesize_to

    if (text is None) == (text_file is None):
        raise click.UsageError("give the text to speak as TEXT, as - (standard input), "
                               "or with --text-file PATH")
    if text_file is not None:
        with open(text_file, encoding="utf-8", errors="replace") as f:
            text = f.read()
    elif text == "-":
        text = click.get_text_stream("stdin").read()
    assert text is not None
    # A plugin adds the `plot` command; check before synthesizing so a missing one fails fast.
    plot_command = cli.commands.get("plot") if plot_path else None
    if plot_path and plot_command is None:
        raise TTSIntError("--plot draws with the `plot` command of ttsint-dsp, which is not installed: "
                          "pip install ttsint-dsp")
    report = synthesize_to(text, addon_name, _overrides(sets), output, timestamps,
                           runtime=_runtime_value(runtime), device=device)
    if plot_command is not None:
        click.get_current_context().invoke(plot_command, source=text, output=plot_path, addon_name=addon_name,
                                           sets=sets)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    elif stats:
        click.echo(_stats_text(report))
    if output and not as_json:
        click.echo(f"wrote {output}", err=True)


def _stats_text(report: dict[str, Any]) -> str:
    gap = report["median_chunk_gap_ms"]
    boundary = report["max_boundary_gap_ms"]
    lines = [
        f"addon {report['addon']}: {report['frames']} frames of {report['output_kind'] or 'frames'} "
        f"in {report['chunks']} chunks, {report['segments']} segment(s), "
        f"{report['audio_seconds']:.2f} s of audio",
        f"first chunk {report['first_chunk_ms']:.1f} ms, total {report['total_ms']:.1f} ms, "
        f"real-time factor {report['rtf']:.3f}",
    ]
    if gap is not None or boundary is not None:
        shown = [f"{v:.1f} ms" if v is not None else "-" for v in (gap, boundary)]
        lines.append(f"gaps: median between chunks {shown[0]}, longest at a sentence boundary {shown[1]}")
    for path, figures in report.get("blocks", {}).items():
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in figures.items() if k != "type")
        lines.append(f"{path} ({figures['type']}): {shown}")
    for key, figures in report.get("networks", {}).items():
        block_path, _, name = key.rpartition(":")
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in figures.items())
        lines.append(f"network {name} ({block_path}): {shown}")
    return "\n".join(lines)


@cli.command("new-plugin")
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Directory to create ttsint-NAME/ in.")
@click.option("--kind", type=click.Choice(list(KINDS)), default="effect", show_default=True,
              help="The sample it starts from: " + "; ".join(f"{k}: {d}" for k, d in KINDS.items()))
def new_plugin(name: str, directory: str, kind: str) -> None:
    """Write a ready plugin distribution: pyproject, a sample of KIND, tests with ttsint.testing, README."""
    from .scaffold import new_plugin as scaffold

    path = scaffold(name, directory, kind)
    click.echo(f"wrote {path}\nnext: pip install -e {path} && (cd {path} && pytest)")


@cli.command()
@click.argument("addon")
@click.option("--vs", "configurations", multiple=True, required=True, metavar='"K=V ..."',
              help="One configuration: runtime=NAME, device=DEVICE and config overrides by dotted path "
                   "(e.g. \"runtime=onnxruntime stack.0.sequence_block.type=NeuronEncoders\"). Repeat it; "
                   "the first is the reference (with one --vs, the addon as configured is).")
@click.option("--texts", default="10", show_default=True, metavar="N|FILE",
              help="N generated English texts of 1 to 2,000 characters, or a file with one text per line.")
@click.option("--tolerance", default=1e-4, show_default=True, type=float,
              help="Largest absolute difference allowed from the reference.")
@json_option
def verify(addon: str, configurations: Sequence[str], texts: str, tolerance: float, as_json: bool) -> int:
    """Synthesize the same texts under each configuration and compare each output with the first.

    Prints the largest absolute difference of the mel (of the waveform when the stack makes no mel)
    from the reference, and exits 1 when any exceeds --tolerance.
    """
    from .verify import parse_configuration, read_texts, verify_addon

    configs = [parse_configuration(c) for c in configurations]
    if len(configs) == 1:
        configs.insert(0, parse_configuration(""))
    inputs = read_texts(texts)
    rows = verify_addon(addon, configs, inputs, tolerance)
    failed = [r for r in rows if not r.passed]
    if as_json:
        click.echo(json.dumps({"addon": addon, "texts": len(inputs), "tolerance": tolerance,
                               "rows": [dataclasses.asdict(r) for r in rows]}, indent=2))
    else:
        lengths = sorted(len(t) for t in inputs)
        click.echo(f"verify {addon}: {len(inputs)} texts of {lengths[0]}-{lengths[-1]} characters, "
                   f"{rows[0].compared} compared with the first configuration, tolerance {tolerance:g}")
        table = [{"configuration": r.label,
                  "max_abs_diff": "reference" if r.max_diff is None else f"{r.max_diff:.3g}",
                  "worst_text": "" if r.worst_text is None else r.worst_text + 1, "frames": r.frames,
                  "result": "" if r.max_diff is None else "ok" if r.passed else "DIFFERS"} for r in rows]
        click.echo(_table(table, ["configuration", "max_abs_diff", "worst_text", "frames", "result"]))
        for r in failed:
            click.echo(f"{r.label}: {r.error or f'differs by {r.max_diff:.3g} (> {tolerance:g})'}", err=True)
    return 1 if failed else 0


def _warn_failures() -> None:
    for p in get_registry().failures:
        click.echo(f"warning: plugin {p.name!r} ({p.distribution}) failed to load: {p.error}", err=True)


def _add_plugin_commands() -> None:
    registry = get_registry()
    if not getattr(registry, "commands_added", False):
        registry.commands_added = True  # type: ignore[attr-defined]
        registry.add_commands(cli)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 ok, 1 user error, 2 wrong usage."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        _add_plugin_commands()
        result = cli.main(args=args, prog_name="ttsint", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        return 1
    except TTSIntError as exc:
        if "--debug" in _global_options(args):
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        return 1
    return result if isinstance(result, int) else 0


def _global_options(args: list[str]) -> list[str]:
    """The options given before the subcommand (where --debug belongs)."""
    head = []
    for arg in args:
        if not arg.startswith("-"):
            break
        head.append(arg)
    return head


def main() -> None:
    sys.exit(run())

"""The ``ttsint`` command: inspect plugins and blocks, check addons, synthesize.

``make_cli`` builds the click group: core's commands, then each plugin's, added once through the
``ttsint_register_commands`` hook. Only click, pluggy and the registry load at start-up; torch and
block modules load inside the commands that need them, so ``ttsint --help`` starts fast.
"""

from __future__ import annotations

import atexit
import contextlib
import dataclasses
import json
import logging
import os
import sys
import threading
import time
import traceback
import unicodedata
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import click

from ._errors import ConfigError, TTSIntError
from ._overrides import parse_override
from ._registry import Registry, get_registry
from ._scaffold import KINDS

__all__ = ["make_cli", "main", "run", "set_option", "json_option"]


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


def _check_option(option: str, value: Any, hint: type, **meta: Any) -> None:
    """An option's value checked by ``validate`` (the one check, msgspec's), as ``hint`` within ``meta``'s
    bounds: a ConfigError naming the option and saying what it takes (``meta["description"]``)."""
    from typing import Annotated

    from msgspec import Meta

    from ._schema import validate

    validate(value, Annotated[hint, Meta(**meta)], option)


class _Group(click.Group):
    """The ``ttsint`` group: an unknown command that a first-party plugin provides says what to install."""

    def __init__(self, registry: Registry, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.registry = registry

    def resolve_command(self, ctx: click.Context, args: list[str]) -> Any:
        name = args[0] if args else ""
        if name and name not in self.commands:
            hint = self.registry.first_party_hint(self.registry.commands, name)
            if hint:
                ctx.fail(f"No such command {name!r}. {hint}")
        found = super().resolve_command(ctx, args)
        # Strict mode fails every command but these, so that a user can always see what is broken.
        if found[0] != "plugins" and not {"-h", "--help"} & set(found[2]):
            self.registry.check_strict()
            # Core's commands warn when they end; a plugin's (serve, bench, ...) may run for hours, or
            # fail because of the broken plugin, so its user is told first.
            if found[0] in self.registry.commands:
                _warn_failures(self.registry)
        return found


def make_cli(registry: Registry | None = None) -> click.Group:
    """The ``ttsint`` group with core's commands and every plugin's; the commands hook runs once, here.

    A plugin adds commands by implementing ``ttsint_register_commands(cli)`` and calling
    ``cli.add_command(command)``; its command module should import heavy packages inside the command.
    """
    registry = registry or get_registry()

    @click.group(cls=_Group, registry=registry, context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("--debug", is_flag=True, help="Show tracebacks for errors.")
    @click.version_option(package_name="ttsint", prog_name="ttsint")
    def cli(debug: bool) -> None:
        """Integrate and stream text-to-speech models built from SequenceBlocks and StreamableBlocks."""
        if not debug:  # torch's own warnings and deserialization tracebacks stay off the terminal
            logging.getLogger("torch").setLevel(logging.CRITICAL)

    for command in (addons, blocks, check, new_plugin, plugins, runtimes, synth, verify, voices):
        cli.add_command(command)
    registry.add_commands(cli)
    return cli


@contextlib.contextmanager
def _flag_errors() -> Iterator[None]:
    """Errors in the voice-wide runtime or device name the flag that gave it (--runtime, --device)."""
    try:
        yield
    except ConfigError as exc:
        if exc.source != "voice":
            raise
        flag = "--device" if exc.path.startswith("device") else "--runtime"
        raise ConfigError(flag, exc.message, exc.hint) from exc


def _read_text(data: bytes, where: str) -> str:
    """Decode UTF-8 with a clear error; NUL and other control characters (not newlines) are dropped."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = data[exc.start:exc.start + 4]
        raise TTSIntError(f"{where} is not valid UTF-8 (byte {exc.start}: {bad!r}); "
                          "save or pipe the text as UTF-8") from None
    return _drop_controls(text)


def _drop_controls(text: str) -> str:
    return "".join(c for c in text if c in "\n\r\t" or unicodedata.category(c) != "Cc")


def _block_rows() -> list[dict[str, Any]]:
    from ._catalog import block_summary

    rows = []
    for reg in get_registry().iter_blocks():
        row: dict[str, Any] = {"name": reg.name, "kind": "?", "plugin": reg.plugin,
                               "distribution": reg.distribution, "version": reg.version, "doc": ""}
        found = block_summary(reg.target, reg.name)
        if found is not None:
            row["kind"], row["doc"] = found
        else:  # the plugin ships no names.toml entry for it: import the class to ask it
            try:
                row["kind"], row["doc"] = block_summary(reg.load(), reg.name) or ("?", "")
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


def _listing(rows: list[dict[str, Any]], as_json: bool, columns: Sequence[str]) -> None:
    """Print a listing command's rows: every field as JSON, or the named columns as a table."""
    click.echo(json.dumps(rows, indent=2) if as_json else _table(rows, columns))


@click.command()
@json_option
def blocks(as_json: bool) -> None:
    """List every block type that configs can name."""
    _listing(_block_rows(), as_json, ["name", "kind", "distribution", "version", "doc"])
    _warn_failures()


@click.command()
@json_option
def plugins(as_json: bool) -> None:
    """List loaded plugins with their versions, and plugins that failed to load."""
    reg = get_registry()
    rows = [{"name": p.name, "distribution": p.distribution, "version": p.version,
             "status": "ok" if p.ok else "failed", "error": p.error,
             **({"traceback": p.traceback} if p.traceback else {})} for p in reg.plugins]
    _listing(rows, as_json, ["name", "distribution", "version", "status", "error"])


@click.command()
@json_option
def addons(as_json: bool) -> None:
    """List addons that installed plugins register by name."""
    rows = [{"name": r.name, "plugin": r.plugin, "distribution": r.distribution, "version": r.version,
             "path": str(r.target)} for regs in get_registry().addons.values() for r in regs]
    _listing(rows, as_json, ["name", "distribution", "version", "path"])


@click.command()
@json_option
def voices(as_json: bool) -> None:
    """List the voices that can speak: name, language, sample rate, architecture (the block types its stack
    runs) and licence of every installed addon, read from its config without loading a network."""
    from ._addon import voice_summary

    rows = []
    for name, regs in sorted(get_registry().addons.items()):
        for reg in regs:
            row: dict[str, Any] = {"name": name if len(regs) == 1 else reg.qualified_name,
                                   "distribution": reg.distribution}
            try:
                row.update(voice_summary(Path(reg.load())))
            except TTSIntError as exc:
                row["error"] = str(exc)
                row["architecture"] = "cannot be read (see --json)"
            rows.append(row)
    _listing(rows, as_json, ["name", "language", "sample_rate", "architecture", "license"])
    _warn_failures()


@click.command()
@json_option
def runtimes(as_json: bool) -> None:
    """List the runtimes that can execute an addon's networks, and the devices each can use here."""
    from ._instantiate import constructor_parameters

    rows = []
    for reg in get_registry().iter_runtimes():
        row: dict[str, Any] = {"name": reg.name, "plugin": reg.plugin, "distribution": reg.distribution,
                               "version": reg.version, "devices": "", "fixed_shapes": False, "doc": ""}
        try:
            cls = reg.load()
            row["devices"] = ", ".join(cls.devices()) or "none here"
            row["fixed_shapes"] = bool(cls.fixed_shapes)
            row["device_types"] = list(cls.device_types)
            row["options"] = [p for p in constructor_parameters(cls)[0] if p != "device"]
            row["doc"] = ((cls.__doc__ or "").strip().splitlines() or [""])[0]
        except TTSIntError as exc:
            row["error"] = str(exc)
            row["doc"] = "cannot be imported (see --json)"
        rows.append(row)
    _listing(rows, as_json, ["name", "distribution", "version", "devices", "doc"])
    _warn_failures()


@click.command()
@click.argument("addon")
@set_option
@runtime_option
@device_option
def check(addon: str, sets: Sequence[str], runtime: str | None, device: str | None) -> None:
    """Load ADDON (a directory or registered name), build its stack and print the block tree and where
    each network runs."""
    from ._stack import format_tree
    from ._voice import Voice

    with _flag_errors():
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


@click.command()
@click.argument("text", required=False)
@click.option("--text-file", type=click.Path(dir_okay=False, exists=True), metavar="PATH",
              help="Read the text from PATH (UTF-8), of any length, instead of TEXT.")
@click.option("--addon", "addon_name", metavar="NAME|PATH",
              help="Addon to speak with (default: the best installed).")
@set_option
@runtime_option
@device_option
@click.option("-o", "--output", type=click.Path(dir_okay=False),
              help="Write .wav, or .npy of what the stack outputs: mel frames [T, n_mels] or waveform "
                   "samples [N, 1] (see --output-kind), chunk by chunk as they arrive.")
@click.option("--output-kind", type=click.Choice(["mel", "waveform"]),
              help="What to write: mel (the stack's mel, before any vocoder, which then does not run) or "
                   "waveform (refused when the stack makes no audio). Default: what the stack ends with.")
@click.option("--max-chars", type=int, metavar="N",
              help="Refuse text longer than N characters before any work (the addon's own limit, "
                   "limits.max_text_chars, applies as well).")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress line and no 'wrote' lines on standard error (errors still print).")
@click.option("--timestamps", "timestamps", type=click.Path(dir_okay=False), metavar="PATH",
              help="Write each sentence's start and end (and each word's, where durations are known) "
                   "to PATH as JSON.")
@click.option("--stats", is_flag=True,
              help="Print segments, time to first chunk, gaps at sentence boundaries, total time, RTF, "
                   "and the blocks' own reports.")
@click.option("--plot", "plot_path", type=click.Path(dir_okay=False), metavar="PATH",
              help="Also draw the mel (the vocoder's input, if any) of this run to PATH (.png, .svg or .pdf "
                   "with ttsint-dsp).")
@click.option("--ssml", is_flag=True,
              help="Read the text as SSML (also when it starts with <speak): <voice name> switches voices, "
                   "--addon speaks the rest; --timestamps adds <mark> times (docs/ssml.md).")
@click.option("--sample-rate", type=click.IntRange(8000, 192000), metavar="HZ",
              help="With SSML: the output's rate (default: the first voice's).")
@json_option
def synth(text: str | None, text_file: str | None, addon_name: str | None, sets: Sequence[str],
          runtime: str | None, device: str | None, output: str | None, output_kind: str | None,
          max_chars: int | None, quiet: bool, timestamps: str | None, stats: bool, plot_path: str | None,
          ssml: bool, sample_rate: int | None, as_json: bool) -> None:
    """Stream TEXT (or - for stdin, or --text-file PATH) through an addon's stack, sentence by sentence.

    On a terminal, one line shows the sentences done, the seconds of audio made and the real-time
    factor while it works (--quiet hides it); --stats and --json report the same figures at the end.
    """
    _warn_failures()
    if (text is None) == (text_file is None):
        raise click.UsageError("give the text to speak as TEXT, as - (standard input), "
                               "or with --text-file PATH")
    if addon_name is not None and not addon_name.strip():
        raise ConfigError("--addon", "the addon name is empty",
                          "name an addon (`ttsint voices` lists them), or leave --addon out for the best one")
    if max_chars is not None:
        _check_option("--max-chars", max_chars, int, ge=1, description="a positive number of characters")
    if text_file is not None:
        try:
            text = _read_text(Path(text_file).read_bytes(), f"--text-file {text_file}")
        except OSError as exc:
            raise TTSIntError(f"--text-file {text_file}: {exc.strerror or exc}") from None
    elif text == "-":
        text = _read_text(click.get_binary_stream("stdin").read(), "standard input")
    else:
        text = _drop_controls(_argument_text(text, "TEXT"))
    assert text is not None
    if max_chars is not None and len(text) > max_chars:
        raise ConfigError("--max-chars", f"the text has {len(text):,} characters, more than --max-chars "
                          f"{max_chars:,}", "shorten it, split it over several calls, or raise --max-chars")
    # Text that opens as XML (a declaration or a DOCTYPE) is meant as SSML too: spoken as plain text, a
    # refused DTD would be read aloud instead of refused. Plain text does not import the SSML module.
    if ssml or text.lstrip().startswith("<"):
        from ._ssml import is_ssml, parse_ssml

        if ssml or is_ssml(text) or text.lstrip().startswith(("<?xml", "<!DOCTYPE", "<!doctype")):
            parse_ssml(text)  # DTDs, entities, malformed XML, oversize documents fail here, before any voice
            _speak_document(text, addon_name, output, timestamps, sample_rate, as_json, quiet)
            return
    from ._addon import default_addon, load_addon

    begin = time.perf_counter()
    with _flag_errors():  # no torch yet: the addon's config and the --set values it checks fail here
        addon = load_addon(addon_name or default_addon(), _overrides(sets))
    addon_ms = 1000 * (time.perf_counter() - begin)
    from ._synth import synthesize_to

    with _flag_errors(), _progress_line(text, quiet) as progress:
        report = synthesize_to(text, addon, None, output, timestamps,  # type: ignore[arg-type]
                               runtime=_runtime_value(runtime), device=device, plot=plot_path,
                               output_kind=output_kind, progress=progress)
    report["load_ms"] = report.get("load_ms", 0.0) + addon_ms
    if as_json:
        click.echo(json.dumps(report, indent=2))
    elif stats:
        click.echo(_stats_text(report))
    if not as_json and not quiet:
        if output:
            click.echo(f"wrote {output}{_holds(report, output)}", err=True)
        if plot_path:
            click.echo(f"wrote {plot_path}", err=True)


def _speak_document(text: str, voice: str | None, output: str | None, timestamps: str | None,
                    sample_rate: int | None, as_json: bool, quiet: bool) -> None:
    """``synth`` for an SSML document: one stream over its voices; warnings and what was written on stderr."""
    from ._document import speak_to

    report = speak_to(text, voice, output, timestamps, sample_rate=sample_rate)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    if not quiet:
        for warning in report["warnings"]:
            click.echo(f"ttsint: warning: {warning}", err=True)
        for what in ("output", "timestamps"):
            if what in report and not as_json:
                click.echo(f"wrote {report[what]}", err=True)


def _holds(report: dict[str, Any], output: str) -> str:
    """What a written .npy holds, so that nobody has to guess between mel frames and samples."""
    if not output.lower().endswith(".npy"):
        return ""
    if report.get("output_kind") == "waveform":
        return f": waveform samples [{report['frames']}, {report['channels']}] at {report['sample_rate']} Hz"
    kind = "mel frames" if report.get("output_kind") == "mel" else "frames"
    return f": {kind} [{report['frames']}, {report['channels']}], one every {report['hop_length']} samples"


@contextlib.contextmanager
def _progress_line(text: str, quiet: bool) -> Iterator[Any]:
    """A progress callback drawing one line on standard error when it is a terminal, else None."""
    stream = sys.stderr
    if quiet or not stream.isatty():
        yield None
        return
    from ._progress import ProgressLine, count_sentences

    line = ProgressLine(count_sentences(text), stream)
    try:
        yield line
    finally:
        line.close()


def _argument_text(text: str, name: str) -> str:
    """A command-line argument as text; bytes that are not UTF-8 (kept as surrogates) are an error."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        try:
            bad = repr(os.fsencode(text[exc.start:exc.start + 4]))
        except UnicodeEncodeError:
            bad = repr(text[exc.start:exc.start + 4])
        raise ConfigError(name, f"is not valid UTF-8 (character {exc.start}: {bad})",
                          "pass the text as UTF-8, or pipe it with - or --text-file") from None
    return text


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
    if report.get("load_ms") is not None:  # before the synthesis figures above began
        lines.insert(1, f"load {report['load_ms']:.1f} ms (addon, networks, stack), then synthesis:")
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


@click.command("new-plugin")
@click.argument("name")
@click.option("--dir", "directory", default=".", show_default=True, type=click.Path(file_okay=False),
              help="Directory to create ttsint-NAME/ in.")
@click.option("--kind", type=click.Choice(list(KINDS)), default="effect", show_default=True,
              help="The sample it starts from: " + "; ".join(f"{k}: {d}" for k, d in KINDS.items()))
def new_plugin(name: str, directory: str, kind: str) -> None:
    """Write a ready plugin distribution: pyproject, a sample of KIND, tests with ttsint.testing, README."""
    from ._scaffold import new_plugin as scaffold

    path = scaffold(name, directory, kind)
    click.echo(f"wrote {path}\nnext: pip install -e {path} && (cd {path} && pytest)")


@click.command()
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
    from ._verify import parse_configuration, read_texts, verify_addon

    _warn_failures()
    _check_option("--tolerance", tolerance, float, ge=0, le=sys.float_info.max,
                  description="a finite number >= 0")
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


def _warn_failures(registry: Registry | None = None) -> None:
    """One ``warning:`` line on stderr per plugin that failed to load."""
    for line in (registry or get_registry()).failure_lines():
        click.echo(f"warning: {line}", err=True)


def run(argv: Sequence[str] | None = None) -> int:
    """Run the CLI and return its exit code: 0 ok, 1 user error, 2 wrong usage."""
    args = list(sys.argv[1:] if argv is None else argv)
    ctx: click.Context | None = None
    try:
        cli = make_cli()
        ctx = cli.make_context("ttsint", args)
        with ctx:
            result = cli.invoke(ctx)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:  # one paragraph, like every other error
        where = exc.ctx.command_path if exc.ctx is not None else "ttsint"
        click.echo(f"error: {exc.format_message()}\n  see: {where} --help", err=True)
        return exc.exit_code
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:
        click.echo("aborted", err=True)
        return 1
    except TTSIntError as exc:
        if ctx is not None and ctx.params.get("debug"):
            traceback.print_exc()
        click.echo(f"error: {exc}", err=True)
        return 1
    except OSError as exc:  # a file the user named cannot be read or written
        if ctx is not None and ctx.params.get("debug"):
            traceback.print_exc()
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(f"error: {where}{exc.strerror or exc}", err=True)
        return 1
    return result if isinstance(result, int) else 0


def main() -> None:
    """The ``ttsint`` command (console script and ``python -m ttsint``): ``run``, then exit with its code."""
    # NumPy's OpenBLAS runs a thread per core and spins each one ~0.1 s after every product; the CLI's
    # products are small (PGHI's mel inverse), and the spinning cost a cold `ttsint synth` ~150 ms of CPU
    # (benchmarks/RESULTS.md, "Cold start, session 7"). One thread, unless the user chose otherwise.
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    _exit(run())


def _exit(code: int) -> None:
    """End the process with ``code``: once only the main thread is left, after the atexit handlers and a
    flush of standard output, without tearing the interpreter down (freeing every module and running the
    garbage collector over them took ~0.1 s of a cold `ttsint synth`, and writes nothing). Every file the
    commands write is closed by then; while another thread still runs, Python exits as usual."""
    main_thread = threading.main_thread()
    if any(t is not main_thread and not t.daemon for t in threading.enumerate()):
        sys.exit(code)
    atexit._run_exitfuncs()  # what the interpreter would run first (logging's flush, coverage's save)
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except (AttributeError, OSError, ValueError):
        sys.exit(code)  # e.g. a closed pipe: Python's own exit reports it as usual
    os._exit(code)

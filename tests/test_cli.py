"""The ``ttsint`` command, run through ``ttsint.cli.run`` (what the console script calls) and as a process."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
from conftest import TINY_CONFIG, PluginVenv, write_addon
from ttsint import Registry, sha256_hex
from ttsint.cli import run


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = run(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_check_prints_the_addon_networks_and_block_tree(
    capsys: pytest.CaptureFixture[str], tiny_addon: Path, global_registry: Registry
) -> None:
    code, out, err = _run(capsys, "check", str(tiny_addon))
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"addon tiny 0.0.1  ({tiny_addon.resolve()})"
    assert lines[1] == "  sample_rate=8000 n_mels=4 hop_length=2 frontend=characters (34 symbols)"
    assert lines[2] == ("  segments: sentences of at most 4096 symbols (the export bound of "
                        "networks.encoder), 0.25 s pause between them")
    def verified(name: str) -> str:
        return f"sha256 {sha256_hex((tiny_addon / name).read_bytes())[:12]}… verified"

    decoder = f"  network decoder: decoder ['frames'] -> ['mel'] receptive_field=5 {verified('decoder.pt2')}"
    assert decoder in lines
    assert f"  network postnet: postnet ['mel'] -> ['mel'] {verified('postnet.pt')}" in lines
    assert lines[-5:] == [
        "StreamableStack [streamable, ttsint]",
        f"├─ stack[0]: StreamablePipeline [streamable, ttsint {metadata.version('ttsint')}]",
        "│  ├─ sequence_block: ToyEncoder [sequence]",
        "│  └─ streamable_block: ToyUpsample [streamable]",
        "└─ stack[1]: ToyDecoder [streamable]",
    ]


def test_check_set_overrides_and_appends(
    capsys: pytest.CaptureFixture[str], tiny_addon: Path, global_registry: Registry
) -> None:
    code, out, err = _run(
        capsys,
        "check",
        str(tiny_addon),
        "--set",
        "stack.2.type=ToyGain",
        "--set",
        "stack.0.sequence_block.type=ToyEmbed",
        "--set",
        "stack.0.sequence_block.dim=8",
    )
    assert (code, err) == (0, "")
    assert out.splitlines()[-4:] == [
        "│  ├─ sequence_block: ToyEmbed [sequence]",
        "│  └─ streamable_block: ToyUpsample [streamable]",
        "├─ stack[1]: ToyDecoder [streamable]",
        "└─ stack[2]: ToyGain [streamable]",
    ]


def test_blocks_json_lists_core_types_with_distribution_ttsint(
    capsys: pytest.CaptureFixture[str], global_registry: Registry
) -> None:
    code, out, _ = _run(capsys, "blocks", "--json")
    assert code == 0
    rows = {r["name"]: r for r in json.loads(out)}
    version = metadata.version("ttsint")
    assert rows["StreamableStack"] | {"doc": ""} == {
        "name": "StreamableStack",
        "kind": "streamable",
        "plugin": "ttsint",
        "distribution": "ttsint",
        "version": version,
        "doc": "",
    }
    assert rows["SequenceBlockContainer"]["kind"] == "sequence"
    assert rows["StreamablePipeline"]["doc"].startswith(
        "Exactly one sequence block feeding one streamable block"
    )
    assert rows["ToyGain"]["plugin"] == "toy" and rows["ToyGain"]["kind"] == "streamable"
    code, out, _ = _run(capsys, "blocks")
    assert code == 0
    assert out.splitlines()[0].split() == ["NAME", "KIND", "DISTRIBUTION", "VERSION", "DOC"]


def test_plugins_json(capsys: pytest.CaptureFixture[str], global_registry: Registry) -> None:
    code, out, _ = _run(capsys, "plugins", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["name"], r["status"]) for r in rows] == [("ttsint", "ok"), ("toy", "ok")]


def _bad_addon(tmp_path: Path, tiny_addon: Path, dotted: str, value: Any) -> Path:
    config = copy.deepcopy(TINY_CONFIG)
    node: Any = config
    *parents, last = dotted.split(".")
    for part in parents:
        node = node[int(part)] if isinstance(node, list) else node[part]
    if value is None:
        del node[last]
    else:
        node[last] = value
    return write_addon(tmp_path / "bad", config, networks_from=tiny_addon)


@pytest.mark.parametrize(
    ("dotted", "value", "expected"),
    [
        (
            "stack.0.streamable_block",
            {"type": "StreamableStack", "stack": [{"type": "ToyUpsample"}, {"type": "Gain"}]},
            "stack[0].streamable_block.stack[1].type: unknown streamable block type 'Gain'",
        ),
        ("stack.1.type", "NeuronDecoder", "pip install ttsint-inferentia"),
        (
            "stack.0.sequence_block",
            {"type": "ToyUpsample"},
            "stack[0].sequence_block.type: 'ToyUpsample' is a streamable block, "
            "but this slot expects a sequence block",
        ),
        ("stack.1.chunk", 4, "stack[1].chunk: ToyDecoder has no parameter 'chunk'"),
        ("hop_length", None, "hop_length: missing"),
        (
            "networks.decoder.receptive_field",
            True,
            "networks.decoder.receptive_field: expected a non-negative integer",
        ),
        ("frontend.type", "phonemes", "frontend.type: unknown front end 'phonemes'"),
    ],
)
def test_user_errors_print_one_message_and_exit_1(
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    tiny_addon: Path,
    global_registry: Registry,
    dotted: str,
    value: Any,
    expected: str,
) -> None:
    directory = _bad_addon(tmp_path, tiny_addon, dotted, value)
    code, out, err = _run(capsys, "check", str(directory))
    assert code == 1
    assert out == "" or out.startswith("addon tiny")  # a front-end error comes after the header
    assert err.startswith("error: ") and expected in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["check", "{addon}", "--set", "stack.1.type"],
            "error: --set: expected KEY=VALUE, got 'stack.1.type'",
        ),
        (
            ["check", "{addon}", "--set", "stack.9.type=ToyGain"],
            "error: stack.9: index 9 is out of range for a list of 2\n  use 2 to append",
        ),
        (["check", "no-such-addon-anywhere"], "error: no addon directory or registered addon named"),
    ],
)
def test_bad_arguments_that_are_user_errors_exit_1(
    capsys: pytest.CaptureFixture[str],
    tiny_addon: Path,
    global_registry: Registry,
    args: list[str],
    expected: str,
) -> None:
    code, _, err = _run(capsys, *(a.format(addon=tiny_addon) for a in args))
    assert code == 1
    assert err.startswith(expected)


def test_debug_shows_the_traceback(
    capsys: pytest.CaptureFixture[str], tiny_addon: Path, global_registry: Registry
) -> None:
    code, _, err = _run(capsys, "--debug", "check", str(tiny_addon), "--set", "stack.1.type=ToyDecodr")
    assert code == 1
    assert err.startswith("Traceback (most recent call last):")
    assert "ttsint._errors.ConfigError" in err
    assert "error: " in err and "stack[1].type: unknown streamable block type 'ToyDecodr'" in err


@pytest.mark.parametrize(
    "args",
    [[], ["nosuchcommand"], ["check"], ["check", "x", "--set"], ["blocks", "--jsn"], ["--debgu", "blocks"]],
)
def test_wrong_usage_exits_2(
    capsys: pytest.CaptureFixture[str], global_registry: Registry, args: list[str]
) -> None:
    code, _, err = _run(capsys, *args)
    assert code == 2
    assert "Usage: ttsint" in err or (err.startswith("error: ") and "--help" in err)


def test_help_and_version_exit_0(capsys: pytest.CaptureFixture[str], global_registry: Registry) -> None:
    code, out, _ = _run(capsys, "--help")
    assert code == 0 and "check" in out and "blocks" in out
    code, out, _ = _run(capsys, "--version")
    assert (code, out.strip()) == (0, f"ttsint, version {metadata.version('ttsint')}")


def test_real_process_prints_user_errors_without_traceback(
    plugin_venv: PluginVenv, tmp_path: Path, tiny_addon: Path
) -> None:
    directory = _bad_addon(tmp_path, tiny_addon, "stack.0.sequence_block.type", "ToyEncodr")
    done = plugin_venv.cli("check", str(directory), TTSINT_DISABLE_PLUGINS="broken")
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr.startswith(
        f"error: {directory.resolve()}: stack[0].sequence_block.type: "
        "unknown sequence block type 'ToyEncodr'\n  did you mean 'ToyEncoder'"
    )
    assert "Traceback" not in done.stderr


_IMPORTED = """
import sys
from ttsint.cli import run
code = run(sys.argv[1:])
from ttsint import get_registry
modules = {r.target.partition(":")[0] for r in get_registry().iter_blocks() if isinstance(r.target, str)}
blocks = [m for m in modules if m in sys.modules]
print("torch" in sys.modules, sorted(blocks), code, file=sys.stderr)
"""


@pytest.mark.parametrize("args", [["--help"], ["plugins"], ["blocks"], ["addons"], ["--version"]])
def test_listing_commands_import_neither_torch_nor_block_modules(args: list[str]) -> None:
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", _IMPORTED, *args], capture_output=True, text=True,
                          timeout=120)
    assert done.stderr.splitlines()[-1] == "False [] 0", done.stderr


def test_blocks_reads_kind_and_summary_from_names_toml_as_the_classes_have_them() -> None:
    from ttsint import get_registry
    from ttsint._catalog import block_summary

    registry = get_registry()
    checked = 0
    for reg in registry.iter_blocks():
        if not isinstance(reg.target, str):
            continue
        cls = reg.load()
        doc = ((cls.__doc__ or "").strip().splitlines() or [""])[0]
        assert block_summary(reg.target, reg.name) == (cls.kind, doc), reg.name
        checked += 1
    assert checked >= 20


def test_make_cli_calls_the_commands_hook_once_and_adds_the_plugins_commands() -> None:
    import click
    import ttsint
    from ttsint.cli import make_cli

    calls: list[str] = []

    class CommandsPlugin:
        @ttsint.hookimpl
        def ttsint_register_commands(self, cli: click.Group) -> None:
            calls.append(cli.name or "")

            @click.command()
            def hello() -> None:
                """Say hello."""
                click.echo("hello")

            cli.add_command(hello)

    group = make_cli(Registry(load_entry_points=False, plugins={"greeter": CommandsPlugin()}))
    assert len(calls) == 1
    assert {"hello", "synth", "check", "blocks", "plugins", "addons"} <= set(group.commands)


def test_debug_is_read_from_the_click_context_not_from_argv(
    capsys: pytest.CaptureFixture[str], tiny_addon: Path, global_registry: Registry
) -> None:
    # "--debug" as a --set value is not the global option: no traceback.
    code, _, err = _run(capsys, "check", str(tiny_addon), "--set", "stack.1.type=--debug")
    assert code == 1 and "Traceback" not in err
    code, _, err = _run(capsys, "--debug", "check", str(tiny_addon), "--set", "stack.1.type=ToyDecodr")
    assert code == 1 and "Traceback" in err


def test_a_first_party_command_that_is_not_installed_says_what_to_install(
    capsys: pytest.CaptureFixture[str], global_registry: Registry
) -> None:
    code, _, err = _run(capsys, "serve")
    assert code == 2
    assert "No such command 'serve'. 'serve' is provided by ttsint-serve: pip install ttsint-serve" in err


@pytest.mark.parametrize(("args", "message"), [
    (["synth", "hello", "--addon", "demo", "--max-chars", "0"],
     "error: --max-chars: expected a positive number of characters, got 0"),
    (["synth", "hello", "--addon", "demo", "--max-chars", "-5"],
     "error: --max-chars: expected a positive number of characters, got -5"),
    (["verify", "demo", "--vs", "runtime=torch", "--tolerance", "-1"],
     "error: --tolerance: expected a finite number >= 0, got -1.0"),
    (["verify", "demo", "--vs", "runtime=torch", "--tolerance", "nan"],
     "error: --tolerance: expected a finite number >= 0, got nan"),
    (["verify", "demo", "--vs", "runtime=torch", "--tolerance", "inf"],
     "error: --tolerance: expected a finite number >= 0, got inf"),
])
def test_option_values_are_checked_before_any_work(capsys: pytest.CaptureFixture[str], args: list[str],
                                                   message: str) -> None:
    code, _, err = _run(capsys, *args)
    assert code == 1 and err.strip() == message


_EXIT_PROBE = """\
import atexit, os, sys, threading
atexit.register(lambda: print("atexit", os.environ.get("OPENBLAS_NUM_THREADS"), file=sys.stderr, flush=True))
if sys.argv[1] == "thread":  # a thread that still runs: Python must exit as usual, after it
    threading.Thread(target=lambda: (threading.Event().wait(0.5), print("thread done", flush=True))).start()
sys.argv[1:] = sys.argv[2:]
from ttsint.cli import main
main()
print("not reached")
"""


@pytest.mark.slow
@pytest.mark.parametrize("case", ["done", "thread", "error", "blas-set"])
def test_main_ends_the_process_after_atexit_with_the_commands_code(tmp_path: Path, case: str) -> None:
    """main() skips the interpreter's teardown (~0.1 s of a cold synth) but not atexit, nor the code;
    it runs NumPy's OpenBLAS on one thread unless the user chose a count."""
    args = ["synth", "Hello.", "--addon", "no-such-voice"] if case == "error" else ["--version"]
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if case == "blas-set":
        env["OPENBLAS_NUM_THREADS"] = "2"
    done = subprocess.run([sys.executable, "-c", _EXIT_PROBE, case, *args], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == (1 if case == "error" else 0), done.stderr
    assert "not reached" not in done.stdout
    assert f"atexit {'2' if case == 'blas-set' else '1'}" in done.stderr
    assert ("thread done" in done.stdout) == (case == "thread")
    if case == "error":
        assert "no addon directory or registered addon named 'no-such-voice'" in done.stderr
    else:
        assert done.stdout.startswith("ttsint, version")

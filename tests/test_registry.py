"""The registry: pluggy hooks, entry points, lazy targets, failed plugins and name collisions."""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import toyblocks
import ttsint
from conftest import BROKEN, OTHERGAIN, THROWAWAY, PluginVenv
from ttsint import ConfigError, PluginError, Registry, build_stack


class _Plugin:
    """A hook-implementing object, registered with pluggy like a plugin module."""

    def __init__(self, blocks: dict[str, Any] | None = None, fail: str | None = None) -> None:
        self._blocks = blocks or {}
        self._fail = fail

    @ttsint.hookimpl
    def ttsint_register_blocks(self, register: Callable[[str, Any], None]) -> None:
        for name, target in self._blocks.items():
            register(name, target)
        if self._fail:
            raise RuntimeError(self._fail)


# -- in process ----------------------------------------------------------------------------------

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"


def test_core_registers_its_structural_blocks_as_a_plugin_of_itself() -> None:
    registry = Registry(load_entry_points=False)
    assert [p.name for p in registry.plugins] == ["ttsint"]
    for name, cls in [
        ("SequenceBlockContainer", ttsint.SequenceBlockContainer),
        ("StreamableStack", ttsint.StreamableStack),
        ("StreamablePipeline", ttsint.StreamablePipeline),
    ]:
        (reg,) = registry.blocks[name]
        assert (reg.plugin, reg.distribution, reg.version) == ("ttsint", "ttsint", metadata.version("ttsint"))
        assert reg.load() is cls
    assert registry.frontends["characters"][0].load() is ttsint.CharacterFrontend


def test_plugin_module_blocks_resolve_by_name(toy_registry: Registry) -> None:
    reg = toy_registry.find(toy_registry.blocks, "ToyGain", what="block type", path="stack[0].type")
    assert reg.load() is toyblocks.ToyGain
    assert reg.plugin == "toy"
    block = build_stack({"type": "ToyGain", "gain": 0.5}, registry=toy_registry)
    assert isinstance(block, toyblocks.ToyGain) and block.gain == 0.5


def test_lazy_target_is_imported_only_when_a_config_uses_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = "ttsint_test_lazy_target"
    (tmp_path / f"{module}.py").write_text(
        "import ttsint\n\nclass Lazy(ttsint.StreamableBlock):\n    'Imported on first use.'\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, module, raising=False)
    registry = Registry(load_entry_points=False, plugins={"lazy": _Plugin({"Lazy": f"{module}:Lazy"})})
    assert module not in sys.modules
    block = build_stack([{"type": "Lazy"}], registry=registry)
    assert module in sys.modules
    assert type(block).__name__ == "Lazy" and type(block).__module__ == module


def test_lazy_target_that_cannot_be_imported_is_a_config_error_at_the_type() -> None:
    registry = Registry(
        load_entry_points=False, plugins={"ghosts": _Plugin({"Ghost": "no_such_module_x:Ghost"})}
    )
    with pytest.raises(ConfigError) as info:
        build_stack([{"type": "Ghost"}], registry=registry)
    assert info.value.path == "stack[0].type"
    assert "'Ghost' from plugin 'ghosts'" in str(info.value)
    assert "ModuleNotFoundError" in str(info.value)


def test_target_that_is_not_a_block_is_rejected() -> None:
    registry = Registry(load_entry_points=False, plugins={"odd": _Plugin({"Odd": "collections:OrderedDict"})})
    with pytest.raises(ConfigError, match=r"'Odd' from .* is not a ttsint Block") as info:
        build_stack([{"type": "Odd"}], registry=registry)
    assert info.value.path == "stack[0].type"


def test_a_hook_that_raises_is_reported_and_the_rest_still_resolves(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TTSINT_STRICT_PLUGINS", raising=False)
    registry = Registry(
        load_entry_points=False,
        plugins={
            "good": _Plugin({"ToyGain": toyblocks.ToyGain}),
            "bad": _Plugin({"Half": toyblocks.ToyGain}, fail="hook exploded"),
        },
    )
    (failed,) = registry.failures
    assert failed.name == "bad"
    assert failed.error == "ttsint_register_blocks raised RuntimeError: hook exploded"
    assert "Traceback" in (failed.traceback or "")
    assert isinstance(build_stack({"type": "ToyGain"}, registry=registry), toyblocks.ToyGain)
    with pytest.raises(ConfigError) as info:
        build_stack([{"type": "ToyGian"}], registry=registry)
    text = str(info.value)
    assert "did you mean 'ToyGain'?" in text
    assert (
        "plugin 'bad' (None) failed to load: ttsint_register_blocks raised RuntimeError: hook exploded"
        in text
    )


def test_strict_plugins_makes_a_failing_hook_fatal_where_stacks_are_built(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TTSINT_STRICT_PLUGINS", "1")
    registry = Registry(load_entry_points=False, plugins={"bad": _Plugin(fail="hook exploded")})
    assert registry.failures  # recorded, so that `ttsint plugins` can still list it
    message = re.escape("plugin 'bad' (None) failed to load: ttsint_register_blocks raised RuntimeError: "
                        "hook exploded")
    with pytest.raises(PluginError, match=message):
        registry.check_strict()
    with pytest.raises(PluginError, match=message):
        build_stack({"type": "StreamableStack", "stack": []}, registry=registry)


@pytest.mark.parametrize(("value", "strict"), [("1", True), ("true", True), ("YES", True), (" on ", True),
                                                ("0", False), ("false", False), ("No", False), ("off", False),
                                                ("", False)])
def test_strict_plugins_reads_the_usual_boolean_spellings(monkeypatch: pytest.MonkeyPatch, value: str,
                                                          strict: bool) -> None:
    monkeypatch.setenv("TTSINT_STRICT_PLUGINS", value)
    registry = Registry(load_entry_points=False, plugins={"bad": _Plugin(fail="hook exploded")})
    if strict:
        with pytest.raises(PluginError):
            registry.check_strict()
    else:
        registry.check_strict()


def test_an_unknown_boolean_spelling_is_an_error_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTSINT_STRICT_PLUGINS", "maybe")
    with pytest.raises(ConfigError) as info:
        Registry(load_entry_points=False).check_strict()
    assert info.value.path == "TTSINT_STRICT_PLUGINS"
    assert "expected a boolean, got 'maybe'" in str(info.value) and "0 (or false, no, off)" in str(info.value)


class _Misspelled:
    """Implements ``ttsint_register_block`` (no s): without a check it would register nothing, silently."""

    @ttsint.hookimpl
    def ttsint_register_block(self, register: Callable[[str, Any], None]) -> None:
        register("Lost", toyblocks.ToyGain)


class _NoArguments:
    """Declares none of the hook's arguments: pluggy passes only what an implementation names."""

    calls = 0

    @ttsint.hookimpl
    def ttsint_register_frontends(self) -> None:
        _NoArguments.calls += 1


def test_a_misspelled_hook_is_reported_by_ttsint_plugins(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    from ttsint.cli import run

    monkeypatch.delenv("TTSINT_STRICT_PLUGINS", raising=False)
    plugins = {"typo": _Misspelled(), "good": _Plugin({"G": toyblocks.ToyGain})}
    ttsint.reset_registry(lambda: Registry(plugins=plugins))
    try:
        assert run(["plugins", "--json"]) == 0
        rows = {r["name"]: r for r in json.loads(capsys.readouterr().out)}
        assert rows["typo"]["status"] == "failed"
        assert "'ttsint_register_block' (did you mean 'ttsint_register_blocks'?)" in rows["typo"]["error"]
        assert rows["good"]["status"] == "ok"
        assert run(["plugins"]) == 0
        assert "ttsint_register_block" in capsys.readouterr().out
        assert "Lost" not in ttsint.get_registry().blocks and "G" in ttsint.get_registry().blocks
    finally:
        ttsint.reset_registry()


def test_synth_prints_one_line_per_failed_plugin_and_still_speaks(monkeypatch: pytest.MonkeyPatch, capsys,
                                                                  tmp_path: Path) -> None:
    from ttsint.cli import run

    monkeypatch.delenv("TTSINT_STRICT_PLUGINS", raising=False)
    plugins = {"bad": _Plugin(fail="hook exploded"), "typo": _Misspelled()}
    ttsint.reset_registry(lambda: Registry(plugins=plugins))
    try:
        assert run(["synth", "hello", "--addon", "demo", "-o", str(tmp_path / "x.npy")]) == 0
        warnings = [line for line in capsys.readouterr().err.splitlines() if line.startswith("warning:")]
        assert [w.split(":")[1] for w in warnings] == [" plugin 'bad' (None) failed to load",
                                                      " plugin 'typo' (None) failed to load"]
        assert (tmp_path / "x.npy").is_file()
    finally:
        ttsint.reset_registry()


def test_strict_plugins_makes_a_misspelled_hook_fatal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TTSINT_STRICT_PLUGINS", "1")
    registry = Registry(load_entry_points=False, plugins={"typo": _Misspelled()})
    with pytest.raises(PluginError, match="plugin 'typo' .* implements 'ttsint_register_block'"):
        registry.check_strict()


class _Commands:
    """Adds click commands to the CLI, as a plugin's ``ttsint_register_commands`` does."""

    def __init__(self, *names: str) -> None:
        self.names = names

    @ttsint.hookimpl
    def ttsint_register_commands(self, cli: Any) -> None:
        import click

        for name in self.names:
            cli.add_command(click.Command(name, callback=lambda: click.echo("taken over")))


def test_a_plugin_command_is_told_of_failed_plugins_before_it_runs(monkeypatch: pytest.MonkeyPatch,
                                                                    capsys) -> None:
    # serve and bench run for minutes or hours, or fail because a plugin is broken: warn first.
    from ttsint.cli import run

    monkeypatch.delenv("TTSINT_STRICT_PLUGINS", raising=False)
    plugins = {"bad": _Plugin(fail="hook exploded"), "cmds": _Commands("hello")}
    ttsint.reset_registry(lambda: Registry(load_entry_points=False, plugins=plugins))
    try:
        assert run(["hello"]) == 0
        out, err = capsys.readouterr()
        assert out == "taken over\n"
        assert err.startswith("warning: plugin 'bad' (None) failed to load: ")
        assert run(["hello", "--help"]) == 0 and "warning:" not in capsys.readouterr().err
        monkeypatch.setenv("TTSINT_STRICT_PLUGINS", "1")
        assert run(["hello"]) == 1
        out, err = capsys.readouterr()
        assert out == "" and err.startswith("error: plugin 'bad' (None) failed to load: ")
    finally:
        ttsint.reset_registry()


def test_a_plugin_command_never_replaces_a_built_in_or_another_plugins() -> None:
    from ttsint.cli import make_cli, synth

    registry = Registry(load_entry_points=False, plugins={
        "first": _Commands("hello"), "thief": _Commands("synth", "hello", "own")})
    cli = make_cli(registry)
    assert cli.commands["synth"] is synth
    assert [r.plugin for r in registry.commands["hello"]] == ["first"]
    assert [r.plugin for r in registry.commands["own"]] == ["thief"]  # its other commands still work
    (failed,) = registry.failures
    assert failed.name == "thief"
    (line,) = registry.failure_lines()
    assert line.startswith("plugin 'thief' (None) failed to load: command 'hello' collides with plugin "
                           "'first' (None); command 'synth' collides with the built-in command of ttsint")


def test_hooks_are_called_with_only_the_arguments_an_implementation_declares() -> None:
    before = _NoArguments.calls
    registry = Registry(load_entry_points=False, plugins={"bare": _NoArguments()})
    assert _NoArguments.calls == before + 1 and not registry.failures


def names_mismatches(registry: Registry, declared: Any) -> list[str]:
    """Where a plugin's names.toml and what its distribution registers disagree."""
    from ttsint._catalog import TABLES

    dist, out = declared.distribution, []
    for table in TABLES:
        found = {r.name for regs in getattr(registry, table).values() for r in regs if r.distribution == dist}
        dynamic = table in declared.dynamic and declared.names(table) <= found
        if found != declared.names(table) and not dynamic:
            out.append(f"{declared.path} [{table}]: registers {sorted(found)}, "
                       f"declares {sorted(declared.names(table))}")
    for name, info in declared.tables.get("blocks", {}).items():
        regs = [r for r in registry.blocks.get(name, []) if r.distribution == dist]
        if regs:
            cls = regs[0].load()
            doc = ((cls.__doc__ or "").strip().splitlines() or [""])[0]
            if (info.get("kind"), info.get("summary")) != (cls.kind, doc):
                out.append(f"{declared.path} [blocks.{name}]: the class says {cls.kind!r}, {doc!r}")
    return out


@pytest.fixture(scope="module")
def full_registry() -> Registry:
    from ttsint.cli import make_cli

    registry = Registry()
    make_cli(registry)  # fills registry.commands
    return registry


def test_each_first_party_plugin_declares_in_its_names_toml_exactly_what_it_registers(
        full_registry: Registry) -> None:
    from ttsint._catalog import first_party, package_names

    declared = {p.distribution: p for p in first_party()}
    in_repo = {d.name for d in PLUGINS.iterdir() if (d / "pyproject.toml").is_file()}
    assert set(declared) == in_repo, "every plugin under plugins/ ships src/<package>/names.toml"
    declared["ttsint"] = package_names("ttsint")  # core registers its containers the same way
    installed = ({p.distribution for p in full_registry.plugins} & in_repo) | {"ttsint"}
    assert len(installed) >= 7, "the first-party plugins are not installed"
    problems = [m for dist in sorted(installed) for m in names_mismatches(full_registry, declared[dist])]
    assert problems == [], "\n".join(problems)


def test_names_toml_disagreeing_with_its_plugin_fails_the_check(full_registry: Registry,
                                                                tmp_path: Path) -> None:
    from ttsint._catalog import read_names

    source = next(PLUGINS.glob("ttsint-dsp/src/*/names.toml")).read_text(encoding="utf-8")
    (tmp_path / "names.toml").write_text(source.replace("[blocks.Gain]", "[blocks.Gian]"), encoding="utf-8")
    problems = names_mismatches(full_registry, read_names(tmp_path / "names.toml"))
    assert len(problems) == 1 and "'Gain'" in problems[0] and "'Gian'" in problems[0], problems


def test_an_unknown_first_party_name_says_what_to_install() -> None:
    registry = Registry(load_entry_points=False)
    hint = "'NetworkVocoder' is provided by ttsint-dsp: pip install ttsint-dsp"
    with pytest.raises(ConfigError, match=hint):
        build_stack([{"type": "NetworkVocoder"}], registry=registry)


def test_two_plugins_registering_one_name_neither_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    class Other(toyblocks.ToyGain):
        pass

    registry = Registry(
        load_entry_points=False,
        plugins={
            "plugin-a": _Plugin({"ToyGain": toyblocks.ToyGain}),
            "plugin-b": _Plugin({"ToyGain": Other}),
        },
    )
    with pytest.raises(ConfigError) as info:
        build_stack([{"type": "ToyGain"}], registry=registry)
    assert info.value.path == "stack[0].type"
    assert "registered by more than one distribution" in info.value.message
    assert "plugin-a" in info.value.message and "plugin-b" in info.value.message
    assert info.value.hint == "write 'plugin-a:ToyGain' or 'plugin-b:ToyGain' to pick one"
    assert type(build_stack([{"type": "plugin-b:ToyGain"}], registry=registry)) is Other
    assert type(build_stack([{"type": "plugin-a:ToyGain"}], registry=registry)) is toyblocks.ToyGain


def _install_by_hand(site: Path, dist: str, version: str, entry: str, module: str, source: str) -> None:
    """A real (if minimal) installation: a module plus its .dist-info with METADATA and entry_points.txt."""
    (site / f"{module}.py").write_text(source, encoding="utf-8")
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n", encoding="utf-8"
    )
    (info / "entry_points.txt").write_text(f"[ttsint]\n{entry} = {module}\n", encoding="utf-8")


def test_two_distributions_with_one_entry_point_name_both_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin = (
        "import ttsint\n\n@ttsint.hookimpl\n"
        "def ttsint_register_blocks(register):\n    register({!r}, 'x:y')\n"
    )
    _install_by_hand(tmp_path, "dist-one", "1.0", "same", "dup_one_plugin", plugin.format("FromOne"))
    _install_by_hand(tmp_path, "dist-two", "2.0", "same", "dup_two_plugin", plugin.format("FromTwo"))
    monkeypatch.syspath_prepend(str(tmp_path))
    foreign = {ep.name for ep in metadata.entry_points(group="ttsint")} - {"same"}
    monkeypatch.setenv("TTSINT_DISABLE_PLUGINS", ",".join(foreign))
    monkeypatch.delenv("TTSINT_STRICT_PLUGINS", raising=False)
    registry = Registry()
    same = [p for p in registry.plugins if p.name == "same"]
    assert sorted((p.distribution, p.key, p.ok) for p in same) == [
        ("dist-one", "dist-one:same", True), ("dist-two", "dist-two:same", True)]
    assert [r.distribution for r in registry.blocks["FromOne"]] == ["dist-one"]
    assert [r.distribution for r in registry.blocks["FromTwo"]] == ["dist-two"]
    monkeypatch.setenv("TTSINT_DISABLE_PLUGINS", ",".join([*foreign, "dist-two:same"]))
    registry = Registry()
    assert [p.distribution for p in registry.plugins if p.name == "same"] == ["dist-one"]


def test_installed_plugins_are_read_back_until_a_distribution_changes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """importlib.metadata is asked once; later processes read its answer while sys.path holds the same
    distributions, and a distribution installed or edited since is found."""
    import os

    import ttsint._registry as module

    monkeypatch.setenv("TTSINT_CACHE_DIR", str(tmp_path / "cache"))
    asked: list[int] = []
    real = module._from_metadata
    monkeypatch.setattr(module, "_from_metadata", lambda: asked.append(1) or real())
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))

    def plugins_of_a_new_process() -> list[str]:
        monkeypatch.setattr(module, "_found", None)
        return sorted(p.key for p in Registry().plugins)

    first = plugins_of_a_new_process()
    assert plugins_of_a_new_process() == first and len(asked) == 1
    assert Registry().plugins[0].version == metadata.version("ttsint") and len(asked) == 1
    _install_by_hand(site, "dist-late", "1.0", "late", "late_plugin", "")
    assert "dist-late:late" in plugins_of_a_new_process() and len(asked) == 2
    listed = next(site.glob("*.dist-info")) / "entry_points.txt"
    listed.write_text("[ttsint]\nrenamed = late_plugin\n", encoding="utf-8")
    later = listed.stat().st_mtime_ns + 2_000_000_000  # an edit in place, on a coarse clock too
    os.utime(listed, ns=(later, later))
    found = plugins_of_a_new_process()
    assert "dist-late:renamed" in found and "dist-late:late" not in found and len(asked) == 3


def test_get_registry_is_created_once_and_reset_replaces_it() -> None:
    try:
        custom = Registry(load_entry_points=False)
        assert ttsint.reset_registry(lambda: custom) is custom
        assert ttsint.get_registry() is custom
        assert ttsint.get_registry() is custom
        assert ttsint.reset_registry() is None
        fresh = ttsint.get_registry()
        assert fresh is not custom and fresh is ttsint.get_registry()
    finally:
        ttsint.reset_registry()


# -- real distributions installed in a temporary venv ---------------------------------------------


@pytest.fixture(scope="module")
def resolved_in_venv(plugin_venv: PluginVenv) -> dict[str, Any]:
    """One Python process in the venv: what the registry imported, and how names resolve there."""
    return plugin_venv.python_json("""
        import json, sys
        import ttsint
        registry = ttsint.get_registry()
        (reg,) = registry.blocks["ToyDecoder"]
        loaded_registry = {
            "plugin": "throwaway_blocks.plugin" in sys.modules,
            "blocks": "throwaway_blocks.blocks" in sys.modules,
        }
        voice = ttsint.Voice.load("toy-voice")
        plain = voice.synthesize("hi there")
        picked = {}
        for name in ("ttsint-othergain:ToyGain", "ttsint_othergain:ToyGain", "othergain:ToyGain",
                     "ttsint-throwaway:ToyGain"):
            v = ttsint.Voice.load("toy-voice", {"stack.2.type": name})
            picked[name] = [type(v.block.stack[2]).__module__, v.block.stack[2].provided_by]
        doubled = ttsint.Voice.load("toy-voice", {"stack.2.type": "othergain:ToyGain"}).synthesize("hi there")
        errors = {}
        for name in ("ToyGain", "ToyDecodr"):
            try:
                ttsint.Voice.load("toy-voice", {"stack.2.type": name})
            except ttsint.ConfigError as exc:
                errors[name] = [exc.path, exc.message, exc.hint]
        print(json.dumps({
            "after_registry": loaded_registry,
            "after_config": "throwaway_blocks.blocks" in sys.modules,
            "registration": [reg.plugin, reg.distribution, reg.version, reg.target],
            "block_module": type(voice.block.stack[1]).__module__,
            "shape": list(plain.shape),
            "picked": picked,
            "doubled": bool((doubled == plain * 2).all()),
            "errors": errors,
        }))
    """)


def test_installed_plugin_is_lazy_until_a_config_uses_it(resolved_in_venv: dict[str, Any]) -> None:
    assert resolved_in_venv["after_registry"] == {"plugin": True, "blocks": False}
    assert resolved_in_venv["after_config"] is True
    assert resolved_in_venv["registration"] == [
        "throwaway",
        *THROWAWAY[:2],
        "throwaway_blocks.blocks:ToyDecoder",
    ]
    assert resolved_in_venv["block_module"] == "throwaway_blocks.blocks"
    assert resolved_in_venv["shape"] == [len("hi there") * 3, 4]


def test_collision_between_two_distributions_names_both(resolved_in_venv: dict[str, Any]) -> None:
    path, message, hint = resolved_in_venv["errors"]["ToyGain"]
    assert path == "stack[2].type"
    assert message == (
        "streamable block type 'ToyGain' is registered by more than one distribution: "
        "ttsint-othergain (plugin 'othergain'), ttsint-throwaway (plugin 'throwaway')"
    )
    assert hint == "write 'ttsint-othergain:ToyGain' or 'ttsint-throwaway:ToyGain' to pick one"


def test_dist_name_prefix_picks_one_of_the_colliding_blocks(resolved_in_venv: dict[str, Any]) -> None:
    assert resolved_in_venv["picked"] == {
        "ttsint-othergain:ToyGain": ["othergain.plugin", "ttsint-othergain 2.0.0"],
        "ttsint_othergain:ToyGain": ["othergain.plugin", "ttsint-othergain 2.0.0"],
        "othergain:ToyGain": ["othergain.plugin", "ttsint-othergain 2.0.0"],
        "ttsint-throwaway:ToyGain": ["throwaway_blocks.blocks", "ttsint-throwaway 0.3.1"],
    }
    assert resolved_in_venv["doubled"] is True


def test_unknown_type_names_the_plugin_that_failed_to_load(resolved_in_venv: dict[str, Any]) -> None:
    path, message, hint = resolved_in_venv["errors"]["ToyDecodr"]
    assert (path, message) == ("stack[2].type", "unknown streamable block type 'ToyDecodr'")
    assert "did you mean 'ToyDecoder'" in hint
    assert "plugin 'broken' (ttsint-broken) failed to load: RuntimeError: broken on purpose" in hint


def test_blocks_json_lists_installed_plugin_blocks_with_their_distribution(plugin_venv: PluginVenv) -> None:
    done = plugin_venv.cli("blocks", "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    by_key = {(r["name"], r["distribution"]): r for r in rows}
    encoder = by_key[("ToyEncoder", THROWAWAY[0])]
    assert encoder | {"doc": ""} == {
        "name": "ToyEncoder",
        "kind": "sequence",
        "plugin": "throwaway",
        "distribution": THROWAWAY[0],
        "version": THROWAWAY[1],
        "doc": "",
    }
    assert encoder["doc"] == "Runs the addon's encoder networks on the utterance's symbols."
    assert by_key[("ToyDecoder", THROWAWAY[0])]["kind"] == "streamable"
    for name in ("SequenceBlockContainer", "StreamableStack", "StreamablePipeline"):
        assert by_key[(name, "ttsint")]["plugin"] == "ttsint"
    assert by_key[("ToyGain", OTHERGAIN[0])]["version"] == OTHERGAIN[1]
    assert (
        "warning: plugin 'broken' (ttsint-broken) failed to load: RuntimeError: broken on purpose"
        in done.stderr
    )


def test_plugins_json_reports_the_failed_plugin_and_the_others_still_work(plugin_venv: PluginVenv) -> None:
    done = plugin_venv.cli("plugins", "--json")
    assert done.returncode == 0, done.stderr
    rows = {r["name"]: r for r in json.loads(done.stdout)}
    assert rows["broken"]["status"] == "failed"
    assert rows["broken"]["distribution"] == BROKEN[0]
    assert rows["broken"]["error"] == "RuntimeError: broken on purpose"
    assert 'raise RuntimeError("broken on purpose")' in rows["broken"]["traceback"]
    for name, (dist, version, _) in [("throwaway", THROWAWAY), ("othergain", OTHERGAIN)]:
        assert rows[name] | {"error": None} == {
            "name": name,
            "distribution": dist,
            "version": version,
            "status": "ok",
            "error": None,
        }
    assert rows["ttsint"]["status"] == "ok"


def test_check_uses_an_installed_plugin_and_its_registered_addon(plugin_venv: PluginVenv) -> None:
    done = plugin_venv.cli("check", "toy-voice")
    assert done.returncode == 0, done.stderr
    assert f"addon tiny 0.0.1  ({plugin_venv.addon.resolve()})" in done.stdout
    assert f"ToyEncoder [sequence, {THROWAWAY[0]} {THROWAWAY[1]}]" in done.stdout
    assert f"ToyDecoder [streamable, {THROWAWAY[0]} {THROWAWAY[1]}]" in done.stdout


def test_strict_plugins_makes_an_import_failure_fatal(plugin_venv: PluginVenv) -> None:
    done = plugin_venv.cli("blocks", TTSINT_STRICT_PLUGINS="1")
    assert done.returncode == 1
    assert done.stderr.strip() == ("error: plugin 'broken' (ttsint-broken) failed to load: "
                                   "RuntimeError: broken on purpose")
    assert "Traceback" not in done.stderr


def test_help_and_plugins_work_in_strict_mode_so_what_is_broken_shows(plugin_venv: PluginVenv) -> None:
    for args in (["--help"], ["synth", "--help"], ["plugins"]):
        done = plugin_venv.cli(*args, TTSINT_STRICT_PLUGINS="yes")
        assert done.returncode == 0, (args, done.stderr)
    assert "broken on purpose" in done.stdout


def test_strict_plugins_false_is_off_and_an_unknown_spelling_is_an_error(plugin_venv: PluginVenv) -> None:
    done = plugin_venv.cli("blocks", TTSINT_STRICT_PLUGINS="false")
    assert done.returncode == 0, done.stderr
    assert "warning: plugin 'broken' (ttsint-broken) failed to load" in done.stderr
    done = plugin_venv.cli("blocks", TTSINT_STRICT_PLUGINS="sometimes")
    assert done.returncode == 1
    assert done.stderr.startswith("error: TTSINT_STRICT_PLUGINS: expected a boolean, got 'sometimes'")


def test_disable_plugins_skips_a_plugin_by_entry_point_name(plugin_venv: PluginVenv) -> None:
    done = plugin_venv.cli("plugins", "--json", TTSINT_STRICT_PLUGINS="1", TTSINT_DISABLE_PLUGINS="broken")
    assert done.returncode == 0, done.stderr
    names = [r["name"] for r in json.loads(done.stdout)]
    assert "broken" not in names
    assert {"ttsint", "throwaway", "othergain"} <= set(names)


def test_a_block_that_fails_while_built_is_a_bug_naming_its_plugin(plugin_venv: PluginVenv) -> None:
    args = ("check", "toy-voice", "--set", "stack.0.sequence_block.type=ToyRatio",
            "--set", "stack.0.sequence_block.divisor=0")
    done = plugin_venv.cli(*args)
    assert done.returncode == 1 and "Traceback" not in done.stderr
    assert done.stderr.count("error:") == 1
    assert ("error: stack[0].sequence_block: ToyRatio from plugin 'throwaway' (ttsint-throwaway 0.3.1) "
            "raised ZeroDivisionError while being built: division by zero\n  this is a bug in ToyRatio, "
            "not in the config") in done.stderr
    assert "report it to ttsint-throwaway" in done.stderr
    debug = plugin_venv.cli("--debug", *args)
    assert debug.returncode == 1
    assert "Traceback" in debug.stderr and "self.scale = 1 / divisor" in debug.stderr
    assert plugin_venv.cli("check", "toy-voice", "--set", "stack.0.sequence_block.type=ToyRatio",
                           "--set", "stack.0.sequence_block.divisor=2").returncode == 0

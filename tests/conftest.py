"""Shared fixtures: a tiny addon with exported networks, a toy-block registry, a venv with real plugins."""

from __future__ import annotations

import copy
import json
import os
import shutil
import site
import subprocess
import sys
import textwrap
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import tomllib
import torch
import toyblocks
import ttsint

TESTS = Path(__file__).parent
SYMBOLS = "abcdefghijklmnopqrstuvwxyz '.,?!-"
HIDDEN = 8
N_MELS = 4

TINY_TOML = f"""\
name = "tiny"
version = "0.0.1"
sample_rate = 8000
n_mels = {N_MELS}
hop_length = 2

[frontend]
type = "characters"
symbols = "{SYMBOLS}"

[networks.encoder]
file = "encoder.pt2"
role = "encoder"
inputs = ["symbols"]
outputs = ["text_encoding"]

[networks.decoder]
file = "decoder.pt2"
role = "decoder"
inputs = ["frames"]
outputs = ["mel"]
receptive_field = 5

[networks.postnet]
file = "postnet.pt"
role = "postnet"
inputs = ["mel"]
outputs = ["mel"]

[[stack]]
type = "StreamablePipeline"
sequence_block = {{ type = "ToyEncoder" }}
streamable_block = {{ type = "ToyUpsample", repeat = 3, chunk_frames = 4 }}

[[stack]]
type = "ToyDecoder"
chunk_frames = 5
first_chunk_frames = 2
"""
TINY_CONFIG: dict[str, Any] = tomllib.loads(TINY_TOML)


class _Encoder(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(len(SYMBOLS) + 1, HIDDEN)
        self.proj = torch.nn.Linear(HIDDEN, HIDDEN)

    def forward(self, symbols: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.proj(self.embed(symbols)))


class _Decoder(torch.nn.Module):
    """A 5-tap convolution over time: receptive field 5, so 2 frames of context each side."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv1d(HIDDEN, N_MELS, kernel_size=5, padding=2)

    def forward(self, frames: torch.Tensor) -> torch.Tensor:
        return self.conv(frames.transpose(1, 2)).transpose(1, 2)


class _Postnet(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.proj = torch.nn.Linear(N_MELS, N_MELS)

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return mel + self.proj(mel)


@dataclass
class TinyModels:
    """The eager modules the tiny addon's files were exported from, for reference outputs."""

    encoder: torch.nn.Module
    decoder: torch.nn.Module
    postnet: torch.nn.Module


SLOW_FIXTURES = frozenset({
    "plugin_venv", "scaffolds",  # pip installs into a fresh venv
    "server", "default_server", "every_voice_server", "served", "ray_server",  # `ttsint serve` subprocesses
    "fuzz_results",  # hundreds of CLI runs
    "quick",  # tests/bench: one `ttsint bench --quick` run (a minute on a quiet machine)
})
"""A test that uses one of these is slow by what it sets up, whatever its body: it is marked so here,
so `pytest -m "not slow"` (the fast tier) leaves it out without each test having to say so."""


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def tiny_models() -> TinyModels:
    torch.manual_seed(0)
    return TinyModels(_Encoder().eval(), _Decoder().eval(), _Postnet().eval())


@pytest.fixture(scope="session")
def tiny_addon(tmp_path_factory: pytest.TempPathFactory, tiny_models: TinyModels) -> Path:
    """An addon directory: encoder and decoder from torch.export (dynamic length), a TorchScript postnet."""
    directory = tmp_path_factory.mktemp("tiny-addon")
    length = torch.export.Dim("length", min=1, max=4096)
    symbols = torch.randint(1, len(SYMBOLS) + 1, (1, 7))
    encoder = torch.export.export(tiny_models.encoder, (symbols,), dynamic_shapes=({1: length},))
    torch.export.save(encoder, directory / "encoder.pt2")
    frames = torch.randn(1, 9, HIDDEN)
    decoder = torch.export.export(tiny_models.decoder, (frames,), dynamic_shapes=({1: length},))
    torch.export.save(decoder, directory / "decoder.pt2")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(tiny_models.postnet).save(str(directory / "postnet.pt"))
    (directory / "addon.toml").write_text(TINY_TOML, encoding="utf-8")
    ttsint.stamp_digests(directory / "addon.toml")
    return directory


def write_addon(directory: Path, config: Any, *, networks_from: Path | None = None) -> Path:
    """Write ``config`` as addon.json into ``directory``, copying the network files of another addon.

    Networks whose spec has no ``sha256`` get the digest of the file they name, when it exists.
    """
    directory.mkdir(parents=True, exist_ok=True)
    if networks_from is not None:
        for file in networks_from.iterdir():
            if file.suffix in (".pt2", ".pt"):
                shutil.copy(file, directory / file.name)
    config = copy.deepcopy(config)
    networks = config.get("networks") if isinstance(config, dict) else None
    for spec in networks.values() if isinstance(networks, dict) else []:
        if isinstance(spec, dict) and "sha256" not in spec and isinstance(spec.get("file"), str):
            file = directory / spec["file"]
            if file.is_file():
                spec["sha256"] = ttsint.sha256_hex(file.read_bytes())
    (directory / "addon.json").write_text(json.dumps(config), encoding="utf-8")
    return directory


@pytest.fixture
def toy_registry() -> ttsint.Registry:
    """Core plus the toy blocks as a real pluggy plugin module; installed entry points are not scanned."""
    return ttsint.Registry(load_entry_points=False, plugins={"toy": toyblocks})


@pytest.fixture
def global_registry(toy_registry: ttsint.Registry) -> Iterator[ttsint.Registry]:
    """Make ``toy_registry`` the process-wide registry (what the CLI uses) for one test."""
    ttsint.reset_registry(lambda: toy_registry)
    try:
        yield toy_registry
    finally:
        ttsint.reset_registry()


# -- a temporary venv with real plugin distributions ------------------------------------------

CLI_SHIM = "import sys; sys.argv[0] = 'ttsint'; from ttsint.cli import main; main()"
THROWAWAY = ("ttsint-throwaway", "0.3.1", "throwaway")
OTHERGAIN = ("ttsint-othergain", "2.0.0", "othergain")
BROKEN = ("ttsint-broken", "0.0.1", "broken")
OUR_PLUGINS = {THROWAWAY[2], OTHERGAIN[2], BROKEN[2]}

_PYPROJECT = """\
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{dist}"
version = "{version}"
requires-python = ">=3.10"
dependencies = ["ttsint"]

[project.entry-points.ttsint]
{entry} = "{package}.plugin"

[tool.hatch.build.targets.wheel]
packages = ["src/{package}"]
"""

_THROWAWAY_PLUGIN = """\
from pathlib import Path

import ttsint

ADDON = Path({addon!r})


@ttsint.hookimpl
def ttsint_register_blocks(register):
    for name in ("ToyEncoder", "ToyEmbed", "ToyUpsample", "ToyDecoder", "ToyGain", "ToyRatio"):
        register(name, f"throwaway_blocks.blocks:{{name}}")


@ttsint.hookimpl
def ttsint_register_addons(register):
    register("toy-voice", ADDON)


@ttsint.hookimpl
def ttsint_register_runtimes(register):
    register("toy-runtime", "throwaway_blocks.runtime:ToyRuntime")
"""

_THROWAWAY_RUNTIME = '''\
import torch
import ttsint


class ToyExecutable(ttsint.Executable):
    def execute(self, tensors):
        self.stats.add(toy_calls=1)
        with torch.inference_mode():
            return self.network.module(*(tensors[n] for n in self.network.inputs))


class ToyRuntime(ttsint.Runtime):
    """A third party's runtime: the network's own module, counted."""

    name = "toy-runtime"

    def load(self, network):
        return ToyExecutable(network, self)
'''

_OTHERGAIN_PLUGIN = '''\
import ttsint


class ToyGain(ttsint.StreamableBlock):
    """Another distribution's ToyGain: doubles whatever it is given."""

    def stream(self, utt, upstream):
        for chunk in upstream:
            yield ttsint.Chunk(frames=chunk.frames * 2, start=chunk.start)


@ttsint.hookimpl
def ttsint_register_blocks(register):
    register("ToyGain", ToyGain)
'''

_BROKEN_PLUGIN = """\
raise RuntimeError("broken on purpose")
"""


def _write_distribution(root: Path, spec: tuple[str, str, str], package: str, files: dict[str, str]) -> Path:
    dist, version, entry = spec
    project = root / dist
    (project / "src" / package).mkdir(parents=True)
    (project / "pyproject.toml").write_text(
        _PYPROJECT.format(dist=dist, version=version, entry=entry, package=package), encoding="utf-8"
    )
    for name, text in {"__init__.py": "", **files}.items():
        (project / "src" / package / name).write_text(text, encoding="utf-8")
    return project


def _see_host_environment(python: Path) -> None:
    """Make a fresh venv see this interpreter's packages (torch, ttsint, hatchling) after its own.

    ``--system-site-packages`` would expose the *base* interpreter's packages, which lack them when the
    tests run inside a virtualenv; a ``.pth`` line that adds the host's site directories works both ways.
    """
    host = [*site.getsitepackages()]
    if site.ENABLE_USER_SITE and os.path.isdir(site.getusersitepackages()):
        host.append(site.getusersitepackages())
    purelib = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    line = f"import site; list(map(site.addsitedir, {host!r}))\n"
    (Path(purelib) / "_ttsint_host_env.pth").write_text(line, encoding="utf-8")


def host_venv(path: Path) -> Path:
    """Create a venv at ``path`` (without pip) that sees this interpreter's packages; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    python = path / "bin" / "python"
    _see_host_environment(python)
    return python


@dataclass
class PluginVenv:
    """A venv (seeing the system's torch and ttsint) with three throwaway plugin distributions installed."""

    python: Path
    addon: Path

    def env(self, **overrides: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TTSINT_")}
        # Plugins installed on the host (by other packages of this repo) would make results depend on
        # the machine; the tests see only their own plugins.
        foreign = {ep.name for ep in metadata.entry_points(group="ttsint")} - OUR_PLUGINS
        disabled = foreign | {p for p in overrides.pop("TTSINT_DISABLE_PLUGINS", "").split(",") if p}
        env["TTSINT_DISABLE_PLUGINS"] = ",".join(sorted(disabled))
        env.update(overrides)
        return env

    def cli(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        """Run ``ttsint ARGS`` (its console-script entry point, ttsint.cli:main) inside the venv."""
        return subprocess.run(
            [str(self.python), "-c", CLI_SHIM, *args],
            capture_output=True,
            text=True,
            env=self.env(**env),
            timeout=180,
        )

    def python_json(self, code: str, **env: str) -> Any:
        """Run a Python snippet inside the venv and parse the JSON it prints last."""
        done = subprocess.run(
            [str(self.python), "-c", textwrap.dedent(code)],
            capture_output=True,
            text=True,
            env=self.env(**env),
            timeout=180,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.fixture(scope="session")
def plugin_venv(tmp_path_factory: pytest.TempPathFactory, tiny_addon: Path) -> PluginVenv:
    root = tmp_path_factory.mktemp("plugins")
    projects = [
        _write_distribution(
            root,
            THROWAWAY,
            "throwaway_blocks",
            {
                "plugin.py": _THROWAWAY_PLUGIN.format(addon=str(tiny_addon)),
                "blocks.py": (TESTS / "toyblocks.py").read_text(encoding="utf-8"),
                "runtime.py": _THROWAWAY_RUNTIME,
            },
        ),
        _write_distribution(root, OTHERGAIN, "othergain", {"plugin.py": _OTHERGAIN_PLUGIN}),
        _write_distribution(root, BROKEN, "broken_plugin", {"plugin.py": _BROKEN_PLUGIN}),
    ]
    python = host_venv(root / "venv")
    # The venv has no pip of its own; the host's pip installs into it. No network: no index, no deps,
    # and hatchling comes from the system site-packages instead of an isolated build environment.
    install = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(python),
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--disable-pip-version-check",
            *map(str, projects),
        ],
        capture_output=True,
        text=True,
    )
    assert install.returncode == 0, install.stderr
    found = subprocess.run(
        [
            str(python),
            "-c",
            "import json; from importlib import metadata; print(json.dumps({ep.name: "
            "[ep.value, ep.dist.name, ep.dist.version] for ep in metadata.entry_points(group='ttsint')}))",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    entry_points = json.loads(found.stdout)
    assert entry_points["throwaway"] == ["throwaway_blocks.plugin", *THROWAWAY[:2]]
    assert entry_points["othergain"] == ["othergain.plugin", *OTHERGAIN[:2]]
    assert entry_points["broken"] == ["broken_plugin.plugin", *BROKEN[:2]]
    return PluginVenv(python, tiny_addon)


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ONNX cache for the session: each network is converted once, however many tests run it."""
    return tmp_path_factory.mktemp("onnx-cache")

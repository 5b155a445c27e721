"""The voice pool: every voice a service hosts, each an addon with its own overrides and built stack.

Voices build on background threads, several at once, so the service can answer liveness probes while
they load; a voice that fails is kept with its error (for ``/readyz``) and the others serve.
"""

from __future__ import annotations

import copy
import inspect
import logging
import os
import re
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from typing import Any

import ttsint

from .catalog import scrub, voice_card
from .errors import APIError
from .specs import VoiceSpec

__all__ = ["PaceUnsupported", "ServedVoice", "VoicePool"]

log = logging.getLogger("ttsint.serve")

PENDING, LOADING, READY, FAILED, SKIPPED = "pending", "loading", "ready", "failed", "skipped"
_PACED_CACHE = 8
_ON_DEMAND = 8
"""Voices made for a name only a request gave (a Kokoro mix) kept at once; the oldest is dropped."""
_PATH_PART = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")


class PaceUnsupported(ttsint.TTSIntError):
    """The voice's stack has no block with a ``pace`` parameter, so it cannot speak faster or slower."""


class ServedVoice:
    """One hosted voice: its spec, its load status, the built ``Voice`` and paced copies for other speeds."""

    def __init__(self, spec: VoiceSpec, *, audio_only: bool = False) -> None:
        self.spec = spec
        self.name = spec.label
        self.audio_only = audio_only
        self.status = PENDING
        self.error: str | None = None
        self.voice: ttsint.Voice | None = None
        self._pace_paths: list[str] = []
        self._reads_speed = False
        self._paced: OrderedDict[float, ttsint.Voice] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def sample_rate(self) -> int:
        assert self.voice is not None, "the voice is not loaded"
        return self.voice.addon.sample_rate

    @property
    def supports_pace(self) -> bool:
        """Whether ``speed`` other than 1.0 can be honoured: a block reads the request's ``speed``
        (``Voice.request_params``), or some block in the stack takes ``pace`` (a paced copy)."""
        return self._reads_speed or self.paced_by_copy

    @property
    def paced_by_copy(self) -> bool:
        """Whether some block in the stack takes ``pace``, so a paced copy of the stack can be built."""
        return bool(self._pace_paths)

    def load(self, registry: ttsint.Registry | None) -> None:
        """Load the addon with the spec's overrides and build its stack; raises ttsint errors."""
        voice = ttsint.Voice.load(self.spec.source, self.spec.overrides, registry=registry)
        self.name = voice.addon.name
        kind = voice.output_kind
        if kind != "waveform":
            self.voice = voice
            message = (f"its stack makes {kind or 'frames'}, not audio; end it in a vocoder, e.g. "
                       f"--addon {self.spec.source}:stack.{_stack_length(voice)}.type=GriffinLim")
            raise ttsint.ConfigError("stack", message, source=str(voice.addon.path))
        self._pace_paths = _pace_paths(voice.addon.stack, voice.addon.registry or ttsint.get_registry())
        self._reads_speed = "speed" in voice.request_params
        self.voice = voice

    def paced(self, speed: float) -> ttsint.Voice:
        """The voice that speaks ``speed`` times faster: the built voice itself when its blocks read the
        request's ``speed`` (``stream`` passes it per request), else a paced copy (``paced_copy``)."""
        if self.voice is None:
            raise ttsint.TTSIntError(f"voice {self.name!r} is not loaded")
        if speed == 1.0 or self._reads_speed:
            return self.voice
        return self.paced_copy(speed)

    def paced_copy(self, speed: float) -> ttsint.Voice:
        """A copy of the voice whose every ``pace`` parameter is multiplied by ``speed``: for stacks whose
        blocks do not read the request's ``speed`` (third-party ones), and for SSML documents.

        Built stacks share the addon's loaded networks, so a paced copy costs only its blocks; the
        last few speeds asked for are kept.
        """
        if self.voice is None:
            raise ttsint.TTSIntError(f"voice {self.name!r} is not loaded")
        if speed == 1.0:
            return self.voice
        if not self._pace_paths:
            raise PaceUnsupported(f"voice {self.name!r} has no block with a 'pace' parameter in its stack, "
                                  "so it speaks at one speed only; send speed 1.0")
        key = round(float(speed), 3)
        with self._lock:
            if key in self._paced:
                self._paced.move_to_end(key)
                return self._paced[key]
        addon = self.voice.addon
        stack = copy.deepcopy(addon.stack)
        registry = addon.registry or ttsint.get_registry()
        for path in self._pace_paths:
            spec = _resolve(stack, path)
            spec["pace"] = float(spec.get("pace", _default_pace(registry, spec, path))) * key
        paced = ttsint.Voice(addon, stack=stack)
        with self._lock:
            self._paced[key] = paced
            while len(self._paced) > _PACED_CACHE:
                _close(self._paced.popitem(last=False)[1])
        return paced

    def stream(self, text: str, speed: float = 1.0) -> ttsint.SpeechStream:
        """The chunks of ``text`` at ``speed``, for a scheduler worker to pull: each next sentence is readied
        in the pulling thread when it is reached (no look-ahead thread per request), so the scheduler
        orders that work by deadline with every other stream's. A voice whose blocks read ``speed`` gets
        it as this request's parameter, on the one built stack."""
        if speed != 1.0 and self._reads_speed:
            assert self.voice is not None
            return self.voice.stream(text, lookahead=False, params={"speed": float(speed)})
        return self.paced(speed).stream(text, lookahead=False)

    def describe(self) -> dict[str, Any]:
        """What ``/v1/voices`` shows: addon, version, rates, status, the block tree with origins, and the
        ``catalog.voice_card`` fields (architecture, language, licence, honoured fields)."""
        info: dict[str, Any] = {"name": self.name, "status": self.status, "addon": self.spec.source,
                                "overrides": self.spec.overrides}
        if self.error:
            info["error"] = self.error
        if self.voice is not None:
            addon = self.voice.addon
            registry = addon.registry or ttsint.get_registry()
            regs = registry.addons.get(self.spec.source, [])
            info["distribution"] = regs[0].distribution if len(regs) == 1 else None
            info.update(version=addon.version, sample_rate=addon.sample_rate,
                        output_kind=self.voice.output_kind, speed=self.supports_pace,
                        description=addon.config.get("description"),
                        tree=_tree(self.voice.block, addon.stack, registry))
            if info["output_kind"] == "waveform":
                info.update(voice_card(self))
        return scrub(info)  # clients see names, versions and digests, never the server's paths

    def close(self) -> None:
        """Release the built stacks (blocks that hold pools or compiled graphs free them)."""
        with self._lock:
            voices = [v for v in [self.voice, *self._paced.values()] if v is not None]
            self._paced.clear()
        for voice in voices:
            _close(voice)


class VoicePool:
    """The voices of one service, by name; with no specs, every installed addon that makes audio."""

    def __init__(self, specs: Sequence[VoiceSpec] = (), *, registry: ttsint.Registry | None = None) -> None:
        self.registry = registry
        self.explicit = bool(specs)
        if not specs:
            specs = _installed_specs(registry or ttsint.get_registry())
        self.entries = [ServedVoice(s, audio_only=not self.explicit) for s in specs]
        self.loaded = threading.Event()
        self._thread: threading.Thread | None = None
        self._on_demand: list[ServedVoice] = []
        self._on_demand_lock = threading.Lock()

    def __iter__(self) -> Iterator[ServedVoice]:
        return iter(self.entries)

    def start(self) -> None:
        """Load the voices on a background thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self.load, name="ttsint-voice-loader", daemon=True)
            self._thread.start()

    def load(self, threads: int | None = None) -> None:
        """Load every voice, up to ``threads`` at once (default: one per core); failures are recorded on the
        entry and logged, never raised.

        ONNX Runtime builds its sessions without holding the GIL, so two voices load in about the time of
        the slower one rather than the sum (benchmarks/RESULTS.md, "Cold start, session 7"). Each voice is
        settled in the order given, once it and every voice before it have loaded: a name given twice is
        always refused on the later ``--addon``.
        """
        try:
            pending = [e for e in self.entries if e.status == PENDING]
            for entry in pending:
                entry.status = LOADING
            errors: list[BaseException | None] = [None] * len(pending)
            done = [threading.Event() for _ in pending]
            queue = iter(range(len(pending)))
            queue_lock = threading.Lock()

            def work() -> None:
                while True:
                    with queue_lock:
                        i = next(queue, None)
                    if i is None:
                        return
                    try:
                        pending[i].load(self.registry)
                    except Exception as exc:
                        errors[i] = exc
                    finally:
                        done[i].set()

            count = min(len(pending), threads or os.cpu_count() or 1)
            for n in range(count):
                threading.Thread(target=work, name=f"ttsint-voice-loader-{n}", daemon=True).start()
            for i, entry in enumerate(pending):
                done[i].wait()
                self._settle(entry, errors[i])
            if not any(e.status == READY for e in self.entries):
                log.error("no voice could be loaded; /readyz stays 503 (see the errors above)")
        finally:
            self.loaded.set()

    def _settle(self, entry: ServedVoice, error: BaseException | None) -> None:
        """Mark a loaded entry ready, or failed with ``error`` (or with a name an earlier voice has)."""
        try:
            if error is not None:
                raise error
            taken = next((e for e in self.entries if e is not entry and e.status == READY
                          and e.name == entry.name), None)
            if taken is not None:
                raise ttsint.ConfigError("name", f"voice name {entry.name!r} is already served by "
                                         f"--addon {taken.spec.text!r}",
                                         f"rename this one: --addon {entry.spec.text}"
                                         f"{',' if entry.spec.overrides else ':'}name=NEW-NAME")
        except ttsint.TTSIntError as exc:
            self._fail(entry, str(exc), skip=entry.audio_only and entry.voice is not None)
        except Exception as exc:  # a plugin's bug must not stop the other voices
            log.debug("voice %s failed to load", entry.spec.text, exc_info=exc)
            self._fail(entry, f"{type(exc).__name__}: {exc}")
        else:
            entry.status = READY
            log.info("voice %r ready (--addon %s, %d Hz)", entry.name, entry.spec.text, entry.sample_rate)

    def _fail(self, entry: ServedVoice, message: str, *, skip: bool = False) -> None:
        entry.error = message
        if skip:
            entry.status = SKIPPED
            log.info("addon %r not served: %s", entry.spec.source, message)
        else:
            entry.status = FAILED
            if entry.voice is not None:
                _close(entry.voice)
            entry.voice = None
            log.error("voice %r failed to load (--addon %s):\n  %s", entry.name, entry.spec.text,
                      message.replace("\n", "\n  "))

    def find(self, name: str | None) -> ServedVoice | None:
        """The entry called ``name`` (or, while it loads, given by that name or path on the command line)."""
        if not name:
            return None
        for entry in self.entries:
            if entry.status == READY and entry.name == name:
                return entry
        found = next((e for e in self.entries if e.status != SKIPPED and name in (e.name, e.spec.label)),
                     None)
        return found if found is not None else self._make(name)

    def _make(self, name: str) -> ServedVoice | None:
        """A voice for a name no addon is registered under but a plugin resolves (``kokoro-A*0.7+B*0.3``).

        Made on first request and kept among the last ``_ON_DEMAND`` such voices; a dropped one is not
        closed (a stream may still be playing it). A name the plugin refuses is a 400 with its reason.
        """
        registry = self.registry or ttsint.get_registry()
        try:
            if registry.resolve_addon(name) is None:
                return None
        except ttsint.TTSIntError as exc:
            raise APIError(400, f"voice {name!r}: {exc}", param="voice", code="voice_not_found") from None
        with self._on_demand_lock:
            made = next((e for e in self._on_demand if name in (e.name, e.spec.label)), None)
            if made is not None:
                return made
            entry = ServedVoice(VoiceSpec(name, {}, name))
            try:
                entry.load(registry)
            except ttsint.TTSIntError as exc:
                raise APIError(400, f"voice {name!r} cannot be made: {exc}", param="voice") from None
            entry.status = READY
            log.info("voice %r made on request (%d Hz)", entry.name, entry.sample_rate)
            self._on_demand.append(entry)
            self.entries.append(entry)
            while len(self._on_demand) > _ON_DEMAND:
                self.entries.remove(self._on_demand.pop(0))
            return entry

    def ready_names(self) -> list[str]:
        return [e.name for e in self.entries if e.status == READY]

    @property
    def ready(self) -> bool:
        """Every voice has been tried and at least one serves."""
        return self.loaded.is_set() and bool(self.ready_names())

    def readiness(self) -> dict[str, Any]:
        """The body of ``/readyz``: overall readiness, each voice's status, and why failed ones failed."""
        return {
            "ready": self.ready,
            "loading": not self.loaded.is_set(),
            "voices": {e.name: e.status for e in self.entries if e.status != SKIPPED},
            "failed": {e.name: e.error for e in self.entries if e.status == FAILED},
            "skipped": {e.spec.source: e.error for e in self.entries if e.status == SKIPPED},
        }

    def close(self) -> None:
        for entry in self.entries:
            entry.close()


def _installed_specs(registry: ttsint.Registry) -> list[VoiceSpec]:
    specs = []
    for name, regs in sorted(registry.addons.items()):
        for reg in regs:
            source = name if len(regs) == 1 else reg.qualified_name
            specs.append(VoiceSpec(source, {}, source))
    return specs


def _stack_length(voice: ttsint.Voice) -> int:
    stack = voice.addon.stack
    return len(stack) if isinstance(stack, list) else 1


def _close(voice: ttsint.Voice) -> None:
    close = getattr(voice, "close", None)
    if callable(close):
        close()


def _split(path: str) -> list[str | int]:
    return [int(index) if index else key for key, index in _PATH_PART.findall(path)]


def _resolve(stack: Any, path: str) -> Any:
    """The spec at a block's config path ("stack[0].streamable_block.stack[1]"), from the addon's stack."""
    parts = _split(path)
    node: Any = stack
    for part in parts[1:] if parts and parts[0] == "stack" else parts:
        node = node[part]
    return node


def _pace_paths(stack: Any, registry: ttsint.Registry, path: str = "stack") -> list[str]:
    """Config paths of the block specs whose type takes a ``pace`` parameter."""
    found: list[str] = []
    if isinstance(stack, list):
        for i, item in enumerate(stack):
            found += _pace_paths(item, registry, f"{path}[{i}]")
    elif isinstance(stack, dict):
        if isinstance(stack.get("type"), str):
            cls = registry.find(registry.blocks, stack["type"], what="block type", path=f"{path}.type").load()
            if "pace" in ttsint.block_parameters(cls)[0]:
                found.append(path)
        for key, value in stack.items():
            if isinstance(value, (dict, list)):
                found += _pace_paths(value, registry, f"{path}.{key}")
    return found


def _default_pace(registry: ttsint.Registry, spec: dict[str, Any], path: str) -> float:
    cls = registry.find(registry.blocks, spec["type"], what="block type", path=f"{path}.type").load()
    default = inspect.signature(cls.__init__).parameters["pace"].default
    return 1.0 if default is inspect.Parameter.empty else float(default)


def _tree(block: ttsint.Block, stack: Any, registry: ttsint.Registry) -> dict[str, Any]:
    """A built block and its children, each with the plugin and distribution that registered its type.

    A block built inside another (not from a spec of its own) is credited to its parent's plugin.
    """
    ancestors: list[dict[str, Any]] = []
    for visit in ttsint.walk(block):
        del ancestors[visit.depth:]
        parent = ancestors[-1] if ancestors else None
        label = f"{parent['path']}.{visit.label}" if parent is not None else "stack"
        b = visit.block
        path = getattr(b, "config_path", label)
        node: dict[str, Any] = {"type": b.type_name, "kind": b.kind, "path": path, "describe": b.describe()}
        try:
            spec = _resolve(stack, path)
            name = spec["type"] if isinstance(spec, dict) else b.type_name
            reg = registry.find(registry.blocks, name, what="block type", path=path)
            node.update(plugin=reg.plugin, distribution=reg.distribution, version=reg.version)
        except (ttsint.TTSIntError, LookupError, TypeError):
            node.update({k: (parent or {}).get(k) for k in ("plugin", "distribution", "version")})
        if parent is not None:
            parent.setdefault("children", []).append(node)
        ancestors.append(node)
    return ancestors[0]

"""ttsint: text-to-speech models as SequenceBlocks and StreamableBlocks, found by name through plugins.

This file is the public API, each name written once: the errors and ``hookimpl`` (cheap, imported
now) and the table below, whose names are imported from their private modules on first use, so
``import ttsint`` (and every plugin's hook module) stays cheap: torch loads only when a block that
declares ``arrays = "torch"``, or a network on the torch runtime, is touched. Modules whose names
start with ``_`` are internals; plugins import from ``ttsint`` only (tests/test_layout.py checks it).
"""

from __future__ import annotations

from ._errors import AddonError as AddonError
from ._errors import ArchiveError as ArchiveError
from ._errors import ConfigError as ConfigError
from ._errors import FrontendError as FrontendError
from ._errors import InvalidValue as InvalidValue
from ._errors import ParameterError as ParameterError
from ._errors import PluginError as PluginError
from ._errors import StreamError as StreamError
from ._errors import TTSIntError as TTSIntError
from ._lazy import lazy_exports as lazy_exports
from .hookspecs import hookimpl as hookimpl

_EAGER = [name for name in globals() if not name.startswith("_") and name != "annotations"]

__getattr__, _lazy_names = lazy_exports(__name__, {
    "_addon": ("Addon", "default_addon", "load_addon"),
    "_arrays": ("cpu_device", "is_torch", "to_numpy", "to_torch"),
    "_audio": ("NpyWriter", "read_wav", "to_pcm16", "WavWriter", "write_wav"),
    "_batching": ("BatchGroup",),
    "_blocks": ("announce", "Block", "chunks_to", "cut", "find", "Flow", "flows", "last_of_kind",
                "last_streamable", "merge_outputs", "Node", "replace", "SequenceBlock",
                "SequenceBlockContainer", "StreamableBlock", "StreamablePipeline", "StreamableStack", "timed",
                "Timing", "utterance_to", "walk"),
    "_cache": ("artifact_digest", "default_cache_dir", "file_sha256", "write_atomic"),
    "_chunking": ("concat_chunks", "context_windows", "crossfade", "length_mask", "next_bucket",
                   "pad_context", "pad_to", "pad_to_bucket", "Span", "split_spans", "stitch_spans",
                   "Window"),
    "_data": ("BuildContext", "Chunk", "SEGMENT_KEY", "Utterance"),
    "_document": ("Document", "DocumentStream", "MelPitch", "time_stretch"),
    "_frontends": ("CharacterFrontend", "Frontend", "normalize_text"),
    "_integrity": ("sha256_hex", "stamp_digests"),
    "_limits": ("Limits",),
    "_network": ("Network", "network_levels"),
    "_overrides": ("apply_overrides", "parse_override"),
    "_registry": ("get_registry", "Registry", "reset_registry"),
    "_runtimes": ("device_present", "Executable", "ExportedNetwork", "Runtime", "RuntimePool",
                   "RuntimeSetting"),
    "_safety": ("check_archive",),
    "_schema": ("Range", "validate"),
    "_segments": ("segment_text", "SegmentSettings", "split_sentences"),
    "_speech": ("SegmentInfo", "SpeechStream", "word_timings"),
    "_ssml": ("is_ssml", "parse_ssml", "SSMLDocument", "SSMLError"),
    "_stack": ("block_parameters", "build_stack", "format_tree"),
    "_stats": ("RunStats",),
    "_synth": ("check_output_path",),
    "_voice": ("Voice",),
    "_windowed": ("WindowedNetworkBlock",),
})

__all__ = sorted([*_EAGER, *_lazy_names], key=lambda s: (s.lower(), s))


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

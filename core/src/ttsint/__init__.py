"""ttsint: text-to-speech models as SequenceBlocks and StreamableBlocks, found by name through plugins.

Names are imported from their modules on first use, so ``import ttsint`` (and every plugin's hook
module) stays cheap: torch loads only when a block, network or voice is touched.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .errors import (
    AddonError,
    ArchiveError,
    ConfigError,
    FrontendError,
    ParameterError,
    PluginError,
    StreamError,
    TTSIntError,
)
from .hookspecs import hookimpl

if TYPE_CHECKING:
    from .addon import Addon, default_addon, load_addon
    from .audio import NpyWriter, WavWriter, read_wav, to_pcm16, write_wav
    from .blocks import (
        Block,
        Prepared,
        SequenceBlock,
        SequenceBlockContainer,
        StreamableBlock,
        StreamablePipeline,
        StreamableStack,
        Node,
        chunks_to,
        last_streamable,
        merge_outputs,
        utterance_to,
        walk,
    )
    from .cache import artifact_digest, default_cache_dir, file_sha256, write_atomic
    from .chunking import (
        Span,
        Window,
        concat_chunks,
        context_windows,
        crossfade,
        length_mask,
        next_bucket,
        pad_context,
        pad_to,
        pad_to_bucket,
        split_spans,
        stitch_spans,
    )
    from .data import BuildContext, Chunk, Utterance
    from .frontends import CharacterFrontend, Frontend, normalize_text
    from .integrity import sha256_hex, stamp_digests
    from .limits import Limits
    from .network import Network, network_levels
    from .overrides import apply_overrides, parse_override
    from .params import Range
    from .registry import Registry, get_registry, lazy_exports, reset_registry
    from .runtimes import Executable, ExportedNetwork, Runtime, RuntimePool, RuntimeSetting, device_present
    from .safety import check_archive
    from .segments import SegmentSettings, segment_text, split_sentences
    from .speech import SegmentInfo, SpeechStream, word_timings
    from .stack import block_parameters, build_stack, format_tree
    from .stats import RunStats
    from .synth import check_output_path
    from .voice import Voice
    from .windowed import WindowedNetworkBlock

_LAZY: dict[str, str] = {
    "Addon": "addon",
    "default_addon": "addon",
    "load_addon": "addon",
    "NpyWriter": "audio",
    "WavWriter": "audio",
    "read_wav": "audio",
    "write_wav": "audio",
    "to_pcm16": "audio",
    "Block": "blocks",
    "Prepared": "blocks",
    "SequenceBlock": "blocks",
    "SequenceBlockContainer": "blocks",
    "StreamableBlock": "blocks",
    "StreamablePipeline": "blocks",
    "StreamableStack": "blocks",
    "chunks_to": "blocks",
    "merge_outputs": "blocks",
    "utterance_to": "blocks",
    "Node": "blocks",
    "walk": "blocks",
    "last_streamable": "blocks",
    "artifact_digest": "cache",
    "default_cache_dir": "cache",
    "file_sha256": "cache",
    "write_atomic": "cache",
    "Span": "chunking",
    "Window": "chunking",
    "concat_chunks": "chunking",
    "context_windows": "chunking",
    "crossfade": "chunking",
    "length_mask": "chunking",
    "next_bucket": "chunking",
    "pad_context": "chunking",
    "pad_to": "chunking",
    "pad_to_bucket": "chunking",
    "split_spans": "chunking",
    "stitch_spans": "chunking",
    "BuildContext": "data",
    "Chunk": "data",
    "Utterance": "data",
    "CharacterFrontend": "frontends",
    "Frontend": "frontends",
    "normalize_text": "frontends",
    "sha256_hex": "integrity",
    "stamp_digests": "integrity",
    "Network": "network",
    "network_levels": "network",
    "apply_overrides": "overrides",
    "Limits": "limits",
    "Range": "params",
    "parse_override": "overrides",
    "Registry": "registry",
    "get_registry": "registry",
    "lazy_exports": "registry",
    "reset_registry": "registry",
    "check_archive": "safety",
    "Executable": "runtimes",
    "ExportedNetwork": "runtimes",
    "Runtime": "runtimes",
    "RuntimePool": "runtimes",
    "RuntimeSetting": "runtimes",
    "device_present": "runtimes",
    "SegmentSettings": "segments",
    "segment_text": "segments",
    "split_sentences": "segments",
    "SegmentInfo": "speech",
    "SpeechStream": "speech",
    "word_timings": "speech",
    "block_parameters": "stack",
    "build_stack": "stack",
    "format_tree": "stack",
    "RunStats": "stats",
    "check_output_path": "synth",
    "Voice": "voice",
    "WindowedNetworkBlock": "windowed",
}
"""Public name -> the module that defines it."""

__all__ = [
    "Addon",
    "AddonError",
    "apply_overrides",
    "ArchiveError",
    "artifact_digest",
    "Block",
    "block_parameters",
    "build_stack",
    "BuildContext",
    "CharacterFrontend",
    "check_archive",
    "check_output_path",
    "Chunk",
    "chunks_to",
    "concat_chunks",
    "ConfigError",
    "context_windows",
    "crossfade",
    "default_addon",
    "default_cache_dir",
    "device_present",
    "Executable",
    "ExportedNetwork",
    "file_sha256",
    "format_tree",
    "Frontend",
    "FrontendError",
    "get_registry",
    "hookimpl",
    "lazy_exports",
    "length_mask",
    "last_streamable",
    "Limits",
    "load_addon",
    "merge_outputs",
    "Network",
    "network_levels",
    "Node",
    "next_bucket",
    "normalize_text",
    "NpyWriter",
    "pad_context",
    "pad_to",
    "pad_to_bucket",
    "ParameterError",
    "parse_override",
    "PluginError",
    "Prepared",
    "Range",
    "read_wav",
    "Registry",
    "reset_registry",
    "RunStats",
    "Runtime",
    "RuntimePool",
    "RuntimeSetting",
    "segment_text",
    "SegmentInfo",
    "SegmentSettings",
    "SequenceBlock",
    "SequenceBlockContainer",
    "sha256_hex",
    "Span",
    "SpeechStream",
    "word_timings",
    "split_sentences",
    "split_spans",
    "stamp_digests",
    "stitch_spans",
    "StreamableBlock",
    "StreamablePipeline",
    "StreamableStack",
    "StreamError",
    "to_pcm16",
    "TTSIntError",
    "Utterance",
    "utterance_to",
    "Voice",
    "walk",
    "WavWriter",
    "Window",
    "WindowedNetworkBlock",
    "write_atomic",
    "write_wav",
]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

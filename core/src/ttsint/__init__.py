"""ttsint: text-to-speech models as SequenceBlocks and StreamableBlocks, found by name through plugins."""

from .addon import (
    Addon,
    Network,
    apply_overrides,
    default_addon,
    load_addon,
    network_levels,
    parse_override,
)
from .audio import NpyWriter, WavWriter, read_wav, write_wav
from .blocks import (
    Block,
    Chunk,
    Prepared,
    SequenceBlock,
    SequenceBlockContainer,
    StreamableBlock,
    StreamablePipeline,
    StreamableStack,
    Utterance,
)
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
from .errors import AddonError, ConfigError, FrontendError, PluginError, StreamError, TTSIntError
from .frontends import CharacterFrontend, Frontend, normalize_text
from .hookspecs import hookimpl
from .registry import Registry, get_registry, lazy_exports, reset_registry
from .segments import SegmentSettings, segment_text, split_sentences
from .speech import SegmentInfo, SpeechStream
from .stack import BuildContext, build_stack, format_tree
from .voice import Voice

__all__ = [
    "Addon",
    "AddonError",
    "Block",
    "BuildContext",
    "CharacterFrontend",
    "Chunk",
    "ConfigError",
    "Frontend",
    "FrontendError",
    "Network",
    "NpyWriter",
    "PluginError",
    "Prepared",
    "Registry",
    "SequenceBlock",
    "SegmentInfo",
    "SegmentSettings",
    "SequenceBlockContainer",
    "SpeechStream",
    "StreamError",
    "StreamableBlock",
    "StreamablePipeline",
    "StreamableStack",
    "TTSIntError",
    "Utterance",
    "Voice",
    "WavWriter",
    "Window",
    "apply_overrides",
    "build_stack",
    "concat_chunks",
    "default_addon",
    "context_windows",
    "crossfade",
    "format_tree",
    "get_registry",
    "hookimpl",
    "lazy_exports",
    "length_mask",
    "load_addon",
    "network_levels",
    "normalize_text",
    "next_bucket",
    "pad_context",
    "pad_to",
    "read_wav",
    "parse_override",
    "reset_registry",
    "segment_text",
    "split_sentences",
    "write_wav",
    "Span",
    "pad_to_bucket",
    "split_spans",
    "stitch_spans",
]

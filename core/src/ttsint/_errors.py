"""One error hierarchy, so callers (and the CLI) can tell user mistakes from bugs."""

from __future__ import annotations

__all__ = [
    "TTSIntError",
    "ConfigError",
    "ParameterError",
    "PluginError",
    "AddonError",
    "ArchiveError",
    "FrontendError",
    "StreamError",
    "InvalidValue",
]


class TTSIntError(Exception):
    """Base of every error ttsint raises for bad input; the CLI prints these without a traceback."""


class ConfigError(TTSIntError):
    """A stack or addon config is wrong at `path` (e.g. ``stack[0].streamable_block.type``)."""

    def __init__(self, path: str, message: str, hint: str | None = None, source: str | None = None) -> None:
        self.path = path
        self.message = message
        self.hint = hint
        self.source = source
        text = f"{path}: {message}" if path else message
        if source:
            text = f"{source}: {text}"
        if hint:
            text += f"\n  {hint}"
        super().__init__(text)


class ParameterError(TTSIntError, ValueError):
    """A constructor was given a bad value for its parameter ``key``; the builder adds the config path.

    Blocks and front ends raise it from ``__init__``, where they do not know their path. It is a
    ValueError too, so code that builds a block by hand can catch it as one.
    """

    def __init__(self, key: str, message: str, hint: str | None = None) -> None:
        self.key = key
        self.message = message
        self.hint = hint
        super().__init__(f"{key}: {message}" + (f"\n  {hint}" if hint else ""))


class PluginError(TTSIntError):
    """A plugin could not be loaded, two plugins claim one name, or its code failed (a bug in it)."""


class AddonError(TTSIntError):
    """An addon directory, its config or one of its networks cannot be used."""


class ArchiveError(AddonError):
    """A network archive holds something ttsint refuses to deserialize; ``member`` names where."""

    def __init__(self, member: str, message: str, where: str = "") -> None:
        self.member = member
        self.reason = message
        prefix = f"{where}: refused: " if where else ""
        super().__init__(f"{prefix}member {member!r}: {message}" if member else f"{prefix}{message}")


class FrontendError(TTSIntError):
    """The text front end cannot turn this text into symbols."""


class StreamError(TTSIntError):
    """A block failed while streaming; names the block's config path and the frames involved."""


class InvalidValue(TTSIntError):
    """A value does not fit its schema (``ttsint.validate``): ``path`` (dotted, from the value's root),
    ``message`` and ``hint``; ``key`` is the key at fault, ``kind`` "type", "missing", "unknown" or "check".

    Callers turn it into their own form (a ConfigError at a config path, an HTTP 400 naming the field,
    a Wyoming error event), so each keeps its form while the check is written once.
    """

    def __init__(self, path: str, message: str, hint: str | None = None, *, key: str | None = None,
                 kind: str = "type") -> None:
        super().__init__((f"{path}: {message}" if path else message) + (f"\n  {hint}" if hint else ""))
        self.path, self.message, self.hint, self.key, self.kind = path, message, hint, key, kind

    def config_error(self, prefix: str = "", source: str | None = None) -> ConfigError:
        """This failure as a ConfigError at ``prefix.path``, ``source`` naming the file."""
        path = prefix + self.path if self.path.startswith("[") or not prefix else f"{prefix}.{self.path}"
        path = path.rstrip(".")
        return ConfigError(path, self.message, self.hint, source=source)

"""Errors the HTTP API returns, in OpenAI's shape: ``{"error": {"message", "type", "param", "code"}}``."""

from __future__ import annotations

from typing import Any

__all__ = ["APIError"]


class APIError(Exception):
    """A request the server refuses, with the HTTP status, OpenAI error type and offending parameter."""

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error",
                 param: str | None = None, code: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body: what OpenAI's clients parse into their exception's message."""
        return {"error": {"message": self.message, "type": self.type, "param": self.param, "code": self.code}}

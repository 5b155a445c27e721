"""Listening sockets bound before anything loads, shared by the HTTP and Wyoming front doors."""

from __future__ import annotations

import socket

import ttsint

__all__ = ["listen"]


def listen(host: str, port: int, option: str = "--port (or --host)") -> socket.socket:
    """Bind before anything loads, so a taken port is one clear error instead of a failed start-up."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise ttsint.TTSIntError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; pick another "
                                 f"{option}, or stop what is using it") from exc
    return sock

"""Prometheus metrics of the service, in their own registry so that several apps can live in one process."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["ServeMetrics"]

_TTFC_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
_RTF_BUCKETS = (0.05, 0.1, 0.25, 0.5, 0.75, 1.0, 1.5, 2.0, 4.0, 8.0)


class ServeMetrics:
    """Requests by voice and status, time to first chunk, real-time factor, streams and errors."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("ttsint_requests", "Speech requests by voice and HTTP status (voice \"\" "
                                "for requests refused before a voice was chosen).",
                                ["voice", "status"], registry=r)
        self.first_chunk = Histogram("ttsint_time_to_first_chunk_seconds",
                                     "From accepting a request to its first chunk of audio.", ["voice"],
                                     buckets=_TTFC_BUCKETS, registry=r)
        self.rtf = Histogram("ttsint_real_time_factor",
                             "Synthesis time divided by audio duration, per completed stream.", ["voice"],
                             buckets=_RTF_BUCKETS, registry=r)
        self.active = Gauge("ttsint_active_streams",
                            "Streams being synthesized now (each holds a --max-streams slot).", registry=r)
        self.rejected = Counter("ttsint_streams_rejected",
                                "Requests refused with 429: every stream slot taken.", registry=r)
        self.errors = Counter("ttsint_errors", "Streams that failed inside the server, by voice and stage "
                              "(before_audio: answered 500; mid_stream: the response was cut off).",
                              ["voice", "stage"], registry=r)
        self.chunks = Counter("ttsint_chunks", "Chunks of audio made, by voice.", ["voice"], registry=r)
        self.cancelled = Counter("ttsint_streams_cancelled", "Streams stopped because the client went away.",
                                 ["voice"], registry=r)

    def track_active(self, count: Callable[[], int]) -> None:
        """Read the active-streams gauge from ``count()`` at every scrape."""
        self.active.set_function(count)

    def render(self) -> tuple[bytes, str]:
        """The text exposition format and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

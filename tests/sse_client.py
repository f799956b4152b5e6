"""A Server-Sent Events client for the tests: real connections, read by the spec parser.

The parser (``SSEParser``, ``SSEEvent``) lives in ``streamverse.exercises.sse_spec``, so
lesson 02's exercise check and the tests read events the same way; it is written
independently of ``streamverse.sse``, so the tests check the encoder against the spec,
not against itself.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx

from streamverse.course.sse_spec import SSEEvent, SSEParser

__all__ = ["SSEConnection", "SSEEvent", "SSEParser"]


class SSEConnection:
    """One SSE request over a real socket; iterate events, stop whenever you like."""

    def __init__(self, url: str, headers: dict[str, str] | None = None, timeout: float = 10.0):
        self.client = httpx.Client(timeout=timeout)
        self.response = self.client.send(
            self.client.build_request("GET", url, headers=headers), stream=True
        )
        self.parser = SSEParser()
        self._chunks = self.response.iter_text()

    def events(self) -> Iterator[SSEEvent]:
        for chunk in self._chunks:
            yield from self.parser.feed(chunk)

    def until(self, predicate: Callable[[SSEEvent], bool], limit: int = 10_000) -> list[SSEEvent]:
        """Events up to and including the first that satisfies ``predicate``."""
        seen = []
        for event in self.events():
            seen.append(event)
            if predicate(event) or len(seen) >= limit:
                return seen
        raise AssertionError(f"stream ended before the condition held; got {seen[-3:]}")

    def take(self, count: int) -> list[SSEEvent]:
        seen: list[SSEEvent] = []

        def enough(event: SSEEvent) -> bool:
            seen.append(event)
            return len(seen) >= count

        if count:
            self.until(enough)
        return seen

    def close(self) -> None:
        self.response.close()
        self.client.close()

    def __enter__(self) -> SSEConnection:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

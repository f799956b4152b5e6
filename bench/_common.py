"""What the benchmarks share, under one import: ``from _common import ServerProcess, ...``.

The helpers live in one module per concern, and this module gathers them so a benchmark
needs one import line and the names it always used keep working:

* ``_procs``: server processes, CPU pinning, RSS and CPU time from ``/proc``;
* ``_http``: one raw HTTP/1.1 request (``http_json``) and the client's event loop;
* ``_sse_client``: a pool of raw SSE connections (``SSEPool``).
"""

from __future__ import annotations

from _http import HOST, http_json, new_event_loop
from _procs import ServerProcess, cpu_plan, cpu_seconds, pin, raise_nofile, rss_kib, send_safely
from _sse_client import SSEConnection, SSEPool

__all__ = [
    "HOST",
    "SSEConnection",
    "SSEPool",
    "ServerProcess",
    "cpu_plan",
    "cpu_seconds",
    "http_json",
    "new_event_loop",
    "pin",
    "raise_nofile",
    "rss_kib",
    "send_safely",
]

"""Garbage-collector settings for a long-running server process (``streamverse serve``).

A server that holds a thousand chat connections, or ten thousand feeds, has a few hundred
thousand objects alive, most of them made at import (FastAPI, Pydantic and SQLAlchemy
schemas, modules) and never freed. CPython's default thresholds (700, 10, 10) run a young
collection every 700 allocations and, every so often, a full one that walks all of them:
``bench/bench_chat.py`` measured full collections of 36-144 ms with 1,000 chat clients, the
whole of its p99 latency (113 ms; 29 ms with these settings) and a share of its CPU.

``gc.freeze()`` moves everything alive at startup into a permanent generation that no
collection walks (those objects live as long as the process anyway), and higher thresholds
make young collections rarer; reference cycles are still collected. This is process-wide,
so only the server's own entry point calls it, never a notebook kernel that runs a server
in a thread (``streamverse.notebook``).
"""

from __future__ import annotations

import gc

THRESHOLDS = (50_000, 50, 100)
"""Allocations before a young collection; young (then middle) collections before an older one."""


def tune_for_serving() -> None:
    """Call once the app is built (its imports and schemas made), before serving."""
    gc.collect()  # free what startup left as garbage, so freeze keeps only what is alive
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)

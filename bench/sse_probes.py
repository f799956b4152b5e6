"""The benchmark's instruments inside a server process: collector time and allocations.

Some figures can only be read from inside the server: how long the cyclic garbage
collector ran (it is a large share of the CPU with thousands of feeds open), how many
objects it tracks, and which source files allocated an open feed's memory. Every variant
gets the same instruments, so their cost is the same everywhere.
"""

from __future__ import annotations

import gc
import re
import time
import tracemalloc
from typing import Any, ClassVar

from fastapi import FastAPI


class GCClock:
    """Time the server spends in the cyclic garbage collector, per generation (gc.callbacks)."""

    seconds: ClassVar[list[float]] = [0.0, 0.0, 0.0]
    collections: ClassVar[list[int]] = [0, 0, 0]
    _started = 0.0

    @classmethod
    def install(cls) -> None:
        gc.callbacks.append(cls._callback)

    @classmethod
    def _callback(cls, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            cls._started = time.perf_counter()
        else:
            generation = info["generation"]
            cls.seconds[generation] += time.perf_counter() - cls._started
            cls.collections[generation] += 1

    @classmethod
    def report(cls) -> dict[str, Any]:
        return {"seconds": list(cls.seconds), "collections": list(cls.collections)}


def add_probe_routes(app: FastAPI) -> None:
    """``/bench/gc/*`` and ``/bench/trace/*``: tracemalloc growth since the mark, and more."""
    marks: list[tracemalloc.Snapshot] = []

    def snapshot() -> tracemalloc.Snapshot:
        gc.collect()
        return tracemalloc.take_snapshot().filter_traces(
            [tracemalloc.Filter(False, tracemalloc.__file__)]
        )

    @app.get("/bench/gc/objects")
    async def objects() -> dict[str, int]:
        """Objects the cyclic collector tracks (what a full collection has to walk)."""
        gc.collect()
        return {"tracked": len(gc.get_objects())}

    @app.post("/bench/gc/freeze")
    async def freeze() -> dict[str, int]:
        """Experiment knob (``--gc-freeze``): move every live object out of the collector's way."""
        gc.collect()
        gc.freeze()
        return {"frozen": gc.get_freeze_count()}

    @app.post("/bench/trace/mark")
    async def mark() -> dict[str, bool]:
        if not tracemalloc.is_tracing():
            return {"tracing": False}
        marks[:] = [snapshot()]
        return {"tracing": True}

    @app.get("/bench/trace/diff")
    async def diff(top: int = 12) -> dict[str, Any]:
        if not tracemalloc.is_tracing() or not marks:
            return {"tracing": False}
        now = snapshot()
        result: dict[str, Any] = {"tracing": True}
        for key in ("filename", "lineno"):
            stats = now.compare_to(marks[0], key)
            result["total" if key == "filename" else "_"] = sum(s.size_diff for s in stats)
            result[key] = [
                {
                    "where": _short(str(stat.traceback), key),
                    "bytes": stat.size_diff,
                    "blocks": stat.count_diff,
                }
                for stat in sorted(stats, key=lambda s: -s.size_diff)[:top]
            ]
        result.pop("_", None)
        return result


def _short(where: str, key: str) -> str:
    """A traceback line without the install prefix (and without ``:0`` when grouped by file)."""
    for pattern in (r"^.*site-packages/", r"^.*/lib/python3\.\d+/", r"^.*/(?=streamverse/)"):
        where, found = re.subn(pattern, "", where)
        if found:
            break
    return where.removesuffix(":0") if key == "filename" else where

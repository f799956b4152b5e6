"""Server processes for the benchmarks: spawning, stopping, CPU pinning, readings from /proc.

A benchmark runs its server in a process of its own, pinned to one core when there are two,
and drives it from the parent on the other core, so the load generator never competes with
the server for its core. Memory and CPU are read from ``/proc`` from the outside, so the
readings cost the server nothing. Stdlib only.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import Any


def raise_nofile() -> int:
    """Raise this process's open-file limit to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    if soft < hard:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def cpu_plan() -> tuple[int | None, int | None]:
    """(server cpu, client cpu): separate cores when there are at least two, else unpinned."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return cpus[0], cpus[1]


def pin(cpu: int | None, pid: int = 0) -> None:
    """Pin ``pid`` (0: this process) to ``cpu``; None leaves it unpinned."""
    if cpu is not None:
        with contextlib.suppress(OSError):
            os.sched_setaffinity(pid, {cpu})


def rss_kib(pid: int) -> int:
    """Resident set size of ``pid`` in KiB (VmRSS from /proc)."""
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` so far (from /proc/<pid>/stat)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ServerProcess:
    """A server started with ``target(conn, *args)`` in a fresh (spawned) process.

    The target must send ``("ready", port)`` on ``conn`` once it accepts connections, or
    ``("error", text)``. ``stop`` always ends the process: SIGTERM, then SIGKILL.
    """

    def __init__(self, target: Callable[..., None], *args: Any, start_timeout: float = 60.0):
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe(duplex=False)
        self.process = context.Process(target=target, args=(child_conn, *args), daemon=True)
        self.process.start()
        child_conn.close()
        self.port = self._wait_ready(start_timeout)

    @property
    def pid(self) -> int:
        assert self.process.pid is not None
        return self.process.pid

    def _wait_ready(self, timeout: float) -> int:
        try:
            if not self._conn.poll(timeout):
                raise RuntimeError(f"server not ready after {timeout} s")
            kind, value = self._conn.recv()
        except EOFError:
            self.stop()
            raise RuntimeError(
                f"server exited during startup (code {self.process.exitcode})"
            ) from None
        except BaseException:
            self.stop()
            raise
        if kind != "ready":
            self.stop()
            raise RuntimeError(f"server failed to start: {value}")
        return int(value)

    def receive(self, within: float) -> tuple[str, Any]:
        """The next message the child sends after ``ready`` (raises TimeoutError)."""
        if not self._conn.poll(within):
            raise TimeoutError(f"no message from the child in {within} s")
        return self._conn.recv()  # type: ignore[no-any-return]

    def signal(self, signum: int = signal.SIGTERM) -> None:
        if self.process.is_alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def wait_exit(self, timeout: float) -> bool:
        self.process.join(timeout)
        return not self.process.is_alive()

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM, wait ``timeout``, then SIGKILL. Safe to call more than once."""
        if self.process.is_alive():
            self.signal(signal.SIGTERM)
            self.process.join(timeout)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(5)
        self._conn.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def send_safely(conn: Connection, message: tuple[str, Any]) -> None:
    """Send to the parent if it still listens (it may have gone while the child shuts down)."""
    with contextlib.suppress(OSError, ValueError):
        conn.send(message)

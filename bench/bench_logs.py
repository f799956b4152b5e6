"""Logs: ``POST /analytics/process-logs/`` against two baselines in the same run, on one
server process (spawned, pinned to one core; the client on the other).

* ``POST /bench/discard``: reads ``request.stream()`` and drops every chunk: the fastest a
  route can take the same body (throughput baseline);
* ``POST /bench/buffered``: ``await request.body()``, then ``splitlines()``: the naive way
  (memory baseline).

For each route one log of SIZE bytes (generated lines, a mix of levels) is sent over a
plain socket in 1 MiB pieces (chunked transfer encoding) and the server's ``/proc`` gives
the peak resident memory growth (``VmHWM`` after ``clear_refs`` reset it).

    .venv/bin/python bench/bench_logs.py --size 64MiB     # a smoke run
    .venv/bin/python bench/bench_logs.py                  # 1 GiB per route
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import sys
import tempfile
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from pathlib import Path

from fastapi import Request

sys.path.insert(0, str(Path(__file__).parent))
from _common import HOST, ServerProcess, cpu_plan, pin, send_safely

MiB = 1 << 20
UNITS = {"": 1, "B": 1, "KIB": 1 << 10, "MIB": MiB, "GIB": 1 << 30}
LINES = [
    b"2024-05-01 12:00:00.123 INFO  api: GET /videos/42 200 in 12 ms\n",
    b"2024-05-01 12:00:00.456 WARNING db: slow query (2.1 s)\n",
    b"2024-05-01 12:00:00.789 ERROR db: connection refused\n",
    b"2024-05-01 12:00:01.000 DEBUG cache: miss for key 42\n",
]


def parse_size(text: str) -> int:
    found = re.fullmatch(r"\s*(\d+)\s*([KMG]?I?B?)\s*", text.upper())
    if not found or found.group(2) not in UNITS:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 64MiB, 1GiB)")
    return int(found.group(1)) * UNITS[found.group(2)]


def block() -> bytes:
    """About 1 MiB of whole lines."""
    unit = b"".join(LINES[n % 7 % 4] for n in range(7))
    return unit * (MiB // len(unit))


def body(size: int) -> Iterator[bytes]:
    piece, sent = block(), 0
    while sent + len(piece) <= size:
        yield piece
        sent += len(piece)


def lines_in(size: int) -> int:
    piece = block()
    return (size // len(piece)) * piece.count(b"\n")


def build(data_dir: Path):  # type: ignore[no-untyped-def]
    from streamverse.app import create_app
    from streamverse.config import Settings

    app = create_app(Settings(data_dir=data_dir, logs_progress_lines=100_000))

    async def discard(request: Request) -> dict[str, int]:
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
        return {"bytes": size}

    async def buffered(request: Request) -> dict[str, int]:
        data = await request.body()
        return {"bytes": len(data), "lines": len(data.splitlines())}

    app.router.add_api_route("/bench/discard", discard, methods=["POST"])
    app.router.add_api_route("/bench/buffered", buffered, methods=["POST"])
    return app


def serve(conn: Connection, data_dir: str, cpu: int | None) -> None:
    import uvicorn

    from streamverse.server import Server, bind_socket

    class Announcing(Server):
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            send_safely(conn, ("ready", port))

    pin(cpu)
    try:
        sock = bind_socket(HOST, 0)
        port = sock.getsockname()[1]
        config = uvicorn.Config(build(Path(data_dir)), loop="asyncio", log_level="warning")
        asyncio.run(Announcing(config).serve(sockets=[sock]))
    except Exception as error:
        send_safely(conn, ("error", repr(error)))


def post(port: int, path: str, headers: dict[str, str], size: int) -> tuple[int, bytes]:
    """One chunked POST on a plain socket (a client library's overhead would blur it)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = f"POST {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n"
        head += "Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        sock.sendall(head.encode() + b"\r\n")
        for piece in body(size):
            sock.sendall(b"%x\r\n" % len(piece) + piece + b"\r\n")
        sock.sendall(b"0\r\n\r\n")
        answer = b""
        while data := sock.recv(65536):
            answer += data
    status = int(answer.split(b" ", 2)[1])
    return status, answer.split(b"\r\n\r\n", 1)[1]


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def measure(pid: int, port: int, path: str, headers: dict[str, str], size: int):  # type: ignore[no-untyped-def]
    with open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")  # reset the peak (VmHWM) to the resident size now
    rss = status_kib(pid, "VmRSS")
    started = time.perf_counter()
    status, answer = post(port, path, headers, size)
    seconds = time.perf_counter() - started
    if status != 200:
        raise RuntimeError(f"{path}: {status} {answer[:200]!r}")
    return seconds, (status_kib(pid, "VmHWM") - rss) * 1024, answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=parse_size, default=1 << 30, help="log size (1GiB)")
    args = parser.parse_args()
    size = (args.size // len(block())) * len(block())
    if size == 0:
        parser.error("--size must be at least 1 MiB")
    server_cpu, client_cpu = cpu_plan()
    pin(client_cpu)
    with (
        tempfile.TemporaryDirectory(prefix="bench-logs-") as data_dir,
        ServerProcess(serve, data_dir, server_cpu) as server,
    ):
        import httpx

        with httpx.Client(base_url=f"http://127.0.0.1:{server.port}") as http:
            token = http.post("/users", json={"name": "bench"}).json()["token"]
        auth = {"Authorization": f"Bearer {token}"}
        rows = []
        for name, path in (
            ("discard (baseline)", "/bench/discard"),
            ("process-logs", "/analytics/process-logs/"),
            ("await request.body()", "/bench/buffered"),
        ):
            seconds, growth, answer = measure(server.pid, server.port, path, auth, size)
            rows.append((name, seconds, growth, json.loads(answer)))
    lines = lines_in(size)
    summary = rows[1][3]
    assert summary["lines"] == lines and summary["bytes"] == size, summary
    base = rows[0][1]
    print(f"log: {size / MiB:.0f} MiB, {lines} lines; server pinned to cpu {server_cpu}")
    print(f"{'route':22} {'MB/s':>8} {'lines/s':>12} {'x baseline':>11} {'peak RSS growth':>16}")
    for name, seconds, growth, _ in rows:
        print(
            f"{name:22} {size / seconds / 1e6:8.1f} {lines / seconds:12.0f} "
            f"{base / seconds:11.2f} {growth / MiB:13.1f} MiB"
        )
    print("levels:", summary["levels"])


if __name__ == "__main__":
    main()

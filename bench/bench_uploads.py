"""Uploads: the platform's multipart and tus paths against a raw ``request.stream()`` sink
and the course outline's ``UploadFile`` + copy, all in the same run, on one server process.

For each path, one upload of SIZE bytes (a valid WAV: a header, then silence, so the
platform's validation and probe accept it) is sent from this process (pinned to the other
core) and three figures are read from the server process's ``/proc`` entries:

* throughput, as a ratio to the raw sink's (target >= 0.9);
* peak memory growth during the upload (``VmHWM`` after ``clear_refs`` reset it to the
  resident size at the start; target <= 64 MB);
* bytes written to storage per byte uploaded (``write_bytes`` in ``/proc/<pid>/io``, which
  counts every thread's writes as they dirty the page cache; target 1.0).

    .venv/bin/python bench/bench_uploads.py            # 1 GiB per path (needs ~5 GiB of disk)
    .venv/bin/python bench/bench_uploads.py --quick    # 64 MiB per path, a smoke run
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import struct
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _common import ServerProcess, cpu_plan, pin
from uploads_server import serve

BLOCK = 1 << 20
BOUNDARY = "bench-boundary-7d1f"
MiB = 1 << 20


def wav_header(size: int) -> bytes:
    """A 44-byte header for a WAV of ``size`` bytes in all: 48 kHz, mono, 16-bit PCM."""
    data = size - 44
    return (
        b"RIFF"
        + struct.pack("<I", size - 8)
        + b"WAVE"
        + b"fmt "
        + struct.pack("<IHHIIHH", 16, 1, 1, 48000, 96000, 2, 16)
        + b"data"
        + struct.pack("<I", data)
    )


def file_bytes(size: int) -> Iterator[bytes]:
    yield wav_header(size)
    left = size - 44
    block = bytes(BLOCK)
    while left > 0:
        piece = block if left >= BLOCK else block[:left]
        yield piece
        left -= len(piece)


def multipart(size: int) -> tuple[int, Iterator[bytes]]:
    head = (
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="title"\r\n\r\nbench\r\n'
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="bench.wav"\r\nContent-Type: audio/wav\r\n\r\n'
    ).encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()

    def body() -> Iterator[bytes]:
        yield head
        yield from file_bytes(size)
        yield tail

    return len(head) + size + len(tail), body()


@dataclass
class Reading:
    path: str
    seconds: float
    peak_growth: int
    written: int


def proc_io(pid: int) -> int:
    with open(f"/proc/{pid}/io") as io:
        for line in io:
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    raise RuntimeError("no write_bytes")


def status_kib(pid: int, field: str) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"no {field}")


def measure(pid: int, name: str, send: Callable[[], None]) -> Reading:
    with open(f"/proc/{pid}/clear_refs", "w") as refs:
        refs.write("5")  # reset the peak (VmHWM) to the resident size now
    rss, written = status_kib(pid, "VmRSS"), proc_io(pid)
    started = time.perf_counter()
    send()
    seconds = time.perf_counter() - started
    peak = status_kib(pid, "VmHWM")
    return Reading(name, seconds, (peak - rss) * 1024, proc_io(pid) - written)


def request(
    port: int, method: str, path: str, headers: dict[str, str], body: Iterable[bytes] = ()
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 request on a plain socket: the client costs next to nothing, so the
    server is what is measured (an HTTP client library's own overhead would blur it)."""
    with socket.create_connection(("127.0.0.1", port)) as sock:
        head = f"{method} {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n"
        head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
        sock.sendall(head.encode() + b"\r\n")
        for chunk in body:
            sock.sendall(chunk)
        answer = b""
        while data := sock.recv(65536):
            answer += data
    top, _, content = answer.partition(b"\r\n\r\n")
    lines = top.decode("latin-1").split("\r\n")
    fields = dict(line.split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), {k.lower(): v for k, v in fields.items()}, content


def expect(answer: tuple[int, dict[str, str], bytes], status: int) -> dict[str, str]:
    if answer[0] != status:
        raise RuntimeError(f"expected {status}, got {answer[0]}: {answer[2][:300]!r}")
    return answer[1]


def run(size: int, data_dir: Path) -> list[Reading]:
    server_cpu, client_cpu = cpu_plan()
    with ServerProcess(serve, str(data_dir), size + MiB, server_cpu) as server:
        pin(client_cpu)
        port = server.port
        user = json.dumps({"name": "bench"}).encode()
        created = request(
            port,
            "POST",
            "/users",
            {"Content-Type": "application/json", "Content-Length": str(len(user))},
            iter([user]),
        )
        token = json.loads(created[2])["token"]
        auth = {"Authorization": f"Bearer {token}"}

        def post_form(path: str) -> Callable[[], None]:
            def send() -> None:
                length, body = multipart(size)
                headers = {
                    **auth,
                    "Content-Length": str(length),
                    "Content-Type": f"multipart/form-data; boundary={BOUNDARY}",
                }
                expect(
                    request(port, "POST", path, headers, body), 201 if "streams" in path else 200
                )

            return send

        def raw() -> None:
            headers = {"Content-Length": str(size)}
            expect(request(port, "POST", "/bench/raw", headers, file_bytes(size)), 200)

        def tus() -> None:
            tus_headers = {**auth, "Tus-Resumable": "1.0.0"}
            made = request(
                port,
                "POST",
                "/uploads/tus/",
                {**tus_headers, "Content-Length": "0", "Upload-Length": str(size)},
            )
            location = expect(made, 201)["location"]
            patch = {
                **tus_headers,
                "Upload-Offset": "0",
                "Content-Length": str(size),
                "Content-Type": "application/offset+octet-stream",
            }
            expect(request(port, "PATCH", location, patch, file_bytes(size)), 204)

        paths = [
            ("raw request.stream() sink", raw),
            ("outline UploadFile + copy", post_form("/bench/outline")),
            ("multipart (streaming parser)", post_form("/streams/upload-with-progress/")),
            ("tus PATCH", tus),
        ]
        readings = []
        for name, send in paths:
            os.sync()  # start each path with no dirty pages from the one before (fairness)
            readings.append(measure(server.pid, name, send))
            for leftover in ("bench", "media", "uploads/videos"):
                shutil.rmtree(data_dir / leftover, ignore_errors=True)
        return readings


def report(size: int, readings: list[Reading]) -> None:
    raw = readings[0]
    print(f"\nUpload of {size / MiB:.0f} MiB per path, one server process (same run):\n")
    print(f"{'path':32} {'MB/s':>8} {'vs raw':>7} {'peak mem growth':>16} {'written/byte':>13}")
    for reading in readings:
        rate = size / reading.seconds / 1e6
        ratio = raw.seconds / reading.seconds
        growth = f"{reading.peak_growth / 1e6:.1f} MB"
        print(
            f"{reading.path:32} {rate:8.0f} {ratio:7.2f} {growth:>16} "
            f"{reading.written / size:13.2f}"
        )
    print("\ntargets for the platform's paths: >= 0.90 of raw, <= 64 MB, 1.00 written/byte")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="64 MiB per path (smoke run)")
    parser.add_argument("--size-mib", type=int, help="bytes per upload, in MiB (default 1024)")
    parser.add_argument("--dir", type=Path, help="data directory (default: a temporary one)")
    args = parser.parse_args()
    size = (args.size_mib or (64 if args.quick else 1024)) * MiB
    base = args.dir or Path(tempfile.mkdtemp(prefix="bench-uploads-", dir=Path.cwd()))
    try:
        report(size, run(size, base))
    finally:
        if args.dir is None:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Raw WebSocket clients for the chat benchmark: many connections, little work per frame.

Each client does the RFC 6455 handshake by hand on an asyncio ``Protocol``, then only
splits server frames (unmasked: a 2, 4 or 10-byte header) and counts the messages in each
text frame (one per line: a frame may carry several). It watches for one marker in the
payload (the burst's last message) and, when asked, extracts the send times embedded in
messages (``@@<perf_counter>@@``) to measure latency. It answers pings, and sends (masked)
frames only for the publisher. No WebSocket library: the load generator's cost per frame
stays small, so the server is what is measured.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import socket
import struct
import time
from collections.abc import Callable
from typing import cast

from _http import HOST

STAMP = re.compile(rb"@@(\d+\.\d+)@@")


def stamp() -> str:
    """Text to put in a message so receivers can compute its latency."""
    return f"@@{time.perf_counter():.6f}@@"


def mask_frame(payload: bytes, opcode: int = 0x1) -> bytes:
    """A client frame (clients must mask)."""
    key = os.urandom(4)
    size = len(payload)
    if size < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | size)
    elif size < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, size)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, size)
    repeated = (key * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        size, "big"
    )
    return header + key + masked


class Client(asyncio.Protocol):
    def __init__(self, path: str, on_frame: Callable[[Client], None] | None = None) -> None:
        self.path = path
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.open = False
        self.frames = 0
        self.messages = 0
        self.marker: bytes | None = None
        self.got_marker = asyncio.Event()
        self.first_frame = asyncio.Event()
        self.latencies: list[float] | None = None
        self.close_code: int | None = None
        self.closed = asyncio.Event()
        self.on_frame = on_frame
        self.handshake_done = asyncio.Event()
        self.received = asyncio.Event()  # set on every text frame: a sender's pacing cue

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transport is no asyncio.Transport subclass, but has what is used here.
        self.transport = writer = cast(asyncio.Transport, transport)
        key = base64.b64encode(os.urandom(16)).decode()
        request = (
            f"GET {self.path} HTTP/1.1\r\nHost: {HOST}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        )
        writer.write(request.encode())

    def data_received(self, data: bytes) -> None:
        buffer = self.buffer
        buffer += data
        if not self.open:
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            if not buffer.startswith(b"HTTP/1.1 101"):
                self.close_code = -int(buffer[9:12])
                self.closed.set()
                self.handshake_done.set()
                return
            del buffer[: end + 4]
            self.open = True
            self.handshake_done.set()
        position, size = 0, len(buffer)
        while size - position >= 2:
            length = buffer[position + 1] & 0x7F
            start = position + 2
            if length == 126:
                if size - position < 4:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 4], "big")
                start = position + 4
            elif length == 127:
                if size - position < 10:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 10], "big")
                start = position + 10
            end = start + length
            if end > size:
                break
            opcode = buffer[position] & 0x0F
            if opcode in (0x1, 0x0):
                payload = buffer[start:end]
                self.frames += 1
                self.messages += payload.count(b"\n") + 1
                self.received.set()
                if self.marker is not None and self.marker in payload:
                    self.got_marker.set()
                if self.latencies is not None:
                    now = time.perf_counter()
                    self.latencies.extend(now - float(t) for t in STAMP.findall(payload))
                if self.on_frame is not None:
                    self.on_frame(self)
                self.first_frame.set()
            elif opcode == 0x8:
                self.close_code = int.from_bytes(buffer[start : start + 2], "big") or 1005
                self.closed.set()
            elif opcode == 0x9 and self.transport is not None:
                self.transport.write(mask_frame(bytes(buffer[start:end]), 0xA))
            position = end
        del buffer[:position]

    def connection_lost(self, exc: Exception | None) -> None:
        if self.close_code is None:
            self.close_code = 1006
        self.closed.set()
        self.handshake_done.set()

    def send(self, text: str) -> None:
        assert self.transport is not None
        self.transport.write(mask_frame(text.encode()))

    def close(self) -> None:
        if self.transport is not None:
            self.transport.abort()


async def connect(
    port: int,
    path: str,
    rcvbuf: int | None = None,
    on_frame: Callable[[Client], None] | None = None,
) -> Client:
    """One client, handshake done (raises if refused)."""
    loop = asyncio.get_running_loop()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:  # a client that stops reading: the kernel buffers little for it
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    sock.setblocking(False)
    await loop.sock_connect(sock, (HOST, port))
    _, client = await loop.create_connection(lambda: Client(path, on_frame), sock=sock)
    await asyncio.wait_for(client.handshake_done.wait(), 30)
    if not client.open:
        raise RuntimeError(f"handshake refused ({client.close_code})")
    return client


async def connect_many(
    port: int, path: Callable[[int], str], count: int, at_once: int = 100
) -> list[Client]:
    """``count`` clients (``at_once`` handshakes in flight), each with a first frame."""
    clients: list[Client] = []
    gate = asyncio.Semaphore(at_once)

    async def one(index: int) -> None:
        async with gate:
            client = await connect(port, path(index))
            await asyncio.wait_for(client.first_frame.wait(), 30)
            clients.append(client)

    await asyncio.gather(*(one(index) for index in range(count)))
    return clients

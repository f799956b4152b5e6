"""Starlette's ``FileResponse`` for media, with the API's JSON errors.

``FileResponse`` (Starlette 1.x) does all of HTTP Range: ``Accept-Ranges: bytes``, 206 with
``Content-Range`` for one range, ``multipart/byteranges`` for several (overlaps merged, at
most 100), suffix ranges (``bytes=-500``), open ranges (``bytes=500-``), ``If-Range``
against its ETag or Last-Modified (a mismatch or a weak ETag gets the whole file, 200),
``HEAD``, and 416 with ``Content-Range: bytes */<size>`` for a range that starts past the
end. A header it cannot parse (``bytes=5-2``, ``items=0-1``) gets 400. Those two errors
come as plain text; here they are rewritten into ``{"detail": ...}`` like every other error
(status and headers kept), so clients parse one error shape.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.responses import FileResponse
from starlette.types import Message, Receive, Scope, Send

MEDIA_HEADERS = {"X-Content-Type-Options": "nosniff"}
"""The type is the server's (from the probed kind); browsers must not guess another."""


class MediaFileResponse(FileResponse):
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await super().__call__(scope, receive, _json_errors(send))


def _json_errors(send: Send) -> Send:
    error: dict[str, Any] = {}

    async def wrapped(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] in (400, 416):
            error.update(status=message["status"], headers=message["headers"], body=b"")
            return
        if not error or message["type"] != "http.response.body":
            await send(message)
            return
        error["body"] += message.get("body", b"")
        if message.get("more_body", False):
            return
        status, text = error["status"], error["body"].decode("latin-1").strip()
        kept = [(k, v) for k, v in error["headers"] if k.lower() == b"content-range"]
        if status == 416:
            size = kept[0][1].decode().rpartition("/")[2] if kept else "?"
            detail = f"range not satisfiable: the file has {size} bytes"
        else:
            detail = f"malformed Range header: {text or 'cannot parse it'}"
        body = json.dumps({"detail": detail}).encode()
        headers = [
            *kept,
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body, "more_body": False})

    return wrapped

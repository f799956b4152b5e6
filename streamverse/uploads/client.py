"""``streamverse upload FILE``: a multipart upload with two progress bars (tqdm): the bytes
this client sends, then the server's processing, read from the upload's progress
WebSocket. Also usable from Python (a notebook cell): ``upload(url, token, path)``.

The bytes bar counts what httpx reads from the file as it streams the multipart body
(httpx never reads the whole file into memory); the id comes from ``POST /uploads`` first,
so the server's events can be followed once the body is in.
"""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path
from typing import Any, TextIO

import httpx
from tqdm import tqdm
from websockets.sync.client import connect


class _Counted(io.BufferedReader):
    """A file whose reads move a progress bar."""

    def __init__(self, path: Path, bar: tqdm[Any]) -> None:
        super().__init__(io.FileIO(path, "rb"))
        self._bar = bar

    def read(self, size: int | None = -1) -> bytes:
        data = super().read(size)
        self._bar.update(len(data))
        return data


def upload(
    url: str,
    token: str,
    path: Path,
    *,
    title: str | None = None,
    description: str = "",
    out: TextIO | None = None,
    timeout: float = 60.0,
    bar: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Upload ``path`` to the server at ``url``; the last progress event's data. ``bar``:
    more ``tqdm`` options for both bars (a notebook fixes ``bar_format`` and
    ``mininterval`` so its output is the same on every run)."""
    out = out if out is not None else sys.stderr
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=url, headers=headers, timeout=timeout) as http:
        created = http.post("/uploads", json={"title": title, "description": description})
        _check(created)
        ticket = created.json()
        size = path.stat().st_size
        with (
            tqdm(
                total=size, unit="B", unit_scale=True, desc="sending", file=out, **(bar or {})
            ) as sending,
            _Counted(path, sending) as file,
        ):
            files = {"file": (path.name, file, "application/octet-stream")}
            form = {"description": description, **({"title": title} if title else {})}
            sent = http.post(ticket["upload_url"], files=files, data=form)
        _check(sent)
    return follow(url, token, ticket["id"], out=out, timeout=timeout, bar=bar)


def follow(
    url: str,
    token: str,
    upload_id: str,
    *,
    out: TextIO | None = None,
    timeout: float = 60.0,
    bar: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A bar of the server's processing until the upload is ready or failed."""
    out = out if out is not None else sys.stderr
    socket_url = url.replace("http", "ws", 1) + f"/uploads/{upload_id}/progress/ws"
    last: dict[str, Any] = {}
    with (
        connect(socket_url, open_timeout=timeout) as socket,
        tqdm(total=100, unit="%", desc="processing", file=out, **(bar or {})) as processing,
    ):
        socket.send(json.dumps({"type": "auth", "token": token}))
        for raw in socket:
            message = json.loads(raw)
            if message["type"] == "upload_ended":
                break
            if message["type"] in ("progress", "reset"):
                last = message["data"]
                done = round((last.get("processed") or 0.0) * 100)
                processing.update(max(done - processing.n, 0))
    return last


def _check(response: httpx.Response) -> None:
    if response.is_error:
        try:
            detail = response.json()["detail"]
        except (ValueError, KeyError, TypeError):
            detail = response.text
        raise UploadFailed(f"{response.status_code}: {detail}")


class UploadFailed(Exception):
    """The server refused the upload; the message is its reason."""


def main(url: str, token: str | None, path: Path, title: str | None, description: str) -> int:
    """The CLI subcommand: 0 when the upload is ready, 1 otherwise (the reason printed)."""
    if not token:
        print("streamverse upload: set --token or STREAMVERSE_TOKEN", file=sys.stderr)
        return 1
    if not path.is_file():
        print(f"streamverse upload: no such file: {path}", file=sys.stderr)
        return 1
    try:
        last = upload(url, token, path, title=title, description=description)
    except (UploadFailed, httpx.HTTPError, OSError) as error:
        print(f"streamverse upload: {error}", file=sys.stderr)
        return 1
    if last.get("state") != "ready":
        print(f"streamverse upload: {last.get('state')}: {last.get('reason')}", file=sys.stderr)
        return 1
    print(f"ready: media {last['media_id']} ({url}/videos/{last['media_id']})")
    return 0

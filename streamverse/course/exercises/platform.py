"""A real platform for a check: the learner's router included, served by a background
uvicorn, started on first use and always stopped, with helpers to make users and streams.

Server-side exercises are checked by running them for real: the check mounts the
learner's code in an app, talks to it over a socket, and looks at what comes back.
"""

from __future__ import annotations

import contextlib
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi import APIRouter, FastAPI

from ...app import create_app
from ...config import Settings
from ...notebook import BackgroundServer

WAIT = 10.0
"""Seconds a check waits for something that should happen at once."""


class SetupError(RuntimeError):
    """The check's own server did not do what the check needs (not the learner's fault)."""


class Served:
    """Any app, served on first use from a background thread; ``close()`` stops it."""

    def __init__(self) -> None:
        self.server: BackgroundServer | None = None
        self._client: httpx.Client | None = None
        self._data_dir: str | None = None

    def make_app(self, data_dir: Path) -> Any:
        raise NotImplementedError

    @property
    def http(self) -> httpx.Client:
        if self._client is None:
            self._data_dir = tempfile.mkdtemp(prefix="streamverse-check-")
            self.server = BackgroundServer(self.make_app(Path(self._data_dir)))
            # A fresh connection per request: after a 500, uvicorn closes the connection the
            # error happened on, and a reused one would fail the next request for nothing.
            fresh = httpx.Limits(max_keepalive_connections=0)
            self._client = httpx.Client(base_url=self.server.url, timeout=WAIT, limits=fresh)
        return self._client

    @property
    def url(self) -> str:
        self.http  # noqa: B018  (starts the server)
        assert self.server is not None
        return self.server.url

    def failure(self) -> str:
        """What the server logged about its last error (the exception, without the
        traceback), to explain a 500 to the learner. The log line may follow the response
        by a moment, so wait for it briefly."""
        deadline = time.monotonic() + 2.0
        while self.server is not None:
            for record in reversed(self.server.logs()):
                if "Traceback" in record:
                    return _exception_line(record)
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return "nothing logged"

    def close(self) -> None:
        if self._client is not None:
            with contextlib.suppress(Exception):
                self._client.close()
        if self.server is not None:
            self.server.stop()
        if self._data_dir is not None:
            shutil.rmtree(self._data_dir, ignore_errors=True)


class Platform(Served):
    """The whole platform with the learner's ``router`` included."""

    def __init__(self, router: object, **settings: Any) -> None:
        super().__init__()
        self.router = router
        self.settings = settings
        self.app: FastAPI | None = None

    def make_app(self, data_dir: Path) -> FastAPI:
        if not isinstance(self.router, APIRouter):
            raise TypeError(f"expected a fastapi.APIRouter, got a {type(self.router).__name__}")
        self.app = create_app(Settings(data_dir=data_dir, **self.settings))
        self.app.include_router(self.router)
        return self.app

    def user(self, name: str) -> dict[str, str]:
        """A new user's Authorization header."""
        user = ok(self.http.post("/users", json={"name": name}))
        return {"Authorization": f"Bearer {user['token']}"}

    def stream(self, owner: dict[str, str], title: str, live: bool = False) -> str:
        body = {"title": title, "category": "gaming"}
        stream_id: str = ok(self.http.post("/streams/create", json=body, headers=owner))["id"]
        if live:
            path = f"/streams/{stream_id}/status"
            ok(self.http.put(path, json={"status": "live"}, headers=owner))
        return stream_id


class App(Served):
    """A learner's own app (made by their factory), served as it is."""

    def __init__(self, app: Any) -> None:
        super().__init__()
        self.app = app

    def make_app(self, data_dir: Path) -> Any:
        return self.app


def ok(response: httpx.Response) -> Any:
    """The JSON of a response the check's own setup needs; ``SetupError`` if it failed."""
    if response.status_code >= 400:
        raise SetupError(f"{response.request.method} {response.request.url.path}: {response.text}")
    return response.json()


def answer(response: httpx.Response) -> tuple[int, Any]:
    """Status and JSON body (or the text, when the body is not JSON)."""
    try:
        return response.status_code, response.json()
    except ValueError:
        return response.status_code, response.text


def differs(
    served: Served, got: tuple[int, Any], expected: tuple[int, Any], what: str
) -> str | None:
    """None when ``got`` is ``expected``; else what the learner should read, with the
    server's own explanation of a 500."""
    if got == expected:
        return None
    problem = f"{what} it answered {got[0]} {got[1]!r}, expected {expected[0]} {expected[1]!r}"
    if got[0] == 500:
        problem += f" (the server logged: {served.failure()})"
    return problem


EXCEPTION = re.compile(r"^[\w.]*(Error|Exception|Group)\b.*")


def _exception_line(record: str) -> str:
    """The exception's own line from a logged traceback (exception groups included), and
    the first validation message when there is one."""
    lines = [line.strip(" |+-") for line in record.splitlines()]
    found = [line for line in lines if EXCEPTION.match(line) and "Traceback" not in line]
    why = re.search(r"'msg': '([^']*)'", record)
    text = (found[-1] if found else lines[0]) + (f" {why.group(1)}" if why else "")
    return " ".join(text.split())[:300]

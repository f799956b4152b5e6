"""``streamverse.notebook.BackgroundServer``: a real uvicorn in a thread, for lessons and tests."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import subprocess
import sys
import textwrap
import time
from contextlib import asynccontextmanager

import httpx
import pytest
from fastapi import FastAPI

from streamverse.app import create_app
from streamverse.broker import topics
from streamverse.config import Settings
from streamverse.notebook import BackgroundServer, ServerStartError, running_servers
from streamverse.server import bind_socket
from streamverse.services import services_of

HOST = "127.0.0.1"
WAIT = 10.0


@pytest.fixture
def make_app(tmp_path):
    """A fresh StreamVerse app with its own data directory, each call."""
    count = 0

    def factory(**settings):
        nonlocal count
        count += 1
        return create_app(Settings(data_dir=tmp_path / f"data{count}", **settings))

    return factory


def can_listen(port: int) -> bool:
    """Whether a new listening socket can take ``port`` now (as a restarted server would)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
            sock.listen()
        except OSError:
            return False
        return True


def test_port_zero_picks_a_free_port_reported_in_the_urls(make_app):
    server = BackgroundServer(make_app())
    try:
        assert server.running
        assert isinstance(server.port, int) and server.port > 0
        assert server.url == f"http://{HOST}:{server.port}"
        assert server.ws_url == f"ws://{HOST}:{server.port}"
        assert not can_listen(server.port)  # it is really ours
        response = httpx.get(server.url + "/streams", timeout=WAIT)
        assert response.status_code == 200
        assert response.json() == []
    finally:
        server.stop()


def test_two_servers_at_once_are_independent(make_app):
    before = set(running_servers())
    first = BackgroundServer(make_app())
    second = BackgroundServer(make_app())
    try:
        assert first.port != second.port
        assert {first, second} <= set(running_servers())
        with httpx.Client(timeout=WAIT) as client:
            user = client.post(first.url + "/users", json={"name": "ada"}).json()
            headers = {"Authorization": f"Bearer {user['token']}"}
            assert client.get(first.url + "/users/me", headers=headers).status_code == 200
            # Each app has its own database: the token means nothing to the other server.
            assert client.get(second.url + "/users/me", headers=headers).status_code == 401
            assert client.get(second.url + "/streams?limit=7").status_code == 200
        # Each keeps its own log lines.
        assert any('/users/me HTTP/1.1" 200' in line for line in first.logs())
        assert not any('/users/me HTTP/1.1" 200' in line for line in second.logs())
        assert any("limit=7" in line for line in second.logs())
        assert not any("limit=7" in line for line in first.logs())
    finally:
        first.stop()
        second.stop()
    assert set(running_servers()) == before
    assert first not in running_servers() and second not in running_servers()


def test_stop_joins_the_thread_frees_the_port_and_is_idempotent(make_app):
    server = BackgroundServer(make_app())
    port, thread = server.port, server._thread
    assert port is not None and thread is not None
    assert httpx.get(server.url + "/streams", timeout=WAIT).status_code == 200
    assert server in running_servers()

    server.stop()

    assert not thread.is_alive()
    assert not server.running
    assert server not in running_servers()
    assert can_listen(port)
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://{HOST}:{port}/streams", timeout=WAIT)
    server.stop()  # a second stop is harmless
    assert not server.running
    # The exact port can be served again right away.
    with BackgroundServer(make_app(), port=port) as again:
        assert again.port == port
        assert httpx.get(again.url + "/streams", timeout=WAIT).status_code == 200


def test_a_forced_exit_still_runs_the_apps_shutdown():
    """uvicorn skips the lifespan shutdown on a forced exit (a second Ctrl+C, or ``stop()``
    once the graceful timeout has passed); the thread's loop cancels the lifespan task, so
    its ``finally`` (where the store writes what it still queues) runs all the same."""
    shutdown: list[str] = []

    @asynccontextmanager
    async def lifespan(app):
        try:
            yield
        finally:
            await asyncio.sleep(0)  # shutdown may await: a store flushing rows does
            shutdown.append("flushed")

    server = BackgroundServer(FastAPI(lifespan=lifespan))
    thread, uvicorn_server = server._thread, server._server
    assert thread is not None and uvicorn_server is not None
    uvicorn_server.force_exit = True
    uvicorn_server.should_exit = True
    thread.join(WAIT)

    assert not thread.is_alive()
    assert shutdown == ["flushed"]
    server.stop()
    assert not server.running


def test_context_manager_starts_and_stops(make_app):
    server = BackgroundServer(make_app(), start=False)
    assert not server.running
    with pytest.raises(RuntimeError, match="not started"):
        _ = server.url

    with server as entered:
        assert entered is server
        assert entered.running and entered in running_servers()
        assert httpx.get(server.url + "/openapi.json", timeout=WAIT).status_code == 200
        port, thread = server.port, server._thread
        assert port is not None and thread is not None

    assert not server.running
    assert not thread.is_alive()
    assert server not in running_servers()
    assert can_listen(port)


def test_port_already_in_use_is_a_clear_error(make_app):
    before = set(running_servers())
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind((HOST, 0))
        taken.listen()
        port = taken.getsockname()[1]

        with pytest.raises((OSError, ServerStartError)) as error:
            BackgroundServer(make_app(), port=port)

    assert f"{HOST}:{port}" in str(error.value)
    assert "in use" in str(error.value)
    assert set(running_servers()) == before


@asynccontextmanager
async def failing_lifespan(app):
    raise RuntimeError("database unreachable (on purpose)")
    yield  # type: ignore[unreachable]  # pragma: no cover  (makes this a generator)


@pytest.mark.timeout(30)  # a hang (instead of the error) fails here, well before startup_timeout
def test_failing_startup_raises_server_start_error(tmp_path):
    app = FastAPI(lifespan=failing_lifespan)

    with pytest.raises(ServerStartError) as error:
        BackgroundServer(app, startup_timeout=120)

    assert "failed to start" in str(error.value)
    assert "database unreachable (on purpose)" in str(error.value)  # the cause, from the logs
    assert not any(server.app is app for server in running_servers())


@pytest.mark.timeout(30)
def test_unusable_data_dir_raises_server_start_error(tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("in the way")
    app = create_app(Settings(data_dir=not_a_dir / "data"))

    with pytest.raises(ServerStartError) as error:
        BackgroundServer(app, startup_timeout=120)

    assert "NotADirectoryError" in str(error.value) or "Not a directory" in str(error.value)


def test_uvicorn_logs_stay_out_of_stdout_and_stderr(make_app, capsys):
    """Even when the caller has logging configured (a notebook often has), uvicorn's lines
    go to ``server.logs()``, not to the output."""
    root = logging.getLogger()
    handlers = [logging.StreamHandler(sys.stdout), logging.StreamHandler(sys.stderr)]
    for handler in handlers:
        handler.setFormatter(logging.Formatter("%(name)s %(message)s"))
        root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        with BackgroundServer(make_app()) as server:
            response = httpx.get(server.url + "/streams?limit=3", timeout=WAIT)
            assert response.status_code == 200
            httpx.get(server.url + "/no-such-page", timeout=WAIT)
        logs = server.logs()
    finally:
        for handler in handlers:
            root.removeHandler(handler)
        root.setLevel(level)

    out, err = capsys.readouterr()
    assert "uvicorn" not in out and "uvicorn" not in err
    assert '"GET /streams?limit=3 HTTP/1.1" 200' not in out + err
    assert any('"GET /streams?limit=3 HTTP/1.1" 200' in line for line in logs)
    assert any('"GET /no-such-page HTTP/1.1" 404' in line for line in logs)
    assert any("Application startup complete" in line for line in logs)


NEST_ASYNCIO_SCRIPT = """
import asyncio, logging, sys, tempfile
from pathlib import Path

import httpx
import nest_asyncio

logging.basicConfig(level=logging.INFO, format="LEAK %(name)s %(message)s")
nest_asyncio.apply()

from streamverse.app import create_app
from streamverse.config import Settings
from streamverse.notebook import BackgroundServer, running_servers


async def fetch(url):
    async with httpx.AsyncClient(timeout=10) as client:
        return (await client.get(url)).status_code


async def cell():
    # Like a Jupyter cell: runs inside an already running loop, blocking calls and all.
    with tempfile.TemporaryDirectory() as data:
        server = BackgroundServer(create_app(Settings(data_dir=Path(data))))
        assert httpx.get(server.url + "/streams", timeout=10).status_code == 200
        assert asyncio.run(fetch(server.url + "/streams")) == 200  # nested: nest_asyncio
        assert await fetch(server.url + "/users/me") == 401
        server.stop()
        assert not server.running, "still running"
        assert running_servers() == [], running_servers()
    print("OK")


asyncio.run(cell())
"""


@pytest.mark.timeout(60)
def test_works_where_nest_asyncio_was_applied(tmp_path):
    # A subprocess: nest_asyncio patches asyncio for the whole process it is applied in.
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(NEST_ASYNCIO_SCRIPT)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=50,
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout == "OK\n"
    assert "LEAK uvicorn" not in result.stderr  # logging was configured, uvicorn kept out


FEEDS = 200


@pytest.mark.timeout(25)  # below graceful_timeout: waiting for feeds to time out fails here
def test_stop_with_many_open_live_feeds_ends_them_cleanly(make_app):
    server = BackgroundServer(make_app(), graceful_timeout=30)
    thread = server._thread
    assert thread is not None
    try:
        with httpx.Client(base_url=server.url, timeout=WAIT) as client:
            user = client.post("/users", json={"name": "host"}).json()
            headers = {"Authorization": f"Bearer {user['token']}"}
            stream = client.post(
                "/streams/create", json={"title": "big", "category": "x"}, headers=headers
            ).json()
            client.put(
                f"/streams/{stream['id']}/status", json={"status": "live"}, headers=headers
            ).raise_for_status()
        bodies = asyncio.run(follow_then_stop(server, stream["id"], headers))
    finally:
        server.stop()

    assert not thread.is_alive()
    assert server not in running_servers()
    assert len(bodies) == FEEDS
    # Every feed got the comment posted while all were open, then an end line saying why,
    # then a clean end of body: a connection cut by a shutdown timeout would have raised.
    for body in bodies:
        assert len(body) == 2 and '"text":"to all 200"' in body[0]
        assert json.loads(body[1]) == {
            "type": "end",
            "data": {"reason": "server shutting down; reconnect later"},
        }
    assert not any("timeout graceful shutdown exceeded" in line for line in server.logs())


async def follow_then_stop(server, stream_id: str, headers) -> list[list[str]]:
    broker = services_of(server.app).broker
    topic = topics.comments(stream_id)
    received = 0
    limits = httpx.Limits(max_connections=FEEDS, max_keepalive_connections=0)
    timeout = httpx.Timeout(WAIT, read=60)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=timeout) as client:

        async def follow() -> list[str]:
            nonlocal received
            lines = []
            async with client.stream("GET", f"/streams/{stream_id}/comments/live") as response:
                assert response.status_code == 200
                async for line in response.aiter_lines():
                    if line and '"keepalive"' not in line:
                        lines.append(line)
                        received += 1
            return lines

        feeds = [asyncio.create_task(follow()) for _ in range(FEEDS)]
        await until(lambda: broker.subscriber_count(topic) == FEEDS, feeds)
        async with httpx.AsyncClient(base_url=server.url, timeout=WAIT) as poster:
            response = await poster.post(
                f"/streams/{stream_id}/comments", json={"text": "to all 200"}, headers=headers
            )
            response.raise_for_status()
        await until(lambda: received == FEEDS, feeds)

        await asyncio.to_thread(server.stop)

        return await asyncio.gather(*feeds)


async def until(condition, tasks, seconds: float = 20.0) -> None:
    """Poll ``condition`` (failing early if a reader task failed) until a deadline."""
    deadline = time.monotonic() + seconds
    while not condition():
        for task in tasks:
            if task.done():
                task.result()  # re-raises the reader's error
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {seconds} s")
        await asyncio.sleep(0.01)


def test_accepted_connections_have_nodelay():
    """asyncio turns Nagle off only for sockets created as TCP (proto 6, not 0); with it on,
    a response written as head + body waits for the client's delayed ACK (~40 ms) each time."""
    listener = bind_socket(HOST, 0)

    async def accepted_nodelay() -> int:
        loop = asyncio.get_running_loop()
        accepted: asyncio.Future[int] = loop.create_future()

        class Probe(asyncio.Protocol):
            def connection_made(self, transport):
                sock = transport.get_extra_info("socket")
                accepted.set_result(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
                transport.close()

        server = await loop.create_server(Probe, sock=listener)  # as uvicorn does
        async with server:
            _, writer = await asyncio.open_connection(HOST, listener.getsockname()[1])
            try:
                return await asyncio.wait_for(accepted, WAIT)
            finally:
                writer.close()

    assert asyncio.run(accepted_nodelay()) != 0

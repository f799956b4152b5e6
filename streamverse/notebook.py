"""Run an ASGI app in a background uvicorn thread: for notebooks, tests and scripts.

Jupyter already runs an event loop in the kernel's main thread, so ``uvicorn.run`` there
fails ("asyncio.run() cannot be called from a running event loop"), with or without
nest_asyncio. Here the server gets its own thread and its own asyncio loop, which works the
same in Jupyter, pytest and scripts. Where nest_asyncio has been applied it patches that
loop's class too, but the server's loop never re-enters itself, so nothing changes for it.

    with BackgroundServer(create_app()) as server:
        httpx.get(server.url + "/streams")
"""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import time
import weakref
from collections import deque
from collections.abc import Coroutine
from typing import Any, TypeVar

import uvicorn

from .server import Server, bind_socket, make_config

T = TypeVar("T")
_running: weakref.WeakSet[BackgroundServer] = weakref.WeakSet()


class ServerStartError(RuntimeError):
    """The server did not come up: the port was taken, startup failed or it timed out."""


class _LogBuffer(logging.Handler):
    """Keeps one server's uvicorn log lines (by thread) in memory instead of in cell output."""

    def __init__(self, thread_name: str, capacity: int = 500) -> None:
        super().__init__()
        self.thread_name = thread_name
        self.lines: deque[str] = deque(maxlen=capacity)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if record.threadName == self.thread_name:
            self.lines.append(self.format(record))


class _ReadyServer(Server):
    """Signals a ``threading.Event`` once startup (lifespan included) has finished."""

    def __init__(self, config: uvicorn.Config, ready: threading.Event) -> None:
        super().__init__(config)
        self._ready = ready

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        self._ready.set()


class BackgroundServer:
    """One app served on ``host:port`` (port 0 picks a free one) from a daemon thread."""

    _count = 0

    def __init__(
        self,
        app: Any,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        startup_timeout: float = 15.0,
        graceful_timeout: float = 5.0,
        start: bool = True,
    ) -> None:
        self.app = app
        self.host = host
        self.requested_port = port
        self.startup_timeout = startup_timeout
        self.graceful_timeout = graceful_timeout
        self.port: int | None = None
        self._thread: threading.Thread | None = None
        self._server: _ReadyServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._error: BaseException | None = None
        BackgroundServer._count += 1
        self._name = f"streamverse-server-{BackgroundServer._count}"
        self._logs = _LogBuffer(self._name)
        if start:
            self.start()

    @property
    def url(self) -> str:
        return f"http://{self._netloc()}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._netloc()}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def call(self, coroutine: Coroutine[Any, Any, T], timeout: float = 10.0) -> T:
        """Run a coroutine on the server's event loop and return its result.

        The app's services (broker, presence) belong to that loop; this is how a notebook
        cell or a test reaches them, e.g. ``server.call(app.state.broker.publish(...))``.
        """
        if self._loop is None or not self.running:
            coroutine.close()
            raise RuntimeError("the server is not running")
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(timeout)

    def logs(self) -> list[str]:
        """uvicorn's log lines for this server (they are kept out of notebook cells)."""
        return list(self._logs.lines)

    def start(self) -> BackgroundServer:
        if self.running:
            return self
        sock = bind_socket(self.host, self.requested_port)
        self.port = sock.getsockname()[1]
        config = make_config(
            self.app,
            loop="asyncio",
            log_config=None,
            timeout_graceful_shutdown=math.ceil(self.graceful_timeout),
        )
        ready = threading.Event()
        self._server = _ReadyServer(config, ready)
        _capture_uvicorn_logs(self._logs)
        self._error = None
        self._thread = threading.Thread(
            target=self._run, args=(sock,), name=self._name, daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + self.startup_timeout
        while not ready.wait(0.05) and self._thread.is_alive():
            if time.monotonic() > deadline:
                self.stop()
                raise ServerStartError(f"server not ready after {self.startup_timeout} s")
        if not ready.is_set():
            self._thread.join(self.graceful_timeout)
            error = self._error
            self._cleanup()
            detail = f"{type(error).__name__}: {error}" if error else "the thread exited"
            tail = "\n".join(self.logs()[-5:])
            raise ServerStartError(f"server failed to start ({detail})\n{tail}".rstrip())
        _running.add(self)
        return self

    def stop(self) -> None:
        """Ask the server to exit, join its thread and free the port. Safe to call twice."""
        server, thread, loop = self._server, self._thread, self._loop
        if server is not None:
            server.should_exit = True
        if thread is not None and thread is not threading.current_thread():
            thread.join(self.graceful_timeout + 5)
            if thread.is_alive() and loop is not None and server is not None:
                server.force_exit = True
                thread.join(5)
        self._cleanup()

    def _cleanup(self) -> None:
        _running.discard(self)
        _release_uvicorn_logs(self._logs)
        self._thread = None
        self._server = None
        self._loop = None

    def _run(self, sock: Any) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        server = self._server
        assert server is not None, "start() makes the server before the thread"
        try:
            loop.run_until_complete(server.serve(sockets=[sock]))
        except BaseException as error:  # uvicorn calls sys.exit() when startup fails
            self._error = error
        finally:
            sock.close()
            _close_loop(loop)

    def _netloc(self) -> str:
        if self.port is None:
            raise RuntimeError("the server is not started")
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<BackgroundServer {state}>"


def _close_loop(loop: asyncio.AbstractEventLoop) -> None:
    """What ``asyncio.run`` does on exit: cancel leftover tasks and let them finish.

    A forced exit skips uvicorn's lifespan shutdown; cancelling the lifespan task here runs
    the app's shutdown anyway, so the store still writes the rows it queued.
    """
    try:
        tasks = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            loop.run_until_complete(asyncio.gather(*tasks, return_exceptions=True))
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.run_until_complete(loop.shutdown_default_executor())
    finally:
        loop.close()


def running_servers() -> list[BackgroundServer]:
    """Servers started here and not yet stopped (a lesson's last cell should leave none)."""
    return [server for server in _running if server.running]


def _capture_uvicorn_logs(handler: _LogBuffer) -> None:
    """uvicorn.error and uvicorn.access propagate to "uvicorn"; stop them there."""
    logger = logging.getLogger("uvicorn")
    logger.addHandler(handler)
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.INFO)
    logger.propagate = False


def _release_uvicorn_logs(handler: _LogBuffer) -> None:
    logging.getLogger("uvicorn").removeHandler(handler)

"""One chat connection: the handshake's checks, then two loops until one of them ends it.

``pump`` sends the room's events from this connection's own broker subscription, a bounded
mailbox: a client that stops reading fills only its own, the broker drops it when it
overflows, and the connection closes with 3008 while everyone else keeps receiving.
``listen`` reads the client's commands (``commands.handle``). The hub's task looks at every
connection a few times a second (``sweep``): one stuck on a single send for
``chat_send_timeout_seconds``, or whose subscription was dropped while it was stuck, is cut.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Set as AbstractSet

from pydantic import BaseModel
from starlette.types import Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from ..broker import RESET, Event, SubscriberDropped, Subscription, topics
from ..services import Services
from ..streams import service as streams
from ..streams.schemas import Stream
from ..users.schemas import User
from . import commands, service
from .hub import Hub
from .protocol import NORMAL, RESTART, SLOW, TOO_BIG, Close, over_limit
from .ratelimit import TokenBucket
from .schemas import (
    Chat,
    Ended,
    EndedData,
    Error,
    ErrorData,
    History,
    HistoryData,
    Reset,
    ResetData,
    Role,
)

logger = logging.getLogger("streamverse.chat")
GONE = (WebSocketDisconnect, OSError, RuntimeError)
"""What a send to a gone client raises (a send after the close: ``RuntimeError``)."""


class ChatConnection:
    def __init__(
        self, services: Services, hub: Hub, websocket: WebSocket, send: Send, stream: Stream
    ) -> None:
        self.services, self.hub, self.websocket, self.asgi_send = services, hub, websocket, send
        self.stream_id, self.owner_id = stream.id, stream.owner_id
        self.settings = services.settings
        self.user: User | None = None
        self.role = Role.viewer
        self.subscription: Subscription | None = None
        self.hidden: AbstractSet[int] = frozenset()  # the empty one is shared: no allocation
        self.ended_at_join = False
        self.last_id: int | None = None
        loop = asyncio.get_running_loop()
        self.connected_at = loop.time()
        self.sends_started = self.sends_done = 0
        self._progress_seen = -1
        self._stuck_since: float | None = None
        self._main: asyncio.Task[object] | None = None
        self._pump: asyncio.Task[Close] | None = None
        self._listening = False
        self._stop: Close | None = None
        self._gone = False
        self._watching: contextlib.AbstractContextManager[None] | None = None

    async def run(self, since: int | None) -> None:
        self._main = asyncio.current_task()
        self.hub.join(self)
        close: Close | None = None
        try:
            async with service.join(self.services, self.stream_id, since) as joined:
                self.subscription, self.hidden = joined.subscription, joined.hidden or frozenset()
                self.ended_at_join = await streams.is_ended(self.services, self.stream_id)
                await self.send_model(await service.welcome(self.services, self.stream_id))
                if joined.history is not None:
                    last_id = joined.subscription.last_id or 0
                    await self.send_history(joined.history, last_id)
                    joined.history = None  # an open connection keeps no copy of it
                close = await self.converse()
            # The subscription is gone now: a slow client's mailbox is freed before the close.
        except GONE:
            close = None
        except asyncio.CancelledError:  # cut while the welcome or history was being sent
            if self._stop is None or self._main is None:
                raise
            self._main.uncancel()
            close = self._stop
        finally:
            self.hub.leave(self)
            self.sign_out()
        if close is not None:
            with contextlib.suppress(TimeoutError, *GONE):
                async with asyncio.timeout(self.settings.chat_send_timeout_seconds):
                    await self.websocket.close(close.code, close.reason)

    async def send_history(self, messages: list[Chat], last_id: int) -> None:
        await self.send_model(History(data=HistoryData(messages=messages, last_id=last_id)))

    async def converse(self) -> Close | None:
        """``listen`` in this task, ``pump`` in its own; whichever ends first ends both.

        Two tasks per connection, not three: the pump cancels this one (``_pumped``) when
        it ends, and a cut cancels both (``cut``)."""
        self._pump = pump = asyncio.create_task(self.pump(), name="chat-pump")
        pump.add_done_callback(self._pumped)
        self._listening = True
        try:
            close = await self.listen()
        except asyncio.CancelledError:
            if self._stop is None and not self._gone:
                raise  # cancelled from outside (the server is going down)
            if self._main is not None:
                self._main.uncancel()
            close = None
        finally:
            self._listening = False
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
        if self._gone:
            return None
        return self._stop or close

    def _pumped(self, pump: asyncio.Task[Close]) -> None:
        if not pump.cancelled():
            error = pump.exception()
            if error is None:
                self._stop = self._stop or pump.result()
            elif isinstance(error, GONE):
                self._gone = True
            else:
                logger.error("chat connection failed", exc_info=error)
                self._stop = Close(1011, "internal error; reconnect with since")
        if self._listening and self._main is not None:
            self._main.cancel()

    async def pump(self) -> Close:
        """The room's events, from this connection's own mailbox, to the client: all that
        queued up since the last write in one frame, a message per line (a client that fell
        behind catches up with one write; a busy room costs a frame per batch, not per
        message). Plain chat goes out inline; anything else through ``deliver``."""
        subscription = self.subscription
        assert subscription is not None, "run() subscribes first"
        try:
            if self.ended_at_join and not subscription.pending():
                return await self.end()
            send, plain = self.asgi_send, service.plain_frame
            while batch := await subscription.next_batch():
                if subscription.dropped is not None:
                    raise SubscriberDropped(subscription.dropped, self.last_id)
                if (text := plain(batch, self.hidden)) is not None:  # nearly always
                    self.last_id = batch[-1].id
                    self.sends_started += 1
                    await send({"type": "websocket.send", "text": text})  # send_text, inlined
                    self.sends_done += 1
                elif (close := await self.deliver(batch)) is not None:
                    return close
                if self.ended_at_join and not subscription.pending():
                    return await self.end()
        except SubscriberDropped:
            return self.slow(f"more than {self.services.broker.queue_size} messages behind")
        return Close(RESTART, f"server restarting; reconnect with since={self.last_id or 0}")

    async def deliver(self, batch: list[Event]) -> Close | None:
        lines: list[str] = []
        size = 0
        for event in batch:
            kind = event.type
            if kind == "chat" and self.hidden and event.id in self.hidden:
                continue
            if kind == RESET:
                await self.flush(lines)
                await self.reset(event)
                lines, size = [], 0
                continue
            text = service.wire(event)
            lines.append(text)
            size += len(text)
            self.last_id = event.id
            close = None
            if kind == topics.STREAM_ENDED:
                close = Close(NORMAL, "stream ended")
            elif kind == "moderation":
                close = commands.concerns_me(self, event.data)
            if close is not None:
                await self.flush(lines)
                return close
            if size >= service.FRAME_BYTES:
                await self.flush(lines)
                lines, size = [], 0
        await self.flush(lines)
        return None

    async def flush(self, lines: list[str]) -> None:
        if lines:  # (joining one line hands back that very string: no copy)
            await self.send_text("\n".join(lines))

    def slow(self, why: str) -> Close:
        return Close(SLOW, f"too slow ({why}); reconnect with since={self.last_id or 0}")

    async def reset(self, event: Event) -> None:
        """``since`` was too old (or from before a restart): say so, then the history."""
        reason = "missed more than the server keeps (or it restarted); here is the newest"
        await self.send_model(Reset(id=event.id, data=ResetData(reason=reason, last_id=event.id)))
        count = self.settings.chat_history
        messages = await service.recent_messages(self.services, self.stream_id, count, event.id)
        await self.send_history(messages, event.id)
        self.hidden = frozenset()  # the history skipped deleted messages; ids from here on are new
        self.last_id = event.id

    async def end(self) -> Close:
        await self.send_model(Ended(data=EndedData(reason="stream ended")))
        return Close(NORMAL, "stream ended")

    async def listen(self) -> Close | None:
        """The client's messages, one at a time; a bad one gets an ``error``, never a close
        (except a message too big to read)."""
        limit = self.settings.chat_max_frame_bytes
        loop = asyncio.get_running_loop()
        inbound: TokenBucket | None = None  # made at the first message: most viewers send none
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return None
            text: str | None = message.get("text")
            if over_limit(text, message.get("bytes"), limit):
                return Close(TOO_BIG, f"message too big: at most {limit} bytes")
            if inbound is None:
                rate = self.settings.chat_commands_per_second
                burst = max(1, int(2 * rate))
                inbound = TokenBucket(burst, burst / rate, loop.time())
            wait = inbound.take(loop.time())
            if wait:
                detail = "too many messages; slow down"
                await self.reply_error(ErrorData(code="flood", detail=detail, retry_after=wait))
            elif text is None:
                detail = "binary frames are not part of this protocol: send JSON text"
                await self.reply_error(ErrorData(code="binary", detail=detail))
            elif (close := await commands.handle(self, text)) is not None:
                return close

    async def send_text(self, text: str) -> None:
        """One text frame, straight to the server (the ASGI ``send``: the hot path)."""
        self.sends_started += 1
        await self.asgi_send({"type": "websocket.send", "text": text})
        self.sends_done += 1

    async def send_model(self, message: BaseModel) -> None:
        await self.send_text(message.model_dump_json())

    async def reply_error(self, data: ErrorData) -> None:
        await self.send_model(Error(data=data))

    def sweep(self, now: float) -> None:
        """Called by the hub: cut this connection if its client has stopped reading."""
        if self.sends_started == self.sends_done:
            self._stuck_since = None
            return
        if self._progress_seen != self.sends_done:
            self._progress_seen, self._stuck_since = self.sends_done, now
        dropped = self.subscription is not None and self.subscription.dropped is not None
        stuck_for = now - (self._stuck_since or now)
        if dropped or stuck_for >= self.settings.chat_send_timeout_seconds:
            why = "messages pile up unread" if dropped else f"nothing read for {stuck_for:.0f} s"
            self.cut(self.slow(why))

    def cut(self, close: Close) -> None:
        """End the connection with ``close`` now, even in the middle of a blocked send."""
        if self._stop is None:
            self._stop = close
            if self._pump is not None:
                self._pump.cancel()
            if (self._listening or self._pump is None) and self._main is not None:
                self._main.cancel()

    def sign_in(self, user: User, role: Role) -> None:
        """Count the user as present (only signed-in connections are counted: two anonymous
        connections of one person could not be told apart)."""
        self.sign_out()
        self.user, self.role = user, role
        self._watching = self.services.presence.watching(self.stream_id, user.id)
        self._watching.__enter__()
        self.hub.presence_changed(self.stream_id)

    def sign_out(self) -> None:
        if self._watching is not None:
            self._watching.__exit__(None, None, None)
            self._watching = None
            self.hub.presence_changed(self.stream_id)
        if self.user is not None:
            self.hub.per_user.release(self.user.id)
            self.user = None

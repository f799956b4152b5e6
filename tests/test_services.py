"""Domain operations are plain async functions of ``Services``: callable without HTTP.

A WebSocket handler, a background flow, a notebook cell or a test calls the same service
function a route does, and the broker sees the same events.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from streamverse import Settings
from streamverse.app import create_services
from streamverse.broker import topics
from streamverse.comments import service as comments
from streamverse.errors import Conflict, Forbidden, NotFound
from streamverse.streams import service as streams
from streamverse.streams.schemas import StreamCreate, StreamStatus
from streamverse.users import service as users


async def next_event(subscription, within: float = 5.0):
    async with asyncio.timeout(within):
        async for event in subscription:
            return event


def test_posting_a_comment_and_ending_a_stream_publish_without_a_request(tmp_path: Path) -> None:
    async def scenario():
        services = create_services(Settings(data_dir=tmp_path, analytics_interval_seconds=0.01))
        await services.start()
        try:
            ada = await users.create_user(services, "ada")
            body = StreamCreate(title="Speedrun practice", category="Gaming")
            stream = await streams.create_stream(services, ada, body)
            live = await streams.change_status(services, stream.id, ada, StreamStatus.live)
            async with (
                services.broker.subscribe(topics.comments(stream.id)) as comment_feed,
                services.broker.subscribe(topics.analytics(stream.id)) as analytics_feed,
            ):
                posted = await comments.post_comment(services, stream.id, ada, "hello")
                comment = await next_event(comment_feed)
                await streams.change_status(services, stream.id, ada, StreamStatus.ended)
                ended = await next_event(comment_feed)
                numbers = await next_event(analytics_feed)
                while numbers.data["status"] == "live":  # a snapshot from before the end
                    numbers = await next_event(analytics_feed)
                with pytest.raises(Conflict, match="comments are closed"):
                    await comments.post_comment(services, stream.id, ada, "too late")
            return stream, live, posted, comment, ended, numbers
        finally:
            await services.stop()

    stream, live, posted, comment, ended, numbers = asyncio.run(scenario())
    assert (stream.category, live.status) == ("gaming", StreamStatus.live)
    assert comment.type == "comment" and comment.data == posted.model_dump(mode="json")
    assert comment.data["user_name"] == "ada" and comment.data["text"] == "hello"
    assert (ended.type, ended.data) == (topics.STREAM_ENDED, {"stream_id": stream.id})
    # The stream's last numbers say that it ended (the comment's activity may publish a
    # snapshot of the live stream first: the analytics interval here is 10 ms).
    assert numbers.type == "analytics" and numbers.data["status"] == "ended"


def test_service_errors_say_what_is_wrong(tmp_path: Path) -> None:
    async def scenario():
        services = create_services(Settings(data_dir=tmp_path))
        await services.start()
        try:
            ada = await users.create_user(services, "ada")
            bo = await users.create_user(services, "bo")
            stream = await streams.create_stream(
                services, ada, StreamCreate(title="t", category="c")
            )
            errors = []
            for call in (
                streams.change_status(services, stream.id, bo, StreamStatus.live),
                streams.change_status(services, stream.id, ada, StreamStatus.ended),
                streams.get_stream(services, "nope"),
            ):
                try:
                    await call
                except (Forbidden, Conflict, NotFound) as error:
                    errors.append((error.status, error.detail))
            return errors
        finally:
            await services.stop()

    assert asyncio.run(scenario()) == [
        (403, "only the stream's owner may change it"),
        (
            409,
            "cannot change status from 'scheduled' to 'ended': the only allowed next "
            "status is 'live'",
        ),
        (404, "stream 'nope' not found"),
    ]

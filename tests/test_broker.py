"""The broker contract: ids, bounded history, replay, reset, drops and close, on every backend.

Every test takes ``make_broker``, parametrized over the backends (memory now; a networked
backend joins the list when it lands), so each backend is held to the same promises. A
few tests at the end are about the memory backend alone.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamverse.broker import RESET, Broker, SubscriberDropped, Subscription, Topic
from streamverse.broker.coalesce import Coalescer
from streamverse.broker.topics import History

BACKENDS = ["memory://"]
T = Topic("t")


@pytest.fixture(params=BACKENDS)
def make_broker(request: pytest.FixtureRequest) -> Callable[..., Broker]:
    def make(**options: Any) -> Broker:
        return Broker(request.param, **options)

    return make


def run(coroutine: Any) -> Any:
    return asyncio.run(coroutine)


async def drain(subscription: Subscription, count: int) -> list[Any]:
    """The next ``count`` events, or fail rather than hang."""
    received: list[Any] = []
    if count == 0:
        return received
    async with asyncio.timeout(5):
        async for event in subscription:
            received.append(event)
            if len(received) == count:
                return received
    return received


def test_ids_increase_by_one_per_topic_from_a_clock_based_start(make_broker):
    async def scenario():
        broker = make_broker()
        await broker.connect()
        before = time.time_ns() // 1000
        ids = [((await broker.publish(Topic(name), "t", {})).id, name) for name in "aabab"]
        after = time.time_ns() // 1000
        await broker.close()
        return ids, before, after

    ids, before, after = run(scenario())
    a = [event_id for event_id, name in ids if name == "a"]
    b = [event_id for event_id, name in ids if name == "b"]
    assert a == list(range(a[0], a[0] + 3)) and b == list(range(b[0], b[0] + 2))
    assert before <= a[0] <= after and before <= b[0] <= after  # microseconds since 1970


def test_a_topic_made_again_resets_clients_of_its_earlier_self(make_broker):
    """What a restart does: the new topic's ids start above the old ones, so an old id is
    recognised as unknown (reset) instead of resuming on the new topic's events."""

    async def scenario():
        old = make_broker()
        for n in range(50):
            last_old = (await old.publish(T, "n", n)).id
        new = make_broker()  # the process restarted: same topic name, nothing remembered
        for n in range(50):
            await new.publish(T, "n", n)
        async with new.subscribe(T, since=last_old) as subscription:
            return (await drain(subscription, 1))[0].type

    assert run(scenario()) == RESET


def test_live_subscriber_gets_events_in_order(make_broker):
    async def scenario():
        broker = make_broker()
        async with broker.subscribe(T) as subscription:
            for n in range(5):
                await broker.publish(T, "n", n)
            return [event.data for event in await drain(subscription, 5)]

    assert run(scenario()) == [0, 1, 2, 3, 4]


@settings(max_examples=60, deadline=None)
@given(
    before=st.integers(0, 30),
    read=st.integers(0, 30),
    during=st.integers(0, 30),
    history=st.integers(1, 40),
)
def test_resume_loses_and_duplicates_nothing_within_history(before, read, during, history):
    forgotten = before + read == 0

    async def scenario():
        broker = Broker(BACKENDS[0], history_size=history)
        for n in range(before):
            await broker.publish(T, "n", n)
        async with broker.subscribe(T) as first:
            after = before + read + during
            for n in range(before, before + read):
                await broker.publish(T, "n", n)
            got = await drain(first, read)
            resume_from = first.last_id
        for n in range(before + read, after):
            await broker.publish(T, "n", n)
        async with broker.subscribe(T, since=resume_from) as second:
            # All missed events; or one reset when they are older than history, or when the
            # topic had no event at all when its only subscriber left (it is not kept).
            expected = during if during <= history and not forgotten else 1
            return got, await drain(second, expected), resume_from

    got, resumed, resume_from = run(scenario())
    assert [e.data for e in got] == list(range(before, before + read))
    if during <= history and not forgotten:
        assert [e.data for e in resumed] == list(range(before + read, before + read + during))
        assert [e.id for e in resumed] == list(range(resume_from + 1, resume_from + during + 1))
    else:  # the gap is older than history: an explicit reset, never a silent hole
        assert resumed[0].type == RESET


@pytest.mark.parametrize("since", ["none", "some"])
def test_events_published_while_history_is_read_arrive_once(make_broker, since):
    """The gap between reading history and live delivery is closed by the facade: an event
    published while a backend reads history (a network round trip) is neither lost nor
    delivered twice, whether the backend's history already holds it or not. (Without
    ``since``, the subscription starts at the newest id the history read saw: event 1 is
    part of the state the subscriber's snapshot shows, so it is not delivered again.)"""

    async def scenario():
        broker = make_broker()
        first = await broker.publish(T, "n", 0)
        real_history = broker.backend.history

        async def slow_history(topic, keep, after):
            await broker.publish(T, "n", 1)  # lands while the history read is in flight
            await asyncio.sleep(0)
            return await real_history(topic, keep, after)

        broker.backend.history = slow_history  # type: ignore[method-assign]
        resume = first.id if since == "some" else None
        async with broker.subscribe(T, since=resume) as subscription:
            broker.backend.history = real_history  # type: ignore[method-assign]
            await broker.publish(T, "n", 2)
            expected = 2 if since == "some" else 1
            return [event.data for event in await drain(subscription, expected)], subscription

    received, subscription = run(scenario())
    assert received == ([1, 2] if since == "some" else [2])
    assert subscription.pending() == 0


def test_since_beyond_the_newest_id_is_a_reset(make_broker):
    async def scenario():
        broker = make_broker()
        newest = (await broker.publish(T, "n", 1)).id
        async with broker.subscribe(T, since=newest + 99) as subscription:
            return (await drain(subscription, 1))[0], newest

    event, newest = run(scenario())
    assert (event.type, event.data["last_id"], event.id) == (RESET, newest, newest)


def test_a_subscriber_that_reads_nothing_is_dropped_and_others_get_everything(make_broker):
    async def scenario():
        broker = make_broker(queue_size=10)
        async with broker.subscribe(T) as idle, broker.subscribe(T) as busy:
            start = idle.last_id
            received = []

            async def consume():
                async for event in busy:
                    received.append(event.data)
                    if len(received) == 100:
                        return

            consumer = asyncio.create_task(consume())
            for n in range(100):
                await broker.publish(T, "n", n)  # never waits for a subscriber
                await asyncio.sleep(0)
            await asyncio.wait_for(consumer, 5)
            assert broker.subscriber_count(T) == 1
            assert idle.dropped is not None
            with pytest.raises(SubscriberDropped) as dropped:
                await drain(idle, 100)
            return received, dropped.value, start

    received, dropped, start = run(scenario())
    assert received == list(range(100))
    assert "slow consumer" in dropped.reason
    assert dropped.last_id == start + 10  # it got what fit in its queue; resumes from there


def test_a_replayed_backlog_does_not_count_against_the_mailbox(make_broker):
    """A client resuming after a long gap gets the whole backlog, and then live events,
    even when the backlog alone is as long as its mailbox."""

    async def scenario():
        broker = make_broker(queue_size=5, history_size=100)
        start = (await broker.publish(T, "n", 0)).id
        for n in range(1, 20):
            await broker.publish(T, "n", n)
        async with broker.subscribe(T, since=start) as subscription:
            for n in range(20, 23):
                await broker.publish(T, "n", n)
            return [event.data for event in await drain(subscription, 22)]

    assert run(scenario()) == list(range(1, 23))


def test_close_ends_every_subscription_and_later_ones_at_once(make_broker):
    async def scenario():
        broker = make_broker()
        async with broker.subscribe(T) as subscription:
            waiting = asyncio.create_task(drain(subscription, 1))
            await asyncio.sleep(0)
            await broker.close()
            first = await asyncio.wait_for(waiting, 5)
        async with broker.subscribe(T) as late:
            second = await drain(late, 1)
        return first, second

    assert run(scenario()) == ([], [])


def test_idle_subscription_yields_keepalive_cues(make_broker):
    async def scenario():
        broker = make_broker()
        async with broker.subscribe(T) as subscription:
            cues = []
            async with asyncio.timeout(5):
                async for item in subscription.events(idle_after=0.01):
                    cues.append(item)
                    if len(cues) == 2:
                        await broker.publish(T, "n", 1)
                    if item is not None:
                        return cues
        return cues

    cues = run(scenario())
    assert cues[:2] == [None, None] and cues[-1].data == 1


@pytest.mark.parametrize(("coalesce", "expected"), [(0.0, [[0], [1], [2]]), (0.05, [[0], [1, 2]])])
def test_a_coalescing_window_gathers_what_follows_a_fan_out_closely(
    make_broker, coalesce, expected
):
    """Between the publishes the loop runs freely. Without a window the reader wakes for
    each event alone. With one, the first event of a quiet topic wakes it at once, and the
    two that follow its fan-out closely wait for the window and come as one batch."""

    async def scenario():
        broker = make_broker()
        async with broker.subscribe(T, coalesce=coalesce) as subscription:
            batches = subscription.batches()
            got: list[list[int]] = []

            async def read() -> None:
                while sum(map(len, got)) < 3:
                    got.append([event.data for event in await anext(batches)])

            reading = asyncio.ensure_future(read())
            await asyncio.sleep(0)  # the reader is waiting now
            for n in range(3):
                await broker.publish(T, "n", n)
                for _ in range(5):
                    await asyncio.sleep(0)  # give a woken reader every chance to run
            async with asyncio.timeout(5):
                await reading
            await batches.aclose()
        return got

    assert run(scenario()) == expected


def test_a_topic_quiet_for_a_window_wakes_its_reader_at_once_again(make_broker):
    """After a fan-out and a whole window without events, an event goes out without
    waiting for a timer: a calm room pays no window."""

    async def scenario():
        broker = make_broker()
        window = 0.05
        async with broker.subscribe(T, coalesce=window) as subscription:
            woken_at_once = []
            for n in range(2):
                reading = asyncio.ensure_future(subscription.next_batch())
                await asyncio.sleep(0)  # the reader is waiting now
                await broker.publish(T, "n", n)
                for _ in range(5):
                    await asyncio.sleep(0)  # a few turns of the loop, far less than the window
                woken_at_once.append(reading.done())
                async with asyncio.timeout(5):
                    await reading
                await asyncio.sleep(2 * window)  # the topic stays quiet for two windows
        return woken_at_once

    assert run(scenario()) == [True, True]


def test_an_event_right_after_a_long_fan_out_waits_for_the_window(make_broker):
    """A fan-out longer than the window (here one reader blocking the loop, as a thousand
    socket writes do) counts as activity: the post that queued up behind it waits for the
    window, so the posts of a busy room are gathered rather than sent one by one."""

    async def scenario():
        broker = make_broker()
        window = 0.05
        async with broker.subscribe(T, coalesce=window) as subscription:

            async def fan_out() -> None:
                await subscription.next_batch()
                time.sleep(1.5 * window)  # noqa: ASYNC251  (on purpose: writes hold the loop)

            waited = []
            for n in range(3):  # woken at once, then by the window's timer, then by it again
                reading = asyncio.ensure_future(fan_out())
                await asyncio.sleep(0)
                await broker.publish(T, "n", n)
                for _ in range(5):
                    await asyncio.sleep(0)
                waited.append(not reading.done())
                async with asyncio.timeout(5):
                    await reading
        return waited

    assert run(scenario()) == [False, True, True]


def test_the_coalescer_counts_a_fan_out_as_busy_until_a_window_after_its_readers_ran():
    """Its whole state machine: quiet, an event at once, busy while the woken readers run
    and for a window after, then quiet again; a pending timer is busy too."""

    async def scenario():
        loop = asyncio.get_running_loop()
        window = 0.05
        coalescer = Coalescer(window, loop)
        seen = []

        def event() -> None:
            coalescer.arrived()
            seen.append(coalescer.at_once)
            coalescer.delivered()

        event()  # quiet: at once
        event()  # the same turn of the loop: its fan-out has not run yet
        for _ in range(3):
            await asyncio.sleep(0)  # the fan-out has run...
        event()  # ...but ended less than a window ago
        await asyncio.sleep(2 * window)
        event()  # quiet again
        await asyncio.sleep(2 * window)  # its fan-out, and a window of quiet after it
        coalescer.wake_later(Woken())  # a window is open: busy, whatever the clock says
        event()
        coalescer.close()
        return seen

    assert run(scenario()) == [True, False, False, True, False]


class Woken:
    def _wake_now(self) -> None:
        pass


def test_next_batch_waits_for_events_then_ends_on_close_or_raises_on_drop(make_broker):
    async def scenario():
        broker = make_broker(queue_size=3)
        async with broker.subscribe(T) as reader, broker.subscribe(T) as idle:
            waiting = asyncio.ensure_future(reader.next_batch())
            await asyncio.sleep(0)
            assert not waiting.done()  # nothing queued yet: it waits
            await broker.publish(T, "n", 0)
            async with asyncio.timeout(5):
                first = [event.data for event in await waiting]
            for n in (1, 2, 3):  # idle reads nothing: its mailbox of 3 overflows
                await broker.publish(T, "n", n)
            queued = [event.data for event in await idle.next_batch()]
            with pytest.raises(SubscriberDropped):
                await idle.next_batch()
            reader.close()
            rest = [event.data for event in await reader.next_batch()]
            return first, queued, rest, await reader.next_batch()

    assert run(scenario()) == ([0], [0, 1, 2], [1, 2, 3], [])


def test_a_mailbox_half_full_wakes_its_reader_before_the_window_ends(make_broker):
    async def scenario():
        broker = make_broker(queue_size=4)
        async with broker.subscribe(T, coalesce=60.0) as subscription:
            batches = subscription.batches()
            reading = asyncio.ensure_future(anext(batches))
            await asyncio.sleep(0)
            await broker.publish(T, "n", 0)
            await broker.publish(T, "n", 1)
            async with asyncio.timeout(5):  # far sooner than the 60 s window
                batch = await reading
            await batches.aclose()
        return [event.data for event in batch], subscription.dropped

    assert run(scenario()) == ([0, 1], None)


def test_unsubscribing_removes_the_subscriber(make_broker):
    async def scenario():
        broker = make_broker()
        async with broker.subscribe(T):
            inside = broker.subscriber_count(T)
        return inside, broker.subscriber_count(T)

    assert run(scenario()) == (1, 0)


def test_snapshot_topics_keep_a_shorter_history(make_broker):
    async def scenario():
        broker = make_broker(history_size=100, snapshot_history_size=3)
        fifth: dict[str, tuple[Topic, int]] = {}
        for topic in (Topic("s", History.snapshots), Topic("e")):
            for n in range(10):
                event = await broker.publish(topic, "n", n)
                fifth.setdefault(topic.name, (topic, event.id + 4))
        firsts = {}
        for name, (topic, since) in fifth.items():
            async with broker.subscribe(topic, since=since) as subscription:
                firsts[name] = (await drain(subscription, 1))[0].type
        return firsts

    assert run(scenario()) == {"s": RESET, "e": "n"}


def test_unknown_scheme_is_a_clear_error():
    with pytest.raises(ValueError, match="unsupported broker URL"):
        Broker("kafka://x")


# -- the memory backend ---------------------------------------------------------------------


def test_idle_topics_beyond_the_limit_are_forgotten_least_recently_used_first():
    async def scenario():
        broker = Broker(history_size=5)
        broker.backend.max_topics = 3  # type: ignore[attr-defined]
        async with broker.subscribe(Topic("watched")):
            await broker.publish(Topic("watched"), "n", 0)
            await broker.publish(Topic("old"), "n", 1)
            recent_id = (await broker.publish(Topic("recent"), "n", 1)).id
            await broker.publish(Topic("old"), "n", 2)  # "old" is now used more recently
            await broker.publish(Topic("new"), "n", 1)  # a 4th topic: the idle LRU one goes
            kept = set(broker.backend.topics)  # type: ignore[attr-defined]
        async with broker.subscribe(Topic("recent"), since=recent_id) as resumed:
            (event,) = await drain(resumed, 1)
        return kept, event.type

    kept, first = run(scenario())
    assert kept == {"watched", "old", "new"}  # subscribed ones stay
    assert first == RESET  # a client resuming on a forgotten topic is told to reload


def test_subscribing_to_made_up_topics_leaves_nothing_behind():
    async def scenario():
        broker = Broker()
        for n in range(20):
            async with broker.subscribe(Topic(f"made-up-{n}")):
                pass
        return len(broker.backend.topics)  # type: ignore[attr-defined]

    assert run(scenario()) == 0

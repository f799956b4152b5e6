"""The broker's promises: ids, bounded history, resume, reset, dropping slow subscribers."""

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamverse.broker import RESET, Broker, SubscriberDropped


def run(coroutine):
    return asyncio.run(coroutine)


async def drain(subscription, count):
    """The next ``count`` events, or fail rather than hang."""
    received = []
    if count == 0:
        return received
    async with asyncio.timeout(5):
        async for event in subscription:
            received.append(event)
            if len(received) == count:
                return received
    return received


def test_ids_increase_per_topic():
    async def scenario():
        broker = Broker()
        ids = [(await broker.publish(topic, "t", {})).id for topic in "aabab"]
        return ids, await broker.last_id("a"), await broker.last_id("missing")

    assert run(scenario()) == ([1, 2, 1, 3, 2], 3, 0)


def test_live_subscriber_gets_events_in_order():
    async def scenario():
        broker = Broker()
        async with broker.subscribe("t") as subscription:
            for n in range(5):
                await broker.publish("t", "n", n)
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
    async def scenario():
        broker = Broker(history_size=history)
        for n in range(before):
            await broker.publish("t", "n", n)
        async with broker.subscribe("t") as first:
            after = before + read + during
            for n in range(before, before + read):
                await broker.publish("t", "n", n)
            got = await drain(first, read)
            resume_from = first.last_id
        for n in range(before + read, after):
            await broker.publish("t", "n", n)
        async with broker.subscribe("t", since=resume_from) as second:
            expected = during if during <= history else 1  # all missed events, or one reset
            return got, await drain(second, expected), resume_from

    got, resumed, resume_from = run(scenario())
    assert [e.data for e in got] == list(range(before, before + read))
    if during <= history:
        assert [e.data for e in resumed] == list(range(before + read, before + read + during))
        assert [e.id for e in resumed] == list(range(resume_from + 1, resume_from + during + 1))
    else:  # the gap is older than history: an explicit reset, never a silent hole
        assert resumed[0].type == RESET


def test_since_beyond_the_newest_id_is_a_reset():
    async def scenario():
        broker = Broker()
        await broker.publish("t", "n", 1)
        async with broker.subscribe("t", since=99) as subscription:
            return (await drain(subscription, 1))[0]

    event = run(scenario())
    assert (event.type, event.data["last_id"]) == (RESET, 1)


def test_a_subscriber_that_reads_nothing_is_dropped_and_others_get_everything():
    async def scenario():
        broker = Broker(queue_size=10)
        async with broker.subscribe("t") as idle, broker.subscribe("t") as busy:
            received = []

            async def consume():
                async for event in busy:
                    received.append(event.data)
                    if len(received) == 100:
                        return

            consumer = asyncio.create_task(consume())
            for n in range(100):
                await broker.publish("t", "n", n)  # never waits for a subscriber
                await asyncio.sleep(0)
            await asyncio.wait_for(consumer, 5)
            assert broker.subscriber_count("t") == 1
            with pytest.raises(SubscriberDropped) as dropped:
                await drain(idle, 100)
            return received, dropped.value

    received, dropped = run(scenario())
    assert received == list(range(100))
    assert "slow consumer" in dropped.reason
    assert dropped.last_id == 10  # it got what fit in its queue; it resumes from there


def test_close_ends_every_subscription_and_later_ones_at_once():
    async def scenario():
        broker = Broker()
        async with broker.subscribe("t") as subscription:
            waiting = asyncio.create_task(drain(subscription, 1))
            await asyncio.sleep(0)
            await broker.close()
            first = await asyncio.wait_for(waiting, 5)
        async with broker.subscribe("t") as late:
            second = await drain(late, 1)
        return first, second

    assert run(scenario()) == ([], [])


def test_idle_subscription_yields_keepalive_cues():
    async def scenario():
        broker = Broker()
        async with broker.subscribe("t") as subscription:
            cues = []
            async with asyncio.timeout(5):
                async for item in subscription.events(idle_after=0.01):
                    cues.append(item)
                    if len(cues) == 2:
                        await broker.publish("t", "n", 1)
                    if item is not None:
                        return cues

    cues = run(scenario())
    assert cues[:2] == [None, None] and cues[-1].data == 1


def test_unsubscribing_removes_the_subscriber():
    async def scenario():
        broker = Broker()
        async with broker.subscribe("t"):
            inside = broker.subscriber_count("t")
        return inside, broker.subscriber_count("t")

    assert run(scenario()) == (1, 0)


def test_unknown_scheme_is_a_clear_error():
    with pytest.raises(ValueError, match="unsupported broker URL"):
        Broker("kafka://x")


def test_idle_topics_beyond_the_limit_are_forgotten_least_recently_used_first():
    from streamverse.broker.memory import MemoryBackend

    async def scenario():
        backend = MemoryBackend(history_size=5, max_topics=3)
        async with backend.subscribe("watched"):
            for name in ("old", "recent"):
                await backend.publish(name, "n", 1)
            await backend.publish("old", "n", 2)  # "old" is now used more recently
            await backend.publish("new", "n", 1)  # a 4th topic: the idle LRU one goes
            kept = {name: await backend.last_id(name) for name in ("watched", "old", "recent")}
        async with backend.subscribe("recent", since=1) as resumed:
            (event,) = await drain(resumed, 1)
        return kept, event.type

    kept, first = run(scenario())
    assert kept == {"watched": 0, "old": 2, "recent": 0}  # subscribed topics are never dropped
    assert first == RESET  # a client resuming on a forgotten topic is told to reload


def test_history_can_be_shorter_for_a_kind_of_topic():
    async def scenario():
        broker = Broker(history_size=100, history_sizes={"analytics": 3})
        for name in ("stream:1:analytics", "stream:1:comments"):
            for n in range(10):
                await broker.publish(name, "n", n)
        firsts = {}
        for name in ("stream:1:analytics", "stream:1:comments"):
            async with broker.subscribe(name, since=5) as subscription:
                firsts[name] = (await drain(subscription, 1))[0].type
        return firsts

    assert run(scenario()) == {"stream:1:analytics": RESET, "stream:1:comments": "n"}

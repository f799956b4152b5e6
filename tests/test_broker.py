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


def test_ids_increase_by_one_per_topic_from_a_clock_based_start():
    import time

    async def scenario():
        broker = Broker()
        before = time.time_ns() // 1000
        ids = [((await broker.publish(topic, "t", {})).id, topic) for topic in "aabab"]
        after = time.time_ns() // 1000
        return ids, await broker.last_id("a"), await broker.last_id("missing"), before, after

    ids, last_a, missing, before, after = run(scenario())
    a = [event_id for event_id, topic in ids if topic == "a"]
    b = [event_id for event_id, topic in ids if topic == "b"]
    assert a == list(range(a[0], a[0] + 3)) and b == list(range(b[0], b[0] + 2))
    assert before <= a[0] <= after and before <= b[0] <= after  # microseconds since 1970
    assert (last_a, missing) == (a[-1], 0)


def test_a_topic_made_again_resets_clients_of_its_earlier_self():
    """What a restart does: the new topic's ids start above the old ones, so an old id is
    recognised as unknown (reset) instead of resuming on the new topic's events."""

    async def scenario():
        old = Broker()
        for n in range(50):
            last_old = (await old.publish("t", "n", n)).id
        new = Broker()  # the process restarted: same topic name, nothing remembered
        for n in range(50):
            await new.publish("t", "n", n)
        async with new.subscribe("t", since=last_old) as subscription:
            return (await drain(subscription, 1))[0].type

    assert run(scenario()) == RESET


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
    forgotten = before + read == 0

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


def test_since_beyond_the_newest_id_is_a_reset():
    async def scenario():
        broker = Broker()
        newest = (await broker.publish("t", "n", 1)).id
        async with broker.subscribe("t", since=newest + 99) as subscription:
            return (await drain(subscription, 1))[0], newest

    event, newest = run(scenario())
    assert (event.type, event.data["last_id"], event.id) == (RESET, newest, newest)


def test_a_subscriber_that_reads_nothing_is_dropped_and_others_get_everything():
    async def scenario():
        broker = Broker(queue_size=10)
        async with broker.subscribe("t") as idle, broker.subscribe("t") as busy:
            start = idle.last_id
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
            return received, dropped.value, start

    received, dropped, start = run(scenario())
    assert received == list(range(100))
    assert "slow consumer" in dropped.reason
    assert dropped.last_id == start + 10  # it got what fit in its queue; resumes from there


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
            await backend.publish("old", "n", 1)
            recent_id = (await backend.publish("recent", "n", 1)).id
            await backend.publish("old", "n", 2)  # "old" is now used more recently
            await backend.publish("new", "n", 1)  # a 4th topic: the idle LRU one goes
            kept = {name: await backend.last_id(name) > 0 for name in ("watched", "old", "recent")}
        async with backend.subscribe("recent", since=recent_id) as resumed:
            (event,) = await drain(resumed, 1)
        return kept, event.type

    kept, first = run(scenario())
    assert kept == {"watched": True, "old": True, "recent": False}  # subscribed ones stay
    assert first == RESET  # a client resuming on a forgotten topic is told to reload


def test_history_can_be_shorter_for_a_kind_of_topic():
    async def scenario():
        broker = Broker(history_size=100, history_sizes={"analytics": 3})
        fifth = {}
        for name in ("stream:1:analytics", "stream:1:comments"):
            for n in range(10):
                event = await broker.publish(name, "n", n)
                fifth.setdefault(name, event.id + 4)
        firsts = {}
        for name in ("stream:1:analytics", "stream:1:comments"):
            async with broker.subscribe(name, since=fifth[name]) as subscription:
                firsts[name] = (await drain(subscription, 1))[0].type
        return firsts

    assert run(scenario()) == {"stream:1:analytics": RESET, "stream:1:comments": "n"}

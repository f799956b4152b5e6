"""Rows stored in batches just after their events went out (``db.behind.WriteBehind``), on a
real SQLite file, and the chat's readers that must see what is still queued."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, event, insert, select

from streamverse import Settings
from streamverse.app import create_services
from streamverse.chat import moderation, rules
from streamverse.chat import service as chat
from streamverse.chat.errors import ChatRefused
from streamverse.chat.models import unstored_messages
from streamverse.db.behind import WriteBehind
from streamverse.db.store import Store
from streamverse.services import Services
from streamverse.streams import service as streams
from streamverse.streams.schemas import StreamCreate, StreamStatus
from streamverse.users import service as users

metadata = MetaData()
parents = Table("parents", metadata, Column("id", Integer, primary_key=True))
rows = Table(
    "rows",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("parent", ForeignKey("parents.id")),
    Column("text", String),
)
INSERT = insert(rows)


def run(tmp_path: Path, scenario: Callable[[Store], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        store = Store(f"sqlite+aiosqlite:///{tmp_path / 'rows.db'}")
        async with store.engine.begin() as connection:
            await connection.run_sync(metadata.create_all)
            await connection.execute(insert(parents).prefix_with("OR IGNORE"), [{"id": 1}])
        try:
            return await scenario(store)
        finally:
            await store.close()

    return asyncio.run(main())


async def stored(store: Store) -> list[int]:
    async with store.engine.connect() as connection:
        return list((await connection.scalars(select(rows.c.id).order_by(rows.c.id))).all())


def count_commits(store: Store) -> list[int]:
    commits: list[int] = []
    event.listen(store.engine.sync_engine, "commit", lambda _: commits.append(1))
    return commits


def test_a_burst_of_rows_is_stored_in_a_few_transactions(tmp_path: Path) -> None:
    async def scenario(store: Store) -> tuple[list[int], list[int], int]:
        queue = store.write_behind("rows", INSERT)
        commits = count_commits(store)
        for n in range(100):
            await queue.add({"id": n, "parent": 1, "text": f"row {n}"})
        waiting = [row["id"] for row in queue.pending()]
        await queue.flushed()
        return waiting, await stored(store), len(commits)

    waiting, ids, commits = run(tmp_path, scenario)
    assert waiting == list(range(100))  # queued, none written yet: nothing awaited the store
    assert ids == list(range(100))
    assert 1 <= commits <= 2


def test_flushed_waits_only_for_rows_added_before_it_even_while_more_keep_coming(
    tmp_path: Path,
) -> None:
    async def scenario(store: Store) -> tuple[list[int], int]:
        queue = store.write_behind("rows", INSERT)
        for n in range(10):
            await queue.add({"id": n, "parent": 1, "text": "early"})
        stop = asyncio.Event()

        async def keep_adding() -> int:
            n = 10
            while not stop.is_set():
                await queue.add({"id": n, "parent": 1, "text": "late"})
                n += 1
                await asyncio.sleep(0)
            return n

        adding = asyncio.create_task(keep_adding())
        async with asyncio.timeout(30):  # a queue that never drains fully must not hang this
            await queue.flushed()
        early = [n for n in await stored(store) if n < 10]
        stop.set()
        return early, await adding

    early, added = run(tmp_path, scenario)
    assert early == list(range(10))
    assert added > 10


def test_a_row_the_database_refuses_is_skipped_and_the_rest_of_its_batch_kept(
    tmp_path: Path,
) -> None:
    async def scenario(store: Store) -> list[int]:
        queue = store.write_behind("rows", INSERT)
        await queue.add({"id": 1, "parent": 1, "text": "fine"})
        await queue.add({"id": 2, "parent": 99, "text": "its parent is gone"})
        await queue.add({"id": 3, "parent": 1, "text": "fine too"})
        await queue.flushed()
        return await stored(store)

    assert run(tmp_path, scenario) == [1, 3]


def test_closing_the_store_stores_what_is_still_queued(tmp_path: Path) -> None:
    async def scenario(store: Store) -> None:
        queue = store.write_behind("rows", INSERT)
        for n in range(5):
            await queue.add({"id": n, "parent": 1, "text": "just before a restart"})

    run(tmp_path, scenario)  # closes the store without a flush of its own

    async def reopened(store: Store) -> list[int]:
        return await stored(store)

    assert run(tmp_path, reopened) == list(range(5))


def test_past_its_limit_a_writer_waits_for_the_store(tmp_path: Path) -> None:
    async def scenario(store: Store) -> list[int]:
        queue = WriteBehind(store.engine, INSERT, limit=3)
        most_pending = []
        for n in range(20):
            await queue.add({"id": n, "parent": 1, "text": "bounded"})
            most_pending.append(len(queue.pending()))
        await queue.flushed()
        return most_pending

    assert max(run(tmp_path, scenario)) <= 3 + 3  # the batch being written, and a full queue


class Gate:
    """Holds every batch while closed: rows stay pending for as long as a test needs,
    whatever the machine's speed."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.opened = asyncio.Event()
        self.waited_for = asyncio.Event()  # someone called ``flushed``
        insert_rows, flushed = WriteBehind._insert, WriteBehind.flushed
        gate = self

        async def held(self: WriteBehind, batch: list[dict[str, Any]]) -> None:
            await gate.opened.wait()
            await insert_rows(self, batch)

        async def noted(self: WriteBehind) -> None:
            gate.waited_for.set()
            await flushed(self)

        monkeypatch.setattr(WriteBehind, "_insert", held)
        monkeypatch.setattr(WriteBehind, "flushed", noted)

    def close(self) -> None:
        self.opened, self.waited_for = asyncio.Event(), asyncio.Event()

    async def waited_for_by(self, task: asyncio.Task[Any]) -> None:
        """Until ``task`` waits for the held-back rows (or, if it never does, has finished
        without them: the test's assertions then fail)."""
        noticed = asyncio.create_task(self.waited_for.wait())
        await asyncio.wait({task, noticed}, return_when=asyncio.FIRST_COMPLETED)
        noticed.cancel()

    def open(self) -> None:
        self.opened.set()


async def live_room(services: Services) -> tuple[Any, Any, Any]:
    """A live stream, its owner and a viewer."""
    ada = await users.create_user(services, "ada")
    bob = await users.create_user(services, "bob")
    stream = await streams.create_stream(services, ada, StreamCreate(title="t", category="c"))
    await streams.change_status(services, stream.id, ada, StreamStatus.live)
    return stream, ada, bob


def chat_scenario(tmp_path: Path, body: Callable[[Services], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        services = create_services(Settings(data_dir=tmp_path))
        await services.start()
        try:
            async with asyncio.timeout(60):  # a lost wake-up fails the test, never hangs it
                return await body(services)
        finally:
            await services.stop()

    return asyncio.run(main())


def test_slow_mode_counts_a_message_still_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body(services: Services) -> tuple[int, str]:
        stream, owner, bob = await live_room(services)
        await moderation.set_modes(services, stream.id, owner, slow_seconds=30)
        gate = Gate(monkeypatch)
        try:
            await chat.post_message(services, stream.id, bob, "first")
            pending = len(unstored_messages(services.store).pending())
            with pytest.raises(ChatRefused) as refused:
                await chat.post_message(services, stream.id, bob, "second, at once")
        finally:
            gate.open()
        return pending, refused.value.code

    pending, code = chat_scenario(tmp_path, body)
    assert pending == 1  # the first message was still queued when the second came
    assert code == "slow_mode"


def test_slow_mode_counts_a_message_stored_while_the_next_one_is_checked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first message's commit lands after the second's standing query read the table
    and before anything else: it must be seen in one place or the other."""

    async def body(services: Services) -> str:
        stream, owner, bob = await live_room(services)
        await moderation.set_modes(services, stream.id, owner, slow_seconds=30)
        gate = Gate(monkeypatch)
        read_table = rules.standing

        async def commit_lands_meanwhile(connection: Any, stream_id: str, user_id: str) -> Any:
            standing = await read_table(connection, stream_id, user_id)
            gate.open()
            await unstored_messages(services.store).flushed()
            return standing

        try:
            await chat.post_message(services, stream.id, bob, "first")
            monkeypatch.setattr(rules, "standing", commit_lands_meanwhile)
            with pytest.raises(ChatRefused) as refused:
                await chat.post_message(services, stream.id, bob, "second, at once")
        finally:
            gate.open()
        return refused.value.code

    assert chat_scenario(tmp_path, body) == "slow_mode"


def test_history_and_a_delete_see_a_message_still_queued(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def body(services: Services) -> tuple[list[str], list[str]]:
        stream, owner, bob = await live_room(services)
        gate = Gate(monkeypatch)
        try:
            await chat.post_message(services, stream.id, bob, "hello")
            reading = asyncio.create_task(chat.recent_messages(services, stream.id, 50))
            await gate.waited_for_by(reading)
        finally:
            gate.open()
        history = [message.data.text for message in await reading]
        gate.close()
        try:
            message_id = await chat.post_message(services, stream.id, bob, "oops")
            deleting = asyncio.create_task(
                moderation.delete_message(services, stream.id, owner, message_id)
            )
            await gate.waited_for_by(deleting)
        finally:
            gate.open()
        await deleting
        after = await chat.recent_messages(services, stream.id, 50)
        return history, [message.data.text for message in after]

    history, after = chat_scenario(tmp_path, body)
    assert history == ["hello"]
    assert after == ["hello"]  # "oops" is gone

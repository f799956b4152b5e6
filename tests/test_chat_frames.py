"""How the pump packs a batch of events into one frame (``service.plain_frame``): the
inline path a busy room takes for nearly every frame, and what it leaves to ``deliver``."""

from __future__ import annotations

import json

from streamverse.broker import Event
from streamverse.chat import service


def chat(event_id: int, text: str = "hi") -> Event:
    return Event("chat:s", event_id, "chat", {"user_name": "ada", "text": text})


def test_visible_chat_messages_go_out_in_one_frame_a_line_each() -> None:
    frame = service.plain_frame([chat(1, "one"), chat(2, "two")], frozenset())
    assert frame is not None
    lines = [json.loads(line) for line in frame.split("\n")]
    assert [(m["type"], m["id"], m["data"]["text"]) for m in lines] == [
        ("chat", 1, "one"),
        ("chat", 2, "two"),
    ]


def test_one_message_is_its_wire_form_as_is() -> None:
    event = chat(7)
    assert service.plain_frame([event], frozenset()) == service.wire(event)


def test_a_hidden_message_or_another_type_is_left_to_deliver() -> None:
    assert service.plain_frame([chat(1), chat(2)], frozenset({2})) is None
    moderation = Event("chat:s", 3, "moderation", {"action": "delete", "message_id": 1})
    assert service.plain_frame([chat(1), moderation], frozenset()) is None


def test_a_batch_too_big_for_one_frame_is_left_to_deliver() -> None:
    big = "x" * 500
    count = service.FRAME_BYTES // 500 + 1
    assert service.plain_frame([chat(n, big) for n in range(count)], frozenset()) is None


def test_connections_woken_together_share_one_frame_string() -> None:
    events = [chat(1, "one"), chat(2, "two"), chat(3, "three")]
    first = service.plain_frame(list(events), frozenset())
    again = service.plain_frame(list(events), frozenset())  # another connection's batch
    assert first is not None and again is first
    later = service.plain_frame(events[1:], frozenset())  # one that read the first already
    assert later is not None and later is not first
    assert [json.loads(line)["id"] for line in later.split("\n")] == [2, 3]


def test_a_connection_with_hidden_messages_never_gets_the_shared_frame() -> None:
    events = [chat(1, "one"), chat(2, "deleted"), chat(3, "three")]
    assert service.plain_frame(list(events), frozenset()) is not None
    assert service.plain_frame(list(events), frozenset({2})) is None


def test_a_reset_marker_with_a_messages_id_does_not_get_that_messages_frame() -> None:
    """A reset marker takes the id of the event it stands for: its batch ends where a plain
    one does, starts at the same id and is as long, and still must not share its frame."""
    events = [chat(1), chat(2), chat(3)]
    assert service.plain_frame(list(events), frozenset()) is not None
    reset = Event("chat:s", 1, "reset", {"reason": "history", "last_id": 1})
    assert service.plain_frame([reset, *events[1:]], frozenset()) is None


def test_a_shared_frame_keeps_no_older_event_alive() -> None:
    events = [chat(1), chat(2)]
    service.plain_frame(list(events), frozenset())
    kept = events[-1].cache["frame"]
    assert not any(isinstance(part, Event) for part in (*kept, *kept[0]))

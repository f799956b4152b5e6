"""``streamverse.sse`` against the spec: what it writes, a browser reads back unchanged."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sse_client import SSEParser

from streamverse.broker import Event
from streamverse.sse import encoder as sse

line_text = st.text(st.characters(blacklist_characters="\r\n\0", codec="utf-8"), max_size=30)


@given(
    data=st.text(st.characters(codec="utf-8", blacklist_characters="\0"), max_size=200),
    kind=line_text.filter(lambda value: value.strip() != ""),
    event_id=st.integers(min_value=0, max_value=2**53),
)
def test_round_trip_through_a_spec_parser(data, kind, event_id):
    parser = SSEParser()
    frame = sse.encode(data, event=kind, id=event_id)
    (event,) = parser.feed(frame.decode())
    expected = data.replace("\r\n", "\n").replace("\r", "\n")
    assert (event.type, event.data, event.last_event_id) == (kind, expected, str(event_id))


def test_multiline_data_becomes_several_data_lines():
    assert sse.encode("one\ntwo\r\nthree", event="e", id=3) == (
        b"event: e\nid: 3\ndata: one\ndata: two\ndata: three\n\n"
    )


def test_comment_and_retry_only_frame_dispatches_nothing():
    parser = SSEParser()
    assert parser.feed(sse.encode(comment="keep\nalive", retry=1500).decode()) == []
    assert parser.comments == ["keep", "alive"]
    assert parser.retry == 1500


@pytest.mark.parametrize("field", ["event", "id"])
def test_refuses_line_breaks_where_the_spec_has_no_room_for_them(field):
    with pytest.raises(ValueError, match="single line"):
        sse.encode("x", **{field: "a\nb"})  # type: ignore[arg-type]


def test_an_event_is_encoded_once_and_shared():
    event = Event("t", 4, "tick", {"n": 1})
    assert sse.frame(event) is sse.frame(event)
    (parsed,) = SSEParser().feed(sse.frame(event).decode())
    assert (parsed.type, parsed.json(), parsed.last_event_id) == ("tick", {"n": 1}, "4")


@pytest.mark.parametrize(
    ("header", "query", "expected"),
    [(None, None, None), ("", None, None), ("12", None, 12), (None, "7", 7), ("3", "9", 3)],
)
def test_last_event_id_accepts_integers_from_header_or_query(header, query, expected):
    assert sse.last_event_id(header, query) == expected


@pytest.mark.parametrize("raw", ["abc", "-1", "1.5", "٣", "9" * 5 + "x"])
def test_malformed_last_event_id_is_a_400(raw):
    from streamverse.errors import BadRequest

    with pytest.raises(BadRequest) as error:
        sse.last_event_id(raw, None)
    assert error.value.status == 400
    assert "Last-Event-ID" in error.value.detail

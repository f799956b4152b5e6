"""The spec parser used by the SSE tests must itself be right, or they prove nothing."""

from sse_client import SSEParser


def test_parses_fields_comments_and_multiline_data():
    parser = SSEParser()
    events = parser.feed(": hello\nretry: 3000\nevent: tick\nid: 7\ndata: a\ndata: b\n\n")
    assert [(e.type, e.data, e.last_event_id) for e in events] == [("tick", "a\nb", "7")]
    assert parser.comments == ["hello"]
    assert parser.retry == 3000


def test_chunk_boundaries_and_crlf_do_not_matter():
    text = "event: x\r\ndata: 1\r\n\r\ndata: 2\r\rdata:3\n\n"
    whole = SSEParser().feed(text)
    parser = SSEParser()
    pieces = [event for char in text for event in parser.feed(char)]
    assert [e.data for e in whole] == [e.data for e in pieces] == ["1", "2", "3"]
    assert [e.type for e in whole] == ["x", "message", "message"]


def test_a_frame_without_data_dispatches_nothing_but_id_persists():
    parser = SSEParser()
    assert parser.feed("id: 5\n\n") == []
    (event,) = parser.feed("data: after\n\n")
    assert event.last_event_id == "5"

"""A multipart/form-data body parsed as it arrives: the file part into a ``Sink``, the small
text fields into bounded buffers.

``python_multipart.MultipartParser`` is a push parser: ``write(chunk)`` calls back with
each header and each slice of part data as it is found, across chunk boundaries, without
buffering the body. Starlette's ``request.form()`` drives the same parser but spools the
file into a ``SpooledTemporaryFile`` first (memory up to 1 MiB, then a temporary file
elsewhere) that an endpoint then copies again, so each byte is written twice. Here the
file part's slices go straight into the sink that writes the upload's one file, and the
callbacks refuse what is not allowed (a second file, an unknown field, too many parts or
header bytes, a field too long) the moment it shows up.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from python_multipart import MultipartParser
from python_multipart.exceptions import FormParserError
from python_multipart.multipart import parse_options_header

from ..errors import BadRequest
from .errors import PayloadTooLarge, UnsupportedMediaType
from .sink import Sink

FILE_FIELD = "file"
TEXT_FIELDS = {"title": 200, "description": 5000}
"""The text fields a form may carry, and their longest length in characters."""
MAX_PARTS = 8
MAX_HEADER_BYTES = 4096
FORM_OVERHEAD = 64 * 1024
"""Bytes a body may have besides the file (boundaries, part headers, text fields)."""


@dataclass
class Form:
    fields: dict[str, str] = field(default_factory=dict)
    filename: str | None = None
    """The client's file name, raw (sanitize it before keeping it)."""
    has_file: bool = False


class MultipartReader:
    """Feed it the body's chunks; the file goes to ``sink``, at most ``max_file`` bytes.

    ``on_head(head)`` is called once, with the file's first bytes, as soon as there are
    enough to tell its format (or the file ended): it raises to refuse the file.
    """

    def __init__(
        self,
        content_type: str | None,
        sink: Sink,
        *,
        max_file: int,
        on_head: Callable[[bytes], None],
        head_bytes: int,
    ) -> None:
        kind, options = parse_options_header(content_type)
        boundary = options.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise UnsupportedMediaType(
                "send the upload as multipart/form-data (fields: file, title, description)"
            )
        self.sink, self.max_file = sink, max_file
        self.form = Form()
        self.ended = False
        self._on_head, self._head_bytes, self._head_checked = on_head, head_bytes, False
        self._parts = 0
        self._headers: dict[bytes, bytes] = {}
        self._name, self._value = bytearray(), bytearray()
        self._target: str | None = None  # FILE_FIELD, a text field's name, or None
        self._text = bytearray()
        try:
            self.parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._part_begin,
                    "on_header_field": self._header_name,
                    "on_header_value": self._header_value,
                    "on_header_end": self._header_end,
                    "on_headers_finished": self._headers_finished,
                    "on_part_data": self._part_data,
                    "on_part_end": self._part_end,
                    "on_end": self._end,
                },
                max_header_count=8,
                max_header_size=MAX_HEADER_BYTES,
            )
        except FormParserError as error:
            raise BadRequest(f"malformed multipart body: {error}") from error

    def feed(self, chunk: bytes) -> None:
        try:
            self.parser.write(chunk)
        except FormParserError as error:
            raise BadRequest(f"malformed multipart body: {error}") from error

    def finish(self) -> Form:
        """The form, once the body has ended; ``BadRequest`` if it was cut short."""
        if not self.ended:
            raise BadRequest("the multipart body ended before its closing boundary")
        if not self.form.has_file:
            raise BadRequest("no 'file' part in the form")
        return self.form

    # -- python-multipart callbacks (synchronous; raising aborts the parse) -------------

    def _part_begin(self) -> None:
        self._parts += 1
        if self._parts > MAX_PARTS:
            raise BadRequest(f"more than {MAX_PARTS} parts in the form")
        self._headers.clear()
        self._target = None

    def _header_name(self, data: bytes, start: int, end: int) -> None:
        self._name += data[start:end]

    def _header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _header_end(self) -> None:
        self._headers[bytes(self._name).strip().lower()] = bytes(self._value).strip()
        self._name.clear()
        self._value.clear()

    def _headers_finished(self) -> None:
        disposition, options = parse_options_header(self._headers.get(b"content-disposition"))
        name = options.get(b"name", b"").decode("utf-8", "replace")
        if disposition != b"form-data" or not name:
            raise BadRequest("every part needs 'Content-Disposition: form-data; name=...'")
        if name == FILE_FIELD:
            if self.form.has_file:
                raise BadRequest("one file per upload")
            self.form.has_file = True
            filename = options.get(b"filename")
            self.form.filename = None if filename is None else filename.decode("utf-8", "replace")
        elif name not in TEXT_FIELDS:
            allowed = ", ".join([FILE_FIELD, *TEXT_FIELDS])
            raise BadRequest(f"unexpected form field {name[:64]!r}; the fields are {allowed}")
        elif name in self.form.fields:
            raise BadRequest(f"the field {name!r} was sent twice")
        self._target = name
        self._text.clear()

    def _part_data(self, data: bytes, start: int, end: int) -> None:
        if self._target == FILE_FIELD:
            if self.sink.written + (end - start) > self.max_file:
                raise PayloadTooLarge(f"the file is larger than the limit of {self.max_file} bytes")
            self.sink.write(memoryview(data)[start:end])
            if not self._head_checked and len(self.sink.head) >= self._head_bytes:
                self._check_head()
        elif self._target is not None:
            self._text += data[start:end]
            limit = TEXT_FIELDS[self._target] * 4  # UTF-8: at most 4 bytes a character
            if len(self._text) > limit:
                raise BadRequest(f"the field {self._target!r} is too long")

    def _part_end(self) -> None:
        if self._target == FILE_FIELD:
            if not self._head_checked:
                self._check_head()
        elif self._target is not None:
            try:
                text = self._text.decode("utf-8")
            except UnicodeDecodeError:
                raise BadRequest(f"the field {self._target!r} is not UTF-8") from None
            if len(text) > TEXT_FIELDS[self._target]:
                raise BadRequest(f"the field {self._target!r} is too long")
            self.form.fields[self._target] = text
        self._target = None

    def _check_head(self) -> None:
        self._head_checked = True
        self._on_head(bytes(self.sink.head))

    def _end(self) -> None:
        self.ended = True

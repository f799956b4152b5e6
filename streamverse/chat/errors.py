"""Why a chat command was refused: the ``error`` message's ``code``, words and retry time.

Chat operations raise ``ServiceError``s like every service (a route would answer them with
their HTTP status); a connection answers them with an ``error`` message and stays open.
"""

from __future__ import annotations

from ..errors import BadRequest, Conflict, Forbidden, NotFound, ServiceError, Unauthorized
from .schemas import ErrorData


class ChatRefused(ServiceError):
    """A message or command the room's rules refuse (rate limit, timeout, slow mode, ...)."""

    status = 403

    def __init__(self, code: str, detail: str, retry_after: float | None = None) -> None:
        super().__init__(detail)
        self.code = code
        self.retry_after = retry_after


class RateLimited(ChatRefused):
    status = 429


CODES: tuple[tuple[type[ServiceError], str], ...] = (
    (Unauthorized, "unauthorized"),
    (Forbidden, "forbidden"),
    (NotFound, "not_found"),
    (Conflict, "conflict"),
    (BadRequest, "bad_request"),
)


def error_data(error: ServiceError, ref: str | None = None) -> ErrorData:
    """The ``error`` message's data for a refused command."""
    if isinstance(error, ChatRefused):
        retry = None if error.retry_after is None else round(error.retry_after, 2)
        return ErrorData(code=error.code, detail=error.detail, retry_after=retry, ref=ref)
    code = next((name for kind, name in CODES if isinstance(error, kind)), "refused")
    return ErrorData(code=code, detail=error.detail, ref=ref)

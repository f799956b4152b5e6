"""One error shape for the whole API, ``{"detail": "..."}``, and the errors services raise.

Services raise ``ServiceError`` subclasses, never HTTP exceptions: the same operation is
called from a route (the handler below turns the error into a JSON response), a WebSocket
handler (which sends it as an error message) or a notebook cell.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException


class ErrorBody(BaseModel):
    """Every 4xx/5xx JSON error has this shape (422 adds FastAPI's list of field errors)."""

    detail: str = Field(examples=["stream 'abc' not found"])


class ServiceError(Exception):
    """An operation refused: ``status`` is the HTTP status that says why."""

    status = 400

    def __init__(self, detail: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class BadRequest(ServiceError):
    status = 400


class Unauthorized(ServiceError):
    status = 401

    def __init__(self, detail: str) -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(ServiceError):
    status = 403


class NotFound(ServiceError):
    status = 404

    def __init__(self, what: str, key: str) -> None:
        super().__init__(f"{what} {key!r} not found")


class Conflict(ServiceError):
    status = 409


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"detail": detail}, status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Service errors, unknown routes and methods answer in JSON, not plain text."""

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> JSONResponse:
        return error_response(exc.status, exc.detail, exc.headers)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, exc.detail, headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        """A bug, not bad input: logged with its traceback by the server; the client gets
        JSON, not a plain-text page."""
        return error_response(500, "internal server error")

"""One JSON error shape for the whole API: ``{"detail": "..."}`` (422 lists the bad fields)."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException


class NotFound(StarletteHTTPException):
    def __init__(self, what: str, key: str) -> None:
        super().__init__(404, f"{what} {key!r} not found")


def install_error_handlers(app: FastAPI) -> None:
    """Unknown routes and methods answer in JSON too, not Starlette's plain text."""

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, exc.status_code, headers=exc.headers)

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> JSONResponse:
        """A bug, not bad input: logged with its traceback by the server; the client gets
        JSON, not a plain-text page."""
        return JSONResponse({"detail": "internal server error"}, 500)

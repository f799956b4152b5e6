"""The browser front end: static files under /web and the page at /.

Plain HTML, CSS and JavaScript with no build step (``static/``); browser libraries are
vendored there with their licenses.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).parent / "static"
router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html")


def mount(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/web", StaticFiles(directory=STATIC_DIR), name="web")

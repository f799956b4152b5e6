"""The browser front end: static files under /web and the page at /."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

WEB_DIR = Path(__file__).parent / "web"
router = APIRouter(include_in_schema=False)


@router.get("/")
async def index() -> FileResponse:
    return FileResponse(WEB_DIR / "index.html")


def mount(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/web", StaticFiles(directory=WEB_DIR), name="web")

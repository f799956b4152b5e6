"""``/analytics``: log jobs, the outline's ``POST /analytics/process-logs/``, and the job's
progress feed.

Flow: ``POST /analytics/log-jobs`` answers the job (its id, ``progress_url`` and
``upload_url``); follow ``progress_url`` (SSE) and POST the log to ``upload_url`` as the raw
request body (``curl --data-binary @app.log``, any content type but multipart). That POST
answers the final summary when the last byte is counted. ``POST /analytics/process-logs/``
without ``job_id`` creates the job itself, for one-shot use (the id is in the answer and in
``Location``). The body is read with ``request.stream()``: counted as it arrives.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, Header, Query, Request, Response
from fastapi.responses import StreamingResponse
from starlette.requests import ClientDisconnect

from ..errors import ErrorBody, ServiceError
from ..services import ServicesDep, services_of
from ..sse.encoder import HEADERS, MEDIA_TYPE, last_event_id
from ..users.auth import UNAUTHORIZED, CurrentUser
from . import service
from .feed import progress_events
from .schemas import LogJob


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    await service.recover(services_of(app))  # jobs a crash left processing: failed
    yield


router = APIRouter(prefix="/analytics", tags=["logs"], lifespan=lifespan)

NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorBody, "description": "Unknown log job"}
}


class UnsupportedLogBody(ServiceError):
    status = 415


@router.post("/log-jobs", status_code=201, response_model=LogJob, responses=UNAUTHORIZED)
async def create_log_job(user: CurrentUser, services: ServicesDep) -> LogJob:
    """A job waiting for its log: its id, where to follow it and where to send the log."""
    return await service.create_job(services, user)


@router.post(
    "/process-logs/",
    response_model=LogJob,
    responses={
        **UNAUTHORIZED,
        **NOT_FOUND,
        400: {"model": ErrorBody, "description": "The body ended early (client went away)"},
        403: {"model": ErrorBody, "description": "Someone else's job"},
        409: {"model": ErrorBody, "description": "The job has already received its log"},
        415: {"model": ErrorBody, "description": "A multipart body: send the raw file"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"text/plain": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
async def process_logs(
    request: Request,
    response: Response,
    user: CurrentUser,
    services: ServicesDep,
    job_id: Annotated[
        str | None, Query(max_length=64, description="From POST /analytics/log-jobs")
    ] = None,
) -> LogJob:
    """Count the log in the request body as it streams in: lines by level and the top
    error messages, in constant memory. Answers the summary; progress is on the job's
    feed."""
    if request.headers.get("content-type", "").lower().startswith("multipart/"):
        raise UnsupportedLogBody(
            "send the log as the raw request body (curl --data-binary @app.log), not as a form"
        )
    if job_id is None:
        job_id = (await service.create_job(services, user)).id
        response.headers["Location"] = f"/analytics/log-jobs/{job_id}"
    return await service.process(services, job_id, user, _body(request))


async def _body(request: Request) -> AsyncIterator[bytes]:
    try:
        async for chunk in request.stream():
            if chunk:
                yield chunk
    except ClientDisconnect:
        raise service.Interrupted("the client disconnected") from None


@router.get("/log-jobs/{job_id}", response_model=LogJob, responses=NOT_FOUND)
async def read_log_job(job_id: str, services: ServicesDep) -> LogJob:
    """The job's numbers now (while processing, the latest ones)."""
    return await service.get_job(services, job_id)


@router.get(
    "/log-jobs/{job_id}/progress",
    response_class=StreamingResponse,
    responses={
        **NOT_FOUND,
        200: {
            "content": {MEDIA_TYPE: {}},
            "description": "Server-Sent Events, each with an id and a LogJob as data: "
            "`progress` every logs_progress_lines lines, then `summary` (or `failed`) last; "
            "`reset` when a resume id is too old. Resume with Last-Event-ID.",
        },
        400: {"model": ErrorBody, "description": "Malformed Last-Event-ID"},
    },
)
async def log_job_progress(
    job_id: str,
    services: ServicesDep,
    last_event_id_header: Annotated[str | None, Header(alias="last-event-id")] = None,
    last_event_id_query: Annotated[str | None, Query(alias="last_event_id")] = None,
) -> StreamingResponse:
    """The job's progress, live, until its summary."""
    since = last_event_id(last_event_id_header, last_event_id_query)
    await service.get_job(services, job_id)  # 404 before the stream starts
    events = progress_events(services, job_id, since)
    return StreamingResponse(events, media_type=MEDIA_TYPE, headers=HEADERS)

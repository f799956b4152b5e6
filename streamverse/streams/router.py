"""``/streams``: create, list, read, change status."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from ..errors import ErrorBody
from ..services import ServicesDep
from ..users.auth import UNAUTHORIZED, CurrentUser
from . import service
from .schemas import Stream, StreamCreate, StreamStatus, StreamStatusUpdate

router = APIRouter(prefix="/streams", tags=["streams"])

MAX_SQL_INT = 2**63 - 1
"""Largest integer a database column or OFFSET takes: bigger query values are a 422."""

NOT_FOUND: dict[int | str, dict[str, object]] = {
    404: {"model": ErrorBody, "description": "Unknown stream"}
}


@router.post(
    "/create", status_code=status.HTTP_201_CREATED, response_model=Stream, responses=UNAUTHORIZED
)
async def create_stream(body: StreamCreate, user: CurrentUser, services: ServicesDep) -> Stream:
    """Schedule a new stream owned by the caller."""
    return await service.create_stream(services, user, body)


@router.get("", response_model=list[Stream])
async def list_streams(
    services: ServicesDep,
    status_filter: Annotated[StreamStatus | None, Query(alias="status")] = None,
    category: Annotated[str | None, Query(max_length=64)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_SQL_INT)] = 0,
) -> list[Stream]:
    """Streams, newest first, optionally filtered by status and category."""
    return await service.list_streams(services, status_filter, category, limit, offset)


@router.get("/{stream_id}", response_model=Stream, responses=NOT_FOUND)
async def read_stream(stream_id: str, services: ServicesDep) -> Stream:
    return await service.get_stream(services, stream_id)


@router.put(
    "/{stream_id}/status",
    response_model=Stream,
    responses={
        **UNAUTHORIZED,
        **NOT_FOUND,
        403: {"model": ErrorBody, "description": "Only the owner may change the status"},
        409: {"model": ErrorBody, "description": "Not an allowed transition"},
    },
)
async def update_status(
    stream_id: str, body: StreamStatusUpdate, user: CurrentUser, services: ServicesDep
) -> Stream:
    """Move a stream forward: scheduled -> live -> ended. Ending it closes its live feeds."""
    return await service.change_status(services, stream_id, user, body.status)

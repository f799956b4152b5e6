"""The analytics numbers once, as JSON (the live feeds are in ``feeds``)."""

from __future__ import annotations

from fastapi import APIRouter

from ..services import ServicesDep
from ..streams.router import NOT_FOUND
from . import service
from .schemas import GlobalStats, StreamAnalytics

router = APIRouter(prefix="/streams", tags=["analytics"])


@router.get("/global-stats", response_model=GlobalStats)
async def read_global_stats(services: ServicesDep) -> GlobalStats:
    """The platform's numbers now, once (the live feed sends them on every change)."""
    return await service.global_snapshot(services)


@router.get("/{stream_id}/analytics", response_model=StreamAnalytics, responses=NOT_FOUND)
async def read_analytics(stream_id: str, services: ServicesDep) -> StreamAnalytics:
    """The stream's numbers now, once (the live feed sends them on every change)."""
    return await service.stream_snapshot(services, stream_id)

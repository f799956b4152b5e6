"""``POST /users`` and ``GET /users/me``."""

from __future__ import annotations

from fastapi import APIRouter, status

from ..services import ServicesDep
from . import service
from .auth import UNAUTHORIZED, CurrentUser
from .schemas import User, UserCreate, UserWithToken

router = APIRouter(tags=["users"])


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserWithToken)
async def create_user(body: UserCreate, services: ServicesDep) -> UserWithToken:
    """Create a user. The token in the response is the only copy: keep it."""
    return await service.create_user(services, body.name)


@router.get("/users/me", response_model=User, responses=UNAUTHORIZED)
async def read_me(user: CurrentUser) -> User:
    """Who the bearer token belongs to."""
    return user

"""Users and bearer tokens.

HTTP clients send ``Authorization: Bearer <token>``. WebSocket clients send the token in
their first message, ``{"type": "auth", "token": "..."}``, rather than in the URL: query
strings end up in access logs and browser history, and browsers cannot set headers on a
WebSocket handshake. Tokens are random (256 bits) and only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
import uuid
from typing import Annotated

from fastapi import APIRouter, Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from .deps import SessionDep
from .models import ErrorBody, User, UserCreate, UserWithToken
from .tables import UserRow

router = APIRouter(tags=["users"])
_bearer = HTTPBearer(auto_error=False, description="Token returned by POST /users.")


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_id() -> str:
    return uuid.uuid4().hex[:16]


async def user_for_token(session: AsyncSession, token: str) -> UserRow | None:
    result = await session.execute(select(UserRow).where(UserRow.token_hash == hash_token(token)))
    return result.scalar_one_or_none()


async def current_user(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> UserRow:
    """The authenticated user, or 401 with a reason and a ``WWW-Authenticate`` challenge."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    user = await user_for_token(session, credentials.credentials)
    if user is None:
        raise _unauthorized("unknown or revoked token")
    return user


async def optional_user(
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> UserRow | None:
    """The user when a valid token is sent; anonymous (None) when none is. A bad token is 401."""
    if credentials is None:
        return None
    return await current_user(session, credentials)


CurrentUser = Annotated[UserRow, Depends(current_user)]
OptionalUser = Annotated[UserRow | None, Depends(optional_user)]
UNAUTHORIZED = {401: {"model": ErrorBody, "description": "Missing or unknown bearer token"}}


def _unauthorized(message: str) -> HTTPException:
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED, message, headers={"WWW-Authenticate": "Bearer"}
    )


@router.post("/users", status_code=status.HTTP_201_CREATED, response_model=UserWithToken)
async def create_user(body: UserCreate, session: SessionDep) -> UserWithToken:
    """Create a user. The token in the response is the only copy: keep it."""
    token = secrets.token_urlsafe(32)
    row = UserRow(id=new_id(), name=body.name, token_hash=hash_token(token))
    session.add(row)
    await session.commit()
    return UserWithToken(id=row.id, name=row.name, created_at=row.created_at, token=token)


@router.get("/users/me", response_model=User, responses=UNAUTHORIZED)
async def read_me(user: CurrentUser) -> UserRow:
    """Who the bearer token belongs to."""
    return user

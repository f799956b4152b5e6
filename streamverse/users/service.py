"""Users and their bearer tokens: random (256 bits), and only their SHA-256 is stored."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from ..db.base import new_id
from ..errors import NotFound, Unauthorized
from ..services import Services
from .models import UserRow
from .schemas import User, UserWithToken


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_user(services: Services, name: str) -> UserWithToken:
    """A new user. The token returned is the only copy: the server keeps its hash."""
    token = secrets.token_urlsafe(32)
    row = UserRow(id=new_id(), name=name, token_hash=hash_token(token))
    async with services.store.session() as session:
        session.add(row)
        await session.commit()
    return UserWithToken(id=row.id, name=row.name, created_at=row.created_at, token=token)


async def find_user(session: AsyncSession, user_id: str) -> User:
    """The user ``user_id``, read in the caller's session; ``NotFound`` if there is none."""
    row = await session.get(UserRow, user_id)
    if row is None:
        raise NotFound("user", user_id)
    return User.model_validate(row)


async def user_for_token(services: Services, token: str) -> User | None:
    async with services.store.session() as session:
        query = select(UserRow).where(UserRow.token_hash == hash_token(token))
        row = (await session.execute(query)).scalar_one_or_none()
    return None if row is None else User.model_validate(row)


async def authenticate(services: Services, token: str | None) -> User:
    """The token's user, or ``Unauthorized`` saying why (for HTTP and WebSocket alike)."""
    if not token:
        raise Unauthorized("missing bearer token: send 'Authorization: Bearer <token>'")
    user = await user_for_token(services, token)
    if user is None:
        raise Unauthorized("unknown or revoked token")
    return user

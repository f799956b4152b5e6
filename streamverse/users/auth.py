"""Who is calling: FastAPI dependencies for the bearer token.

HTTP clients send ``Authorization: Bearer <token>``. WebSocket clients send the token in
their first message, ``{"type": "auth", "token": "..."}``, rather than in the URL: query
strings end up in access logs and browser history, and browsers cannot set headers on a
WebSocket handshake (``users.service.authenticate`` serves both).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from ..errors import ErrorBody
from ..services import ServicesDep
from .schemas import User
from .service import authenticate

_bearer = HTTPBearer(auto_error=False, description="Token returned by POST /users.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


async def current_user(services: ServicesDep, credentials: Credentials) -> User:
    """The authenticated user, or 401 with a reason and a ``WWW-Authenticate`` challenge."""
    if credentials is None or credentials.scheme.lower() != "bearer":
        return await authenticate(services, None)
    return await authenticate(services, credentials.credentials)


async def optional_user(services: ServicesDep, credentials: Credentials) -> User | None:
    """The user when a valid token is sent; anonymous (None) when none is. A bad token is 401."""
    if credentials is None:
        return None
    return await current_user(services, credentials)


CurrentUser = Annotated[User, Depends(current_user)]
OptionalUser = Annotated[User | None, Depends(optional_user)]
UNAUTHORIZED: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorBody, "description": "Missing or unknown bearer token"}
}

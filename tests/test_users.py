"""Users and bearer tokens, over HTTP against a real server."""

from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing

import pytest

from streamverse.services import services_of


def _db_rows(server, user_id: str) -> list[tuple]:
    """The user's row read straight from the SQLite file (WAL included), not via the API."""
    path = services_of(server.app).settings.data_dir / "streamverse.db"
    with closing(sqlite3.connect(path)) as db:
        return db.execute("SELECT * FROM users WHERE id = ?", (user_id,)).fetchall()


def test_create_user_returns_id_name_and_token(client):
    response = client.post("/users", json={"name": "ada"})

    assert response.status_code == 201
    body = response.json()
    assert body["name"] == "ada"
    assert body["id"] and isinstance(body["id"], str)
    assert len(body["token"]) >= 32
    assert body["created_at"]


def test_each_user_gets_its_own_id_and_token(client, make_user):
    first, _ = make_user(client, "ada")
    second, _ = make_user(client, "ada")

    assert first["id"] != second["id"]
    assert first["token"] != second["token"]


def test_token_is_stored_only_as_its_sha256(server, client, make_user):
    user, _ = make_user(client, "grace")
    token = user["token"]

    rows = _db_rows(server, user["id"])

    assert len(rows) == 1
    stored = [str(value) for value in rows[0]]
    assert hashlib.sha256(token.encode()).hexdigest() in stored
    assert not any(token in value for value in stored)
    data_dir = services_of(server.app).settings.data_dir
    for db_file in data_dir.glob("streamverse.db*"):  # the database and its WAL
        assert token.encode() not in db_file.read_bytes(), db_file.name


def test_users_me_with_token(client, make_user):
    user, headers = make_user(client, "linus")

    response = client.get("/users/me", headers=headers)

    assert response.status_code == 200
    me = response.json()
    assert me["id"] == user["id"]
    assert me["name"] == "linus"
    assert "token" not in me


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic YWRhOnNlY3JldA=="},
        {"Authorization": "Bearer"},
    ],
    ids=["no-header", "basic-scheme", "empty-bearer"],
)
def test_missing_token_is_401_with_challenge(client, headers):
    response = client.get("/users/me", headers=headers)

    assert response.status_code == 401
    assert response.headers["content-type"] == "application/json"
    assert response.headers["www-authenticate"] == "Bearer"
    detail = response.json()["detail"]
    assert "missing bearer token" in detail
    assert "Authorization: Bearer <token>" in detail


def test_unknown_token_is_401(client, make_user):
    make_user(client, "ada")  # a real token exists; this one is not it

    response = client.get("/users/me", headers={"Authorization": "Bearer not-a-real-token"})

    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json() == {"detail": "unknown or revoked token"}


@pytest.mark.parametrize(
    "body",
    [
        {"name": ""},
        {"name": "x" * 65},
        {"name": "<script>"},
        {},
        {"name": 42},
        {"name": "   "},
    ],
    ids=["empty", "too-long", "bad-characters", "missing", "not-a-string", "blank"],
)
def test_invalid_user_body_is_422_json(client, body):
    response = client.post("/users", json=body)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    errors = response.json()["detail"]
    assert isinstance(errors, list) and errors
    assert all(error["loc"][:2] == ["body", "name"] for error in errors)
    assert client.post("/users", json={"name": "ok"}).status_code == 201  # still serving


def test_longest_allowed_name_is_accepted(client, make_user):
    user, _ = make_user(client, "x" * 64)

    assert user["name"] == "x" * 64


def test_unknown_route_is_404_json(client):
    response = client.get("/no-such-route")

    assert response.status_code == 404
    assert response.json() == {"detail": "Not Found"}

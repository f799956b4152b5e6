"""Streams: create, list with filters, read, the status lifecycle, errors and the API docs."""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Iterator

import httpx
import pytest
from fastapi import APIRouter
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

import streamverse
from streamverse.sse.feeds import Feed
from streamverse.users.auth import current_user, optional_user


@pytest.fixture
def owner(client, make_user):
    return make_user(client, "owner")


def assert_error(response: httpx.Response, status: int, *fragments: str) -> str:
    """A JSON error with the status and a ``detail`` message containing every fragment."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    detail = response.json()["detail"]
    assert isinstance(detail, str)
    for fragment in fragments:
        assert fragment in detail
    return detail


def test_create_stream(client, owner):
    user, headers = owner
    body = {"title": "Speedrun practice", "description": "any%", "category": "Gaming"}

    response = client.post("/streams/create", json=body, headers=headers)

    assert response.status_code == 201
    stream = response.json()
    assert stream["owner_id"] == user["id"]
    assert stream["title"] == "Speedrun practice"
    assert stream["description"] == "any%"
    assert stream["category"] == "gaming"  # categories are case-insensitive
    assert stream["status"] == "scheduled"
    assert stream["started_at"] is None and stream["ended_at"] is None
    assert client.get(f"/streams/{stream['id']}").json() == stream


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-real-token"}],
    ids=["no-token", "unknown-token"],
)
def test_create_stream_requires_auth(client, headers):
    body = {"title": "t", "category": "c"}

    response = client.post("/streams/create", json=body, headers=headers)

    assert_error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"title": "", "category": "gaming"}, "title"),
        ({"title": "t" * 201, "category": "gaming"}, "title"),
        ({"title": "t", "category": ""}, "category"),
        ({"category": "gaming"}, "title"),
        ({"title": "   ", "category": "gaming"}, "title"),
        ({"title": "t", "category": "  "}, "category"),
        ({"title": "a\x00b", "category": "gaming"}, "title"),
        ({"title": "two\nlines", "category": "gaming"}, "title"),
    ],
    ids=[
        "empty-title",
        "long-title",
        "empty-category",
        "missing-title",
        "blank-title",
        "blank-category",
        "nul-in-title",
        "two-line-title",
    ],
)
def test_create_stream_invalid_body_is_422(client, owner, body, field):
    _, headers = owner

    response = client.post("/streams/create", json=body, headers=headers)

    assert response.status_code == 422
    assert [error["loc"] for error in response.json()["detail"]] == [["body", field]]
    assert client.get("/streams").status_code == 200  # still serving


def test_list_filters_by_status_and_category(server_factory, make_user, make_stream):
    server = server_factory()  # a fresh database: the listing holds exactly these streams
    with httpx.Client(base_url=server.url) as client:
        _, headers = make_user(client, "owner")
        created = {
            (status, category): make_stream(
                client, headers, title=f"{status} {category}", category=category, status=status
            )["id"]
            for status in ("scheduled", "live", "ended")
            for category in ("gaming", "music")
        }

        def listed(**params: str) -> set[str]:
            response = client.get("/streams", params=params)
            assert response.status_code == 200
            return {stream["id"] for stream in response.json()}

        assert listed() == set(created.values())
        for status in ("scheduled", "live", "ended"):
            expected = {id_ for (s, _), id_ in created.items() if s == status}
            assert listed(status=status) == expected
        assert listed(category="music") == {id_ for (_, c), id_ in created.items() if c == "music"}
        assert listed(category="MUSIC") == listed(category="music")
        assert listed(status="live", category="gaming") == {created["live", "gaming"]}
        assert listed(category="cooking") == set()
        assert client.get("/streams", params={"status": "paused"}).status_code == 422


def test_list_is_newest_first_and_paginates(server_factory, make_user, make_stream):
    server = server_factory()
    with httpx.Client(base_url=server.url) as client:
        _, headers = make_user(client, "owner")
        ids = [make_stream(client, headers, title=f"s{i}")["id"] for i in range(4)]

        listed = [s["id"] for s in client.get("/streams").json()]
        page = [s["id"] for s in client.get("/streams", params={"limit": 2, "offset": 1}).json()]

    assert listed == ids[::-1]
    assert page == ids[::-1][1:3]


def test_read_unknown_stream_is_404_json(client):
    response = client.get("/streams/does-not-exist")

    assert assert_error(response, 404) == "stream 'does-not-exist' not found"


def test_lifecycle_scheduled_live_ended(client, owner, make_stream):
    _, headers = owner
    stream = make_stream(client, headers)
    path = f"/streams/{stream['id']}/status"

    live = client.put(path, json={"status": "live"}, headers=headers)
    assert live.status_code == 200
    assert live.json()["status"] == "live"
    assert live.json()["started_at"] is not None
    assert live.json()["ended_at"] is None

    ended = client.put(path, json={"status": "ended"}, headers=headers)
    assert ended.status_code == 200
    assert ended.json()["status"] == "ended"
    assert ended.json()["started_at"] == live.json()["started_at"]
    assert ended.json()["ended_at"] >= ended.json()["started_at"]

    assert client.get(f"/streams/{stream['id']}").json() == ended.json()


@pytest.mark.parametrize(
    ("current", "target", "hint"),
    [
        ("scheduled", "ended", "the only allowed next status is 'live'"),
        ("scheduled", "scheduled", "the only allowed next status is 'live'"),
        ("live", "scheduled", "the only allowed next status is 'ended'"),
        ("live", "live", "the only allowed next status is 'ended'"),
        ("ended", "live", "it has ended"),
        ("ended", "scheduled", "it has ended"),
        ("ended", "ended", "it has ended"),
    ],
)
def test_invalid_transition_is_409(client, owner, make_stream, current, target, hint):
    _, headers = owner
    stream = make_stream(client, headers, status=current)

    response = client.put(
        f"/streams/{stream['id']}/status", json={"status": target}, headers=headers
    )

    assert_error(response, 409, f"from {current!r} to {target!r}", hint)
    after = client.get(f"/streams/{stream['id']}")  # still serving, nothing changed
    assert after.status_code == 200
    assert after.json() == stream


def test_only_the_owner_may_change_status(client, owner, make_user, make_stream):
    _, headers = owner
    _, other = make_user(client, "mallory")
    stream = make_stream(client, headers)

    response = client.put(f"/streams/{stream['id']}/status", json={"status": "live"}, headers=other)

    assert_error(response, 403, "owner")
    assert client.get(f"/streams/{stream['id']}").json()["status"] == "scheduled"
    assert (
        client.put(
            f"/streams/{stream['id']}/status", json={"status": "live"}, headers=headers
        ).json()["status"]
        == "live"
    )


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer not-a-real-token"}],
    ids=["no-token", "unknown-token"],
)
def test_status_change_requires_auth(client, owner, make_stream, headers):
    stream = make_stream(client, owner[1])

    response = client.put(
        f"/streams/{stream['id']}/status", json={"status": "live"}, headers=headers
    )

    assert_error(response, 401)
    assert response.headers["www-authenticate"] == "Bearer"
    assert client.get(f"/streams/{stream['id']}").json()["status"] == "scheduled"


@pytest.mark.parametrize(
    "body",
    [{"status": "paused"}, {"status": None}, {}, {"state": "live"}],
    ids=["unknown-value", "null", "empty", "wrong-field"],
)
def test_invalid_status_value_is_422(client, owner, make_stream, body):
    _, headers = owner
    stream = make_stream(client, headers)

    response = client.put(f"/streams/{stream['id']}/status", json=body, headers=headers)

    assert response.status_code == 422
    assert response.headers["content-type"] == "application/json"
    assert any(error["loc"][0] == "body" for error in response.json()["detail"])
    assert client.get(f"/streams/{stream['id']}").json()["status"] == "scheduled"


def test_status_change_of_unknown_stream_is_404(client, owner):
    _, headers = owner

    response = client.put("/streams/nope/status", json={"status": "live"}, headers=headers)

    assert assert_error(response, 404) == "stream 'nope' not found"
    assert client.get("/streams").status_code == 200


def test_wrong_method_is_405_json(client):
    response = client.delete("/streams")

    assert_error(response, 405)


# Every error each route can answer with, as the OpenAPI document must describe it.
DOCUMENTED_ERRORS = {
    ("post", "/users"): {422},
    ("get", "/users/me"): {401},
    ("post", "/streams/create"): {401, 422},
    ("get", "/streams"): {422},
    ("get", "/streams/{stream_id}"): {404, 422},
    ("put", "/streams/{stream_id}/status"): {401, 403, 404, 409, 422},
    ("post", "/streams/{stream_id}/comments"): {401, 404, 409, 422},
    ("get", "/streams/{stream_id}/comments/live"): {401, 404, 422},
}


def package_routes() -> dict[tuple[str, str], APIRoute]:
    """Every route of every router the package defines, whether or not the app includes it."""
    routes = {}
    for module_info in pkgutil.walk_packages(streamverse.__path__, "streamverse."):
        module = importlib.import_module(module_info.name)
        routers = [getattr(module, "router", None)]
        routers += [feed.router() for feed in vars(module).values() if isinstance(feed, Feed)]
        for router in routers:
            if not isinstance(router, APIRouter):
                continue
            for route in router.routes:
                if isinstance(route, APIRoute) and route.include_in_schema:
                    routes.update(
                        {(method.lower(), route.path): route for method in route.methods or ()}
                    )
    return routes


def dependency_calls(dependant: Dependant) -> Iterator[object]:
    yield dependant.call
    for dependency in dependant.dependencies:
        yield from dependency_calls(dependency)


def test_openapi_lists_every_route_and_its_errors(client):
    response = client.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    operations = {
        (method, path): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
    }
    routes = package_routes()
    assert DOCUMENTED_ERRORS.keys() <= routes.keys()

    expected = {key: set(codes) for key, codes in DOCUMENTED_ERRORS.items()}
    for key, route in routes.items():
        calls = set(dependency_calls(route.dependant))
        if calls & {current_user, optional_user}:
            expected.setdefault(key, set()).add(401)
        if "{stream_id}" in route.path:
            expected.setdefault(key, set()).add(404)
    assert sorted(routes.keys() - operations.keys()) == [], "routes missing from /openapi.json"
    for key, codes in expected.items():
        responses = operations[key]["responses"]
        missing = sorted(str(code) for code in codes if str(code) not in responses)
        assert not missing, f"{key} does not document {missing}"
        for code in codes - {422}:
            documented = responses[str(code)]
            assert documented["description"], (key, code)
            schema = documented["content"]["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (key, code)
    assert "ErrorBody" in spec["components"]["schemas"]


def test_live_feed_is_documented_as_ndjson(client):
    spec = client.get("/openapi.json").json()

    ok = spec["paths"]["/streams/{stream_id}/comments/live"]["get"]["responses"]["200"]

    assert "application/x-ndjson" in ok["content"]


def test_docs_page_is_html(client):
    response = client.get("/docs")

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "swagger-ui" in response.text.lower()
    assert "/openapi.json" in response.text


def test_concurrent_status_changes_let_exactly_one_win(server, client, make_user, make_stream):
    import concurrent.futures

    _, owner = make_user(client, "racer")
    stream = make_stream(client, owner)
    url = f"{server.url}/streams/{stream['id']}/status"

    def put(status):
        with httpx.Client(timeout=10) as http:
            return http.put(url, json={"status": status}, headers=owner).status_code

    for status in ("live", "ended"):
        with concurrent.futures.ThreadPoolExecutor(10) as pool:
            codes = sorted(pool.map(put, [status] * 10))
        assert codes == [200] + [409] * 9, (status, codes)

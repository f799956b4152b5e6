"""Lesson 03's exercise check: it passes a correct streaming upload route and names what
each wrong one gets wrong (buffering, trusting the name, a late or leaky 413, leftovers)."""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import pytest
from fastapi import APIRouter, HTTPException, Request

from streamverse.course.exercises.uploads import check_streaming_upload

CHECKS = [
    "stores the body and answers size and sha256",
    "writes while the body arrives",
    "never lets the client's name near a path",
    "413 as soon as the limit is passed, nothing left",
    "a client that disconnects leaves nothing",
]


def reference(upload_dir: Path, limit: int) -> APIRouter:
    """The worked solution, as in the solution notebook."""
    router = APIRouter()

    @router.post("/practice/upload", status_code=201)
    async def upload(request: Request, filename: str = "upload") -> dict[str, object]:
        path = upload_dir / uuid.uuid4().hex
        digest, size = hashlib.sha256(), 0
        try:
            with path.open("wb") as file:
                async for chunk in request.stream():
                    size += len(chunk)
                    if size > limit:
                        close = {"Connection": "close"}  # or the rest is read, then dropped
                        raise HTTPException(413, f"larger than {limit} bytes", headers=close)
                    digest.update(chunk)
                    file.write(chunk)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        name = filename.replace("\\", "/").rsplit("/", 1)[-1].lstrip(".") or "upload"
        return {"name": name, "size": size, "sha256": digest.hexdigest()}

    return router


def variant(**wrong: bool):  # type: ignore[no-untyped-def]
    """The reference with one mistake switched on."""

    def make(upload_dir: Path, limit: int) -> APIRouter:
        router = APIRouter()

        @router.post("/practice/upload", status_code=201)
        async def upload(request: Request, filename: str = "upload") -> dict[str, object]:
            path = upload_dir / (filename if wrong.get("trusts_name") else uuid.uuid4().hex)
            digest, size = hashlib.sha256(), 0
            try:
                with path.open("wb") as file:
                    if wrong.get("buffers"):
                        data = await request.body()
                        chunks = [data[: len(data) // 2], data[len(data) // 2 :]]
                    else:
                        chunks = None
                    source = chunks if chunks is not None else None
                    stream = request.stream() if source is None else None
                    received = []
                    if stream is not None:
                        async for chunk in stream:
                            received.append(chunk) if wrong.get("late_413") else None
                            size += len(chunk)
                            if size > limit and not wrong.get("late_413"):
                                close = {"Connection": "close"}
                                raise HTTPException(413, "too large", headers=close)
                            digest.update(chunk)
                            file.write(chunk)
                    else:
                        for chunk in source or []:
                            size += len(chunk)
                            digest.update(chunk)
                            file.write(chunk)
                    if size > limit:
                        raise HTTPException(413, "too large")
            except HTTPException:
                if not wrong.get("leaves_file"):
                    path.unlink(missing_ok=True)
                raise
            except BaseException:
                if not wrong.get("leaves_file") and not wrong.get("leaves_on_disconnect"):
                    path.unlink(missing_ok=True)
                raise
            name = filename if wrong.get("trusts_name") else filename.rsplit("/", 1)[-1]
            return {"name": name, "size": size, "sha256": digest.hexdigest()}

        return router

    return make


def unwritten(upload_dir: Path, limit: int) -> APIRouter:
    raise NotImplementedError


def results(make, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    checked = check_streaming_upload(make)
    printed = capsys.readouterr().out
    assert f"{sum(r.passed for r in checked)} of {len(checked)} checks pass" in printed
    return {r.name: "PASS" if r.passed else f"{r.problem}. Hint: {r.hint}" for r in checked}


def failing(found: dict[str, str]) -> set[str]:
    return {name for name, result in found.items() if result != "PASS"}


def test_the_reference_passes_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    found = results(reference, capsys)
    assert list(found) == CHECKS
    assert failing(found) == set()


def test_the_unwritten_exercise_fails_with_its_first_hint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    checked = check_streaming_upload(unwritten)
    printed = capsys.readouterr().out
    assert len(checked) == 1 and not checked[0].passed
    assert "not written yet" in printed and "Hint:" in printed


@pytest.mark.parametrize(
    ("mistake", "fails"),
    [
        ("buffers", {"writes while the body arrives",
                     "413 as soon as the limit is passed, nothing left"}),
        ("trusts_name", {"never lets the client's name near a path"}),
        ("late_413", {"413 as soon as the limit is passed, nothing left"}),
        ("leaves_file", {"413 as soon as the limit is passed, nothing left",
                         "a client that disconnects leaves nothing"}),
        ("leaves_on_disconnect", {"a client that disconnects leaves nothing"}),
    ],
)  # fmt: skip
def test_each_mistake_fails_the_check_it_should(
    capsys: pytest.CaptureFixture[str], mistake: str, fails: set[str]
) -> None:
    assert failing(results(variant(**{mistake: True}), capsys)) == fails

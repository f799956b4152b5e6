"""Lesson 01's checks: the NDJSON reader (client side) and the countdown route (server side).

Each wrong solution gets one thing wrong; its check must fail, naming what it missed."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.responses import JSONResponse, StreamingResponse

from streamverse.course.exercises.countdown import Tracker, check_countdown
from streamverse.course.exercises.streaming import check_comment_texts
from streamverse.notebook import running_servers


def failing(results: list[Any]) -> dict[str, str]:
    return {result.name: result.problem for result in results if not result.passed}


# -- comment_texts ----------------------------------------------------------------------------


def reference(lines: Iterable[str]) -> list[str]:
    texts: list[str] = []
    for line in lines:
        message = json.loads(line)
        if message["type"] == "end":
            return texts
        if message["type"] == "comment":
            texts.append(message["data"]["text"])
    return texts


def spaced_end(lines: Iterable[str]) -> list[str]:
    """Looks for the end line by its text, spaced as json.dumps writes it."""
    texts: list[str] = []
    for line in lines:
        if line.startswith('{"type": "end"'):
            return texts
        message = json.loads(line)
        if message["type"] == "comment":
            texts.append(message["data"]["text"])
    return texts


def end_anywhere(lines: Iterable[str]) -> list[str]:
    """Stops at any line that mentions "end"."""
    texts: list[str] = []
    for line in lines:
        if '"end"' in line:
            return texts
        message = json.loads(line)
        if message["type"] == "comment":
            texts.append(message["data"]["text"])
    return texts


def reads_to_the_end(lines: Iterable[str]) -> list[str]:
    """Never stops early: on a live connection it would hang."""
    messages = [json.loads(line) for line in lines]
    return [m["data"]["text"] for m in messages if m["type"] == "comment"]


def keeps_everything(lines: Iterable[str]) -> list[str]:
    texts: list[str] = []
    for line in lines:
        message = json.loads(line)
        if message["type"] == "end":
            return texts
        texts.append(str(message.get("data", {}).get("text")))
    return texts


def test_the_reference_reader_passes(capsys: pytest.CaptureFixture[str]) -> None:
    assert failing(check_comment_texts(reference)) == {}


@pytest.mark.parametrize(
    ("func", "fails"),
    [
        (spaced_end, "stops at the end line"),
        (end_anywhere, "a comment whose text says 'end' is still a comment"),
        (reads_to_the_end, "stops at the end line"),
        (keeps_everything, "keep-alive and unknown lines skipped"),
    ],
)
def test_a_wrong_reader_fails(
    func: Callable[[Iterable[str]], list[str]], fails: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fails in failing(check_comment_texts(func))


def test_only_the_first_failure_prints_its_hint(capsys: pytest.CaptureFixture[str]) -> None:
    def unwritten(lines: Iterable[str]) -> list[str]:
        raise NotImplementedError

    results = check_comment_texts(unwritten)
    printed = capsys.readouterr().out
    assert printed.count("Hint:") == 1 and not any(result.passed for result in results)
    assert 'check_comment_texts(comment_texts, hints="all")' in printed


# -- the countdown route ----------------------------------------------------------------------


def countdown_app(
    tracker: Tracker,
    *,
    end: bool = True,
    media_type: str = "application/x-ndjson",
    cleanup_in_finally: bool = True,
) -> FastAPI:
    app = FastAPI()

    @app.get("/countdown")
    async def countdown(start: int = 3, interval: float = 0.01) -> StreamingResponse:
        async def lines() -> Any:
            if cleanup_in_finally:
                with tracker.streaming():
                    for n in range(start, 0, -1):
                        yield json.dumps({"type": "tick", "n": n}) + "\n"
                        await asyncio.sleep(interval)
                    if end:
                        yield json.dumps({"type": "end"}) + "\n"
            else:  # leaves only when the loop finishes: never, if the client leaves first
                tracker.active += 1
                for n in range(start, 0, -1):
                    yield json.dumps({"type": "tick", "n": n}) + "\n"
                    await asyncio.sleep(interval)
                yield json.dumps({"type": "end"}) + "\n"
                tracker.active -= 1

        return StreamingResponse(lines(), media_type=media_type)

    return app


def all_at_once(tracker: Tracker) -> FastAPI:
    """Builds every line first and answers plain JSON: nothing streams."""
    app = FastAPI()

    @app.get("/countdown")
    async def countdown(start: int = 3, interval: float = 0.01) -> JSONResponse:
        with tracker.streaming():
            ticks = [{"type": "tick", "n": n} for n in range(start, 0, -1)]
        return JSONResponse([*ticks, {"type": "end"}])

    return app


@pytest.mark.slow
def test_the_reference_countdown_passes() -> None:
    assert failing(check_countdown(countdown_app)) == {}
    assert running_servers() == []


@pytest.mark.slow
@pytest.mark.parametrize(
    ("options", "fails"),
    [
        ({"end": False}, "one end line, last"),
        ({"media_type": "text/plain"}, "labelled as NDJSON"),
        ({"cleanup_in_finally": False}, "cleans up when the client disconnects"),
    ],
)
def test_a_wrong_countdown_fails(options: dict[str, Any], fails: str) -> None:
    problems = failing(check_countdown(lambda tracker: countdown_app(tracker, **options)))
    assert fails in problems, problems
    assert running_servers() == []


@pytest.mark.slow
def test_a_countdown_that_does_not_stream_fails() -> None:
    problems = failing(check_countdown(all_at_once))
    assert "streams as it goes" in problems and "labelled as NDJSON" in problems

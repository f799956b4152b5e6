"""Lesson 08's exercise check: it passes a correct streaming level counter and names what
each wrong one gets wrong (chunks taken for lines, CRLF, the last line, UTF-8, buffering)."""

from __future__ import annotations

import codecs
from typing import Any

import pytest
from fastapi import FastAPI, Request

from streamverse.course.exercises.log_lines import check_level_counter

CHECKS = [
    "counts a small log",
    "a line cut across chunks is counted once",
    "CRLF line endings",
    "the last line without a newline",
    "split and invalid UTF-8",
    "memory stays small for a 16 MiB log",
]
KNOWN = ("ERROR", "WARNING", "INFO")


def reference() -> FastAPI:
    """The worked solution, as in the solution notebook."""
    app = FastAPI()

    @app.post("/count-levels")
    async def count_levels(request: Request) -> dict[str, int]:
        counts = dict.fromkeys(("ERROR", "WARNING", "INFO", "other"), 0)
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

        def count(line: str) -> None:
            words = line.split(maxsplit=1)
            level = words[0] if words else ""
            counts[level if level in KNOWN else "other"] += 1

        rest = ""
        async for chunk in request.stream():
            *lines, rest = (rest + decoder.decode(chunk)).split("\n")
            for line in lines:
                count(line)
        rest += decoder.decode(b"", final=True)
        if rest:
            count(rest)
        return counts

    return app


def variant(mistake: str):  # type: ignore[no-untyped-def]
    """A counter with one mistake."""

    def level_of(line: str) -> str:
        if mistake == "ignores_crlf":
            word = line.partition(" ")[0]  # "ERROR\r" is not "ERROR"
        else:
            words = line.split(maxsplit=1)
            word = words[0] if words else ""
        return word if word in KNOWN else "other"

    def make() -> FastAPI:
        app = FastAPI()

        @app.post("/count-levels")
        async def count_levels(request: Request) -> dict[str, int]:
            counts = dict.fromkeys(("ERROR", "WARNING", "INFO", "other"), 0)
            if mistake == "buffers":
                text = (await request.body()).decode("utf-8", "replace")
                for row in text.splitlines():
                    counts[level_of(row)] += 1
                return counts
            rest = b""
            async for chunk in request.stream():
                if mistake == "counts_chunks":
                    counts[level_of(chunk.decode("utf-8", "replace"))] += 1
                    continue
                if mistake == "splits_chunks":
                    for piece in chunk.split(b"\n"):
                        if piece:
                            counts[level_of(piece.decode("utf-8", "replace"))] += 1
                    continue
                if mistake == "decodes_chunks":
                    chunk.decode()  # a character cut in two is not valid UTF-8
                *lines, rest = (rest + chunk).split(b"\n")
                for line in lines:
                    decoded = (
                        line.decode()
                        if mistake == "strict_utf8"
                        else line.decode("utf-8", "replace")
                    )
                    counts[level_of(decoded)] += 1
            if rest and mistake != "drops_last_line":
                counts[level_of(rest.decode("utf-8", "replace"))] += 1
            return counts

        return app

    return make


def unwritten() -> FastAPI:
    app = FastAPI()

    @app.post("/count-levels")
    async def count_levels(request: Request) -> dict[str, int]:
        raise NotImplementedError

    return app


def results(make: Any, capsys: pytest.CaptureFixture[str]) -> dict[str, str]:
    checked = check_level_counter(make)
    printed = capsys.readouterr().out
    assert f"{sum(r.passed for r in checked)} of {len(checked)} checks pass" in printed
    return {r.name: "PASS" if r.passed else f"{r.problem}. Hint: {r.hint}" for r in checked}


def failing(found: dict[str, str]) -> set[str]:
    return {name for name, result in found.items() if result != "PASS"}


def test_the_reference_passes_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    found = results(reference, capsys)
    assert list(found) == CHECKS
    assert failing(found) == set(), found


@pytest.mark.parametrize("make", [unwritten, lambda: None])
def test_the_unwritten_exercise_fails_with_its_first_hint(
    capsys: pytest.CaptureFixture[str], make: Any
) -> None:
    checked = check_level_counter(make)
    printed = capsys.readouterr().out
    assert not any(r.passed for r in checked)
    assert "not written yet" in printed and printed.count("Hint:") == 1


@pytest.mark.parametrize(
    ("mistake", "fails"),
    [
        ("counts_chunks", set(CHECKS)),
        ("splits_chunks", set(CHECKS) - {"counts a small log"}),
        ("strict_utf8", {"split and invalid UTF-8"}),
        ("decodes_chunks", {"split and invalid UTF-8"}),
        ("ignores_crlf", {"CRLF line endings"}),
        ("drops_last_line", {"the last line without a newline", "split and invalid UTF-8"}),
        ("buffers", {"memory stays small for a 16 MiB log"}),
    ],
)  # fmt: skip
def test_each_mistake_fails_the_check_it_should(
    capsys: pytest.CaptureFixture[str], mistake: str, fails: set[str]
) -> None:
    found = results(variant(mistake), capsys)
    assert failing(found) == fails, found

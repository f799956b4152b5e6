"""How a check cell prints: a line per check, one hint at a time, never an exception."""

from __future__ import annotations

import pytest

from streamverse.course.checks import Check, run_checks


def failing(problem: str):
    return lambda: problem


def not_written() -> str | None:
    raise NotImplementedError


def crashes() -> str | None:
    raise KeyError("oops")


CHECKS = [
    Check("passes", lambda: None, "never shown"),
    Check("first failure", failing("wrong order"), "sort them"),
    Check("second failure", not_written, "write it"),
    Check("third failure", crashes, "look at the keys"),
]


def test_only_the_first_failure_gets_its_hint(capsys: pytest.CaptureFixture[str]) -> None:
    results = run_checks(CHECKS, all_hints='check(f, hints="all")')
    assert capsys.readouterr().out.splitlines() == [
        "PASS  passes",
        "FAIL  first failure: wrong order.",
        "      Hint: sort them",
        "FAIL  second failure: not written yet (it raises NotImplementedError).",
        "FAIL  third failure: it raised KeyError: 'oops'.",
        "1 of 4 checks pass",
        '(one hint at a time; for all of them: check(f, hints="all"))',
    ]
    assert [result.passed for result in results] == [True, False, False, False]
    assert results[3].problem == "it raised KeyError: 'oops'"


def test_every_hint_on_request(capsys: pytest.CaptureFixture[str]) -> None:
    run_checks(CHECKS, "all")
    hints = [line.strip() for line in capsys.readouterr().out.splitlines() if "Hint:" in line]
    assert hints == ["Hint: sort them", "Hint: write it", "Hint: look at the keys"]


def test_all_passing_prints_no_hint(capsys: pytest.CaptureFixture[str]) -> None:
    run_checks(CHECKS[:1], all_hints="x")
    assert capsys.readouterr().out.splitlines() == ["PASS  passes", "1 of 1 checks pass"]

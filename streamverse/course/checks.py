"""Running a practice exercise's checks: one line per check, a hint for the first failure.

A check function takes the learner's code, runs a few small checks on it and prints one
line per check: ``PASS``, or ``FAIL`` with what went wrong. Only the first failure gets
its hint, so a learner is nudged one step at a time instead of reading the whole answer;
``hints="all"`` prints every hint. It never raises, so an unfinished exercise in
``notebooks/`` still runs (nbval compares what it prints), and the same call in
``solutions/`` prints all passes. It returns the results, for tests.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

Hints = Literal["first", "all", "none"]


@dataclass(frozen=True)
class Check:
    """One check: ``run`` returns None when it passes, or a sentence saying what went wrong."""

    name: str
    run: Callable[[], str | None]
    hint: str


@dataclass(frozen=True)
class Result:
    name: str
    problem: str | None
    """None when the check passed."""
    hint: str

    @property
    def passed(self) -> bool:
        return self.problem is None


def run_one(check: Check) -> Result:
    try:
        problem = check.run()
    except NotImplementedError:
        problem = "not written yet (it raises NotImplementedError)"
    except Exception as error:
        problem = f"it raised {describe(error)}"
    return Result(check.name, problem, check.hint)


def run_checks(
    checks: Sequence[Check], hints: Hints = "first", *, all_hints: str = ""
) -> list[Result]:
    """Run every check, print one line each and a summary; never raises.

    ``all_hints`` is the call that prints every hint, shown when some were held back.
    """
    results = [run_one(check) for check in checks]
    hinted = False
    for result in results:
        if result.passed:
            print(f"PASS  {result.name}")
            continue
        print(f"FAIL  {result.name}: {result.problem}.")
        if hints == "all" or (hints == "first" and not hinted):
            print(f"      Hint: {result.hint}")
            hinted = True
    failed = sum(not result.passed for result in results)
    print(f"{len(results) - failed} of {len(results)} checks pass")
    if hints == "first" and failed > 1 and all_hints:
        print(f"(one hint at a time; for all of them: {all_hints})")
    return results


def describe(error: BaseException) -> str:
    """An exception as a learner should read it."""
    if isinstance(error, NotImplementedError):
        return "NotImplementedError (not written yet)"
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__

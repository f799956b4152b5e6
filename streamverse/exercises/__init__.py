"""Checks for the lessons' practice exercises.

A check function takes the learner's code, runs a few small checks on it and prints one
line per check: ``PASS``, or ``FAIL`` with what went wrong and a hint. It never raises, so
an unfinished exercise in ``notebooks/`` still runs (nbval compares the hints it prints),
and the same call in ``solutions/`` prints all passes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Check:
    """One check: ``run`` returns None when it passes, or a sentence saying what went wrong."""

    name: str
    run: Callable[[], str | None]
    hint: str


def run_checks(checks: Sequence[Check]) -> int:
    """Print one line per check and a summary; return how many passed. Never raises."""
    passed = 0
    for check in checks:
        try:
            problem = check.run()
        except NotImplementedError:
            problem = "not written yet (it raises NotImplementedError)"
        except Exception as error:
            problem = f"it raised {type(error).__name__}: {error}"
        if problem is None:
            passed += 1
            print(f"PASS  {check.name}")
        else:
            print(f"FAIL  {check.name}: {problem}. Hint: {check.hint}")
    print(f"{passed} of {len(checks)} checks pass")
    return passed

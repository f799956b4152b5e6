"""Stable names for random values, so a lesson's outputs are the same on every run.

Ids, tokens and ports change every run, and nbval compares outputs. A lesson gives each
random value a label when it first sees it and prints through ``stable``:

    labels = Labels()
    labels.label(user["id"], "ada")
    print(labels.stable(response.json()))     # ... "owner_id": "<ada>" ...
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

T = TypeVar("T")
ISO_TIME = re.compile(r'"\d{4}-\d\d-\d\dT[\d:.]+(Z|[+-]\d\d:\d\d)?"')


class Labels:
    def __init__(self) -> None:
        self._names: dict[str, str] = {}

    def label(self, value: T, name: str) -> T:
        """Show ``value`` as ``<name>`` from now on; returns the value."""
        self._names[str(value)] = f"<{name}>"
        return value

    def number(self, value: T, kind: str) -> T:
        """Label ``value`` as ``<kind 1>``, ``<kind 2>``, ... in order of first sight (event
        ids, say); a value seen before keeps its label. Returns the value."""
        if str(value) not in self._names:
            count = sum(name.startswith(f"<{kind} ") for name in self._names.values())
            self.label(value, f"{kind} {count + 1}")
        return value

    def name(self, value: object) -> str:
        """The label of ``value``, or the value itself when it has none."""
        return self._names.get(str(value), str(value))

    def stable(self, data: Any, indent: int | None = None) -> str:
        """Text, or JSON of ``data``, with every labelled value replaced and times as
        ``<time>``: the same on every run."""
        text = (
            data if isinstance(data, str) else json.dumps(data, indent=indent, ensure_ascii=False)
        )
        # Longest first, so a value that contains another one is replaced whole.
        for value in sorted(self._names, key=len, reverse=True):
            text = text.replace(value, self._names[value])
        return ISO_TIME.sub('"<time>"', text)

"""The nbval sanitize patterns in notebooks/sanitize.cfg replace what they should, and only that."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

import pytest
from nbval.plugin import get_sanitize_patterns  # type: ignore[import-untyped]

SANITIZE_CFG = Path(__file__).resolve().parents[1] / "notebooks" / "sanitize.cfg"


def load_patterns() -> dict[str, tuple[str, str]]:
    """Section name -> (regex, replacement), read as configparser reads the file."""
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(SANITIZE_CFG, encoding="utf-8")
    return {name: (parser[name]["regex"], parser[name]["replace"]) for name in parser.sections()}


PATTERNS = load_patterns()


def sanitize(text: str) -> str:
    """Apply every pattern in file order, as nbval does."""
    for regex, replace in PATTERNS.values():
        text = re.sub(regex, replace, text)
    return text


def apply(section: str, text: str) -> str:
    regex, replace = PATTERNS[section]
    return re.sub(regex, replace, text)


# (section, text before, text after): each pattern on the values it exists for.
REPLACED = [
    (
        "uuid",
        "viewer anonymous:1b4e28ba-2fa1-11d2-883f-0016d3cca427 left",
        "viewer anonymous:<UUID> left",
    ),
    ("hex-id", '"id": "3f9a0c1d2e4b5a69"', '"id": "<ID>"'),
    ("hex-id", "anonymous:9f86d081884c7d659a2feaa0c55ad015", "anonymous:<ID>"),
    ("hex-id", "/streams/0123456789abcdef/comments", "/streams/<ID>/comments"),
    ("loopback-port", "http://127.0.0.1:53187/streams", "http://127.0.0.1:<PORT>/streams"),
    ("loopback-port", "ws://localhost:8000/chat", "ws://localhost:<PORT>/chat"),
    ("loopback-port", "http://[::1]:40001/", "http://[::1]:<PORT>/"),
    ("iso-timestamp", '"created_at": "2026-11-25T15:31:00.123456Z"', '"created_at": "<TIMESTAMP>"'),
    ("iso-timestamp", "at 2024-01-15T10:30:00+00:00.", "at <TIMESTAMP>."),
    ("iso-timestamp", "logged 2024-01-15 10:30:05 ok", "logged <TIMESTAMP> ok"),
    (
        "memory-address",
        "<generator object numbers at 0x7f3a2c1b9e40>",
        "<generator object numbers at 0x<ADDRESS>>",
    ),
    ("memory-address", "<Event at 0x10A2B3C4D>", "<Event at 0x<ADDRESS>>"),
]

# Ordinary lesson output that no pattern may touch.
UNTOUCHED = [
    "201 Created",
    '{\n  "id": "<stream>",\n  "status": "live",\n  "created_at": "<time>"\n}',
    "PASS  comment texts, in order",
    "4 of 4 checks pass",
    "deadbeef and cafe are short hex words",
    "the year 2024-01-15 alone is a date, not a timestamp",
    "ratio 10:30, version 3.11.4, 0xff, 0x1f2e",
    "a 15-char hex id 0123456789abcde is not ours",
    "127.0.0.1 without a port",
    "decoded 65536 bytes in 12 chunks of 4096",
    "id: 7 and 123456789012345 (15 digits) are not clock ids",
    "ValueError: Can't patch loop of type <class 'uvloop.Loop'>",
]


def test_every_section_has_a_regex_and_a_replacement() -> None:
    assert PATTERNS, f"no sections in {SANITIZE_CFG}"
    for name, (regex, replace) in PATTERNS.items():
        assert regex and replace, name
        re.compile(regex)


def test_nbval_reads_the_same_pairs_as_configparser() -> None:
    """nbval parses the file with its own regex; both readings must agree, in order."""
    nbval_pairs = get_sanitize_patterns(SANITIZE_CFG.read_text(encoding="utf-8"))
    assert nbval_pairs == list(PATTERNS.values())


def test_every_section_is_exercised() -> None:
    assert {section for section, _, _ in REPLACED} == set(PATTERNS)


@pytest.mark.parametrize(("section", "before", "after"), REPLACED)
def test_pattern_replaces(section: str, before: str, after: str) -> None:
    assert apply(section, before) == after
    assert sanitize(before) == after  # and the other patterns do not interfere


@pytest.mark.parametrize("text", UNTOUCHED)
def test_ordinary_text_is_untouched(text: str) -> None:
    assert sanitize(text) == text


def test_sanitizing_twice_changes_nothing_more() -> None:
    for _, before, _ in REPLACED:
        once = sanitize(before)
        assert sanitize(once) == once

"""The moderation filter hook: every chat message passes the room's filters before it is sent.

A filter is any object with one method, ``check(draft) -> Verdict``: accept the message,
replace its text (mask something), or refuse it with a reason its author reads. Filters run
in order, each on the text the previous one returned; the first refusal wins. The built-in
ones enforce the room's modes (emote-only, links off: moderators and the owner are exempt)
and mask its banned words (for everyone: ``darn`` becomes ``****``). ``service.add_filter``
plugs in your own; lesson 04's exercise writes one.

A filter that raises refuses the message (fail closed) and is logged: a broken filter
must not let through what it was meant to stop.
"""

from __future__ import annotations

import functools
import logging
import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Protocol

from .schemas import Role, RoomModes

logger = logging.getLogger("streamverse.chat")


@dataclass(frozen=True, slots=True)
class Draft:
    """A message on its way in: who wrote it, in which room, and the room's rules."""

    stream_id: str
    user_id: str
    user_name: str
    role: Role
    text: str
    modes: RoomModes
    banned_words: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Verdict:
    """What a filter decided: ``refused`` (a reason) or else ``text`` (None: unchanged)."""

    text: str | None = None
    refused: str | None = None
    code: str = "filtered"
    """The ``error`` code the author gets when refused."""


ACCEPT = Verdict()


def refuse(reason: str, code: str = "filtered") -> Verdict:
    return Verdict(refused=reason, code=code)


def rewrite(text: str) -> Verdict:
    return Verdict(text=text)


class MessageFilter(Protocol):
    """The hook: one method, called with every message before it is published."""

    def check(self, draft: Draft) -> Verdict: ...


def run_filters(filters: Iterable[MessageFilter], draft: Draft) -> Draft | Verdict:
    """The draft as the filters leave it, or the first refusal."""
    for each in filters:
        try:
            verdict = each.check(draft)
            if not isinstance(verdict, Verdict):
                raise TypeError(f"check() returned {type(verdict).__name__}, not a Verdict")
            if verdict.text is not None and not (
                isinstance(verdict.text, str) and verdict.text.strip()
            ):
                raise TypeError("check() rewrote the message to an empty text")
        except Exception:
            logger.exception("chat filter %r failed; the message is refused", each)
            return refuse("this message could not be checked; try again", "filter_error")
        if verdict.refused is not None:
            return verdict
        if verdict.text is not None:
            draft = replace(draft, text=verdict.text)
    return draft


def exempt(draft: Draft) -> bool:
    """Moderators and the owner are not held to the room's modes."""
    return draft.role is not Role.viewer


EMOTE = re.compile(r":[A-Za-z0-9_+\-]{1,32}:")
JOINERS = {"\u200d", "\ufe0f", "\u20e3"}  # zero-width joiner, emoji presentation, keycap


def is_emoji(token: str) -> bool:
    if "\u20e3" in token:  # a keycap: 1️⃣ is "1", U+FE0F, U+20E3
        token = re.sub(r"[0-9#*]", "", token)
    return all(unicodedata.category(c) in ("So", "Sk") or c in JOINERS for c in token)


class EmoteOnly:
    """Emote-only mode: a message may hold only ``:emote:`` codes and emoji."""

    def check(self, draft: Draft) -> Verdict:
        if not draft.modes.emote_only or exempt(draft):
            return ACCEPT
        tokens = EMOTE.sub(" ", draft.text).split()
        if all(is_emoji(token) for token in tokens):
            return ACCEPT
        return refuse("the room is in emote-only mode: only :emotes: and emoji", "emote_only")


LINK = re.compile(
    r"(?i)\b(?:https?://|www\.)\S+"
    r"|\b[a-z0-9](?:[a-z0-9-]*[a-z0-9])?\.(?:com|net|org|io|gg|tv|co|me|ly|info|app|dev|xyz)\b"
)


class NoLinks:
    """Links-off mode: messages with a URL or a bare domain are refused."""

    def check(self, draft: Draft) -> Verdict:
        if draft.modes.links_allowed or exempt(draft) or not LINK.search(draft.text):
            return ACCEPT
        return refuse("links are not allowed in this room", "links_off")


@functools.lru_cache(maxsize=256)
def _words_pattern(words: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(word) for word in sorted(words, key=len, reverse=True))
    return re.compile(rf"(?i)(?<!\w)(?:{alternatives})(?!\w)")


class BannedWords:
    """The room's banned words are masked (same length, ``*``), whole words, any case."""

    def check(self, draft: Draft) -> Verdict:
        if not draft.banned_words:
            return ACCEPT
        pattern = _words_pattern(draft.banned_words)
        masked = pattern.sub(lambda found: "*" * len(found.group()), draft.text)
        return ACCEPT if masked == draft.text else rewrite(masked)


BUILT_IN: tuple[MessageFilter, ...] = (EmoteOnly(), NoLinks(), BannedWords())

"""The chat panel in a real browser (headless Chromium via Playwright, as tests/test_browser.py).

Two people, each in their own browser context: they chat; the owner deletes the viewer's
message and it disappears from the viewer's page; the rate limit and a ban reach the
viewer as sentences. Every wait is an auto-retrying expectation, never a sleep.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from test_browser import (  # noqa: F401  (fixtures)
    CATEGORY,
    TITLE,
    browser,
    chromium,
    create_stream,
    open_page,
    sign_up,
)

from streamverse.notebook import BackgroundServer

if TYPE_CHECKING:
    from playwright.sync_api import Page, WebSocketRoute

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium fixture skips with the reason
    expect = None  # type: ignore[assignment]

import pytest


@pytest.fixture
def site(server_factory: Callable[..., BackgroundServer]) -> BackgroundServer:
    """A fresh server per test, with a small rate limit so one test can reach it."""
    return server_factory(chat_rate_messages=3)


def messages(page: Page):  # type: ignore[no-untyped-def]
    return page.locator("#chat-slot .chat-messages li:not(.chat-notice)")


def chat(page: Page, text: str) -> None:
    page.locator("#chat-slot").get_by_label("Message", exact=True).fill(text)
    page.locator("#chat-slot").get_by_role("button", name="Chat").click()


def owner_and_viewer(
    opener: Callable[[], Page], tap: Callable[[WebSocketRoute], None] | None = None
) -> tuple[Page, Page]:
    """ada's live stream, open on her page and on Zoë's (whose chat goes through ``tap``)."""
    owner = opener()
    sign_up(owner, "ada")
    create_stream(owner, TITLE, CATEGORY)
    owner.locator(".owner-controls").get_by_role("button", name="Go live").click()
    expect(owner.locator("#watch-status")).to_have_text("live")
    viewer = opener()
    if tap is not None:
        viewer.route_web_socket(re.compile(r"/chat(\?|$)"), tap)
    sign_up(viewer, "Zoë")
    viewer.locator("#streams li", has_text=TITLE).get_by_role("button").click()
    expect(viewer.locator("#watch-title")).to_have_text(TITLE)
    for page in (owner, viewer):
        expect(page.locator("#chat-slot .chat-presence")).to_have_text("· 2 watching")
    return owner, viewer


def test_two_people_chat_and_a_moderator_deletes_a_message(
    open_page: Callable[[], Page],  # noqa: F811  (the fixture imported above)
    tmp_path: Path,
) -> None:
    owner, viewer = owner_and_viewer(open_page)
    expect(viewer.locator("#chat-slot .chat-modes")).to_be_hidden()
    expect(owner.locator("#chat-slot .chat-modes")).to_be_visible()

    chat(viewer, "hello from the browser chat")
    chat(owner, "welcome, Zoë!")
    for page in (owner, viewer):
        expect(messages(page)).to_have_count(2)
        expect(messages(page).nth(0)).to_contain_text("Zoë: hello from the browser chat")
        expect(messages(page).nth(1)).to_contain_text("ada: welcome, Zoë!")
    expect(viewer.locator("#chat-slot").get_by_label("Message", exact=True)).to_have_value("")
    expect(viewer.locator("#chat-slot .chat-controls")).to_have_count(0)  # not a moderator

    owner.screenshot(path=tmp_path / "chat-owner.png", full_page=True)
    messages(owner).nth(0).get_by_role("button", name="Delete").click()
    for page in (owner, viewer):
        expect(messages(page)).to_have_count(1)
        expect(messages(page).nth(0)).to_contain_text("ada: welcome, Zoë!")
    viewer.screenshot(path=tmp_path / "chat-viewer.png", full_page=True)
    for page in (owner, viewer):
        expect(page.locator("#chat-slot .chat-error")).to_be_empty()


class NetworkTap:
    """Zoë's chat WebSockets, through Playwright to the real server. On the current one,
    ``go_dark`` throws the server's frames away (a network that has gone) and ``cut`` then
    closes both sides; ``hold`` keeps them back until ``release`` (a slow network). Later
    connections are forwarded whole."""

    def __init__(self) -> None:
        self.urls: list[str] = []
        self.dark: set[int] = set()
        self.held: dict[int, list[str | bytes]] = {}
        self.routes: list[tuple[WebSocketRoute, WebSocketRoute]] = []

    def __call__(self, page_side: WebSocketRoute) -> None:
        server_side = page_side.connect_to_server()
        index = len(self.routes)
        self.urls.append(page_side.url)
        self.routes.append((page_side, server_side))

        def to_page(message: str | bytes) -> None:
            if index in self.held:
                self.held[index].append(message)
            elif index not in self.dark:
                page_side.send(message)

        server_side.on_message(to_page)  # the page's frames still go to the server as they are

    def go_dark(self) -> None:
        self.dark.add(len(self.routes) - 1)

    def cut(self) -> None:
        page_side, server_side = self.routes[-1]
        server_side.close()
        page_side.close(code=4000, reason="network gone")

    def hold(self) -> None:
        self.held[len(self.routes) - 1] = []

    def release(self) -> None:
        index = len(self.routes) - 1
        for message in self.held.pop(index):
            self.routes[index][0].send(message)


def test_the_panel_reconnects_with_since_and_shows_what_it_missed_once(
    open_page: Callable[[], Page],  # noqa: F811  (the fixture imported above)
) -> None:
    tap = NetworkTap()
    owner, viewer = owner_and_viewer(open_page, tap)
    chat(owner, "before the outage")
    expect(messages(viewer)).to_have_count(1)

    tap.go_dark()
    chat(owner, "while away, one")
    expect(messages(owner)).to_have_count(2)
    chat(owner, "while away, two")
    expect(messages(owner)).to_have_count(3)
    expect(messages(viewer)).to_have_count(1)  # nothing reaches Zoë now
    tap.cut()

    expected = ["before the outage", "while away, one", "while away, two"]
    expect(messages(viewer)).to_have_count(3)
    for n, text in enumerate(expected):
        expect(messages(viewer).nth(n)).to_contain_text(f"ada: {text}")
    assert len(tap.urls) == 2, tap.urls
    assert "since=" not in tap.urls[0]
    assert re.search(r"\?since=\d+$", tap.urls[1]), tap.urls[1]  # the id it had last
    chat(viewer, "back")
    expect(messages(owner).nth(3)).to_contain_text("Zoë: back")
    expect(viewer.locator("#chat-slot .chat-error")).to_be_empty()


def test_a_draft_typed_while_a_message_is_on_its_way_is_kept(
    open_page: Callable[[], Page],  # noqa: F811  (the fixture imported above)
) -> None:
    tap = NetworkTap()
    owner, viewer = owner_and_viewer(open_page, tap)
    box = viewer.locator("#chat-slot").get_by_label("Message", exact=True)
    tap.hold()
    chat(viewer, "first")
    box.fill("a second thought")  # typed before the server's ack of "first" comes in
    tap.release()
    chat(owner, "after")  # Zoë sees it once the ack before it has been handled
    expect(messages(viewer)).to_have_count(2)
    expect(messages(viewer).nth(0)).to_contain_text("Zoë: first")
    expect(box).to_have_value("a second thought")  # the ack cleared "first" only


def test_rate_limits_and_bans_are_shown_in_words(
    open_page: Callable[[], Page],  # noqa: F811  (the fixture imported above)
) -> None:
    owner, viewer = owner_and_viewer(open_page)
    for n in range(4):
        chat(viewer, f"message {n}")
        if n < 3:
            expect(messages(viewer)).to_have_count(n + 1)
    expect(viewer.locator("#chat-slot .chat-error")).to_have_text(
        re.compile(r"^slow down: 3 messages per 30 s; wait \d+\.\d s \(try again in \d+ s\)$")
    )
    box = viewer.locator("#chat-slot").get_by_label("Message", exact=True)
    expect(box).to_have_value("message 3")

    messages(owner).nth(0).get_by_role("button", name="Ban").click()
    expect(owner.locator("#chat-slot .chat-notice").last).to_have_text("ada banned Zoë.")
    expect(viewer.locator("#chat-slot .chat-error")).to_have_text(
        "Chat closed: you are banned from this chat"
    )
    expect(viewer.locator("#chat-slot").get_by_label("Message", exact=True)).to_be_disabled()

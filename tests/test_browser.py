"""The web page in a real browser: headless Chromium (Playwright) against a real uvicorn.

Two people, each in their own browser context (own localStorage, own token), use the page
the way a person would: sign up, create a stream, go live, watch, comment, like, end it.
Every wait is one of Playwright's auto-retrying expectations with a deadline, never a sleep.

Needs the ``playwright`` package and a Chromium binary (``STREAMVERSE_CHROMIUM``, default
``chromium`` on PATH); Playwright's own browser download is never used. Without them the
tests skip, or fail when ``STREAMVERSE_REQUIRE_SERVICES=1`` (CI).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import httpx
import pytest

from streamverse.notebook import BackgroundServer

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # reported by the ``chromium`` fixture
    expect = sync_playwright = None  # type: ignore[assignment]
HAVE_PLAYWRIGHT: bool = sync_playwright is not None  # a plain bool: mypy sees no None above

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Locator, Page

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",  # we may run as root (CI containers)
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
WAIT_MS = 10_000
"""How long an expectation keeps retrying before it fails (something that should be quick)."""

TITLE, CATEGORY = "Speedrun practice", "gaming"


@pytest.fixture(scope="module")
def chromium() -> str:
    """The Chromium executable; skips (or fails under STREAMVERSE_REQUIRE_SERVICES=1) when
    the browser or the playwright package is missing."""
    configured = os.environ.get("STREAMVERSE_CHROMIUM")
    path = configured or shutil.which("chromium")
    reason = None
    if not HAVE_PLAYWRIGHT:
        reason = "the playwright package is not installed (pip install -e '.[dev]')"
    elif configured and not os.access(configured, os.X_OK):
        reason = f"STREAMVERSE_CHROMIUM={configured!r} is not an executable file"
    elif not path:
        reason = "no chromium on PATH: apt-get install chromium, or set STREAMVERSE_CHROMIUM"
    if reason is not None:
        if os.environ.get("STREAMVERSE_REQUIRE_SERVICES") == "1":
            pytest.fail(f"browser tests required (STREAMVERSE_REQUIRE_SERVICES=1): {reason}")
        pytest.skip(reason)
    return path  # type: ignore[return-value]


@pytest.fixture(scope="module")
def browser(chromium: str) -> Iterator[Browser]:
    expect.set_options(timeout=WAIT_MS)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_FLAGS
        )
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def site(server_factory: Callable[..., BackgroundServer]) -> BackgroundServer:
    """A fresh server per test: the page's global numbers start from zero."""
    return server_factory()


@pytest.fixture
def open_page(browser: Browser, site: BackgroundServer) -> Iterator[Callable[[], Page]]:
    """Open the page as a new person (a new browser context). Uncaught JavaScript errors
    fail the test; contexts are closed before the server stops (their feeds end first)."""
    contexts = []
    errors: list[str] = []

    def opener() -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{error.name}: {error.message}"))
        page.goto(site.url)
        expect(page.locator("#global-stats")).to_have_text(re.compile(r"^\d+ live"))
        return page

    yield opener
    for context in contexts:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def sign_up(page: Page, name: str) -> None:
    page.locator("#signup input[name=name]").fill(name)
    page.locator("#signup button").click()
    expect(page.locator("#whoami")).to_have_text(f"Signed in as {name}")


def create_stream(page: Page, title: str, category: str) -> None:
    form = page.locator("#create-stream")
    form.locator("input[name=title]").fill(title)
    form.locator("input[name=category]").fill(category)
    form.get_by_role("button", name="Create stream").click()


def metric(page: Page, name: str) -> Locator:
    return page.locator(f'#analytics dd[data-metric="{name}"]')


def test_two_people_watch_comment_and_like_a_live_stream(open_page, tmp_path: Path) -> None:
    """The whole life of a stream, seen from the owner's page and a viewer's page."""
    owner = open_page()
    expect(owner.locator("#global-stats")).to_have_text(re.compile(r"^0 live, 0 watching\."))
    expect(owner.locator("#watch")).to_be_hidden()
    sign_up(owner, "ada")

    create_stream(owner, TITLE, CATEGORY)
    stream_item = owner.locator("#streams li", has_text=TITLE)
    expect(stream_item.get_by_role("button")).to_have_text(f"{TITLE} · {CATEGORY}")
    expect(stream_item.locator(".badge")).to_have_text("scheduled")
    expect(owner.locator("#watch")).to_be_visible()
    expect(owner.locator("#watch-title")).to_have_text(TITLE)
    expect(owner.locator("#watch-status")).to_have_text("scheduled")
    expect(owner.locator("#create-stream input[name=title]")).to_have_value("")

    controls = owner.locator(".owner-controls")
    go_live = controls.get_by_role("button", name="Go live")
    end_stream = controls.get_by_role("button", name="End stream")
    expect(controls).to_be_visible()
    expect(end_stream).to_be_disabled()  # only scheduled -> live -> ended is offered
    go_live.click()
    expect(owner.locator("#watch-status")).to_have_text("live")
    expect(go_live).to_be_disabled()
    expect(end_stream).to_be_enabled()
    expect(stream_item.locator(".badge")).to_have_text("live")
    # The page's own comments feed is a real connection, so the owner is a viewer.
    expect(metric(owner, "viewers")).to_have_text("1")

    viewer = open_page()
    sign_up(viewer, "Zoë")  # the server accepts any letters, so the page must too
    viewer.locator("#streams li", has_text=TITLE).get_by_role("button").click()
    expect(viewer.locator("#watch-title")).to_have_text(TITLE)
    expect(viewer.locator("#watch-status")).to_have_text("live")
    expect(viewer.locator(".owner-controls")).to_be_hidden()
    expect(metric(owner, "viewers")).to_have_text("2")
    expect(metric(viewer, "viewers")).to_have_text("2")
    expect(metric(owner, "peak")).to_have_text("2")

    viewer.locator("#comment input[name=text]").fill("hello from the browser")
    viewer.locator("#comment").get_by_role("button", name="Send").click()
    for page in (owner, viewer):
        expect(page.locator("#comments li")).to_have_text(["Zoë: hello from the browser"])
    expect(viewer.locator("#comment input[name=text]")).to_have_value("")

    viewer.get_by_role("button", name="Like").click()
    expect(metric(owner, "likes")).to_have_text("1")
    expect(metric(viewer, "likes")).to_have_text("1")

    expect(owner.locator("#global-stats")).to_have_text(
        f"1 live, 2 watching. Trending: {TITLE} (2 watching)"
    )

    end_stream.click()
    for page in (owner, viewer):
        expect(page.locator("#watch-status")).to_have_text("ended")
        expect(page.locator("#streams li", has_text=TITLE).locator(".badge")).to_have_text("ended")
    expect(owner.locator("#global-stats")).to_have_text(re.compile(r"^0 live, 0 watching\."))
    for page in (owner, viewer):
        expect(page.locator("#error")).to_be_empty()

    owner.screenshot(path=tmp_path / "owner.png", full_page=True)
    assert (tmp_path / "owner.png").stat().st_size > 0


def test_an_api_error_is_shown_and_the_page_keeps_working(open_page) -> None:
    """The server's 401 reaches the person as what to do, and nothing is stuck afterwards."""
    page = open_page()
    expect(page.locator("#whoami")).to_have_text("Not signed in")

    create_stream(page, TITLE, CATEGORY)
    expect(page.locator("#error")).to_have_text("Sign up first (top right).")
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#streams li")).to_have_count(0)
    expect(page.locator("#watch")).to_be_hidden()

    sign_up(page, "ada")
    expect(page.locator("#error")).to_be_empty()  # a new action clears the old message
    expect(page.locator("#error")).to_be_hidden()

    # An impatient double click sends one request: the button is disabled while it is sent.
    creates = []
    page.on("request", lambda request: creates.append(request.url.endswith("/streams/create")))
    form = page.locator("#create-stream")
    form.locator("input[name=title]").fill(TITLE)
    form.locator("input[name=category]").fill(CATEGORY)
    form.get_by_role("button", name="Create stream").dblclick()
    expect(page.locator("#watch-title")).to_have_text(TITLE)
    expect(form.locator("input[name=title]")).to_have_value("")
    expect(form.get_by_role("button", name="Create stream")).to_be_enabled()
    expect(page.locator("#streams li")).to_have_count(1)
    assert creates.count(True) == 1
    expect(page.locator("#error")).to_be_empty()


HOLD_FETCH = """slowPath => {
  // Hold the page's GET of one stream until the test releases it (a slow network, on cue).
  const realFetch = window.fetch;
  window.fetch = (url, ...rest) => {
    if (url !== slowPath) return realFetch(url, ...rest);
    window.slowAnswer = new Promise((resolve) => { window.releaseSlow = resolve; })
      .then(() => realFetch(url, ...rest))
      .then((response) => { window.slowCopy = response.clone(); return response; });
    return window.slowAnswer;
  };
}"""

RELEASE_FETCH = """async () => {
  window.releaseSlow();
  await window.slowAnswer;
  await window.slowCopy.text();  // the page has its answer now...
  await (await fetch("/streams")).json();  // ...and a whole round trip later it has used it
}"""


def test_a_quick_second_click_wins_over_a_slow_first_one(
    open_page, site: BackgroundServer, make_user, make_stream, post_comment
) -> None:
    """The panel shows the stream clicked last, even when the first click's answer comes
    later; the first stream's feeds must not start and write into it."""
    with httpx.Client(base_url=site.url, timeout=WAIT_MS / 1000) as client:
        _, headers = make_user(client, "ada")
        slow = make_stream(client, headers, title="Chill coding", category="programming")
        make_stream(client, headers, title=TITLE, category=CATEGORY)
        post_comment(client, headers, slow["id"], "said in the slow stream")

    page = open_page()
    page.evaluate(HOLD_FETCH, f"/streams/{slow['id']}")
    page.locator("#streams li", has_text="Chill coding").click()
    page.wait_for_function("() => typeof window.releaseSlow === 'function'")
    page.locator("#streams li", has_text=TITLE).click()
    expect(page.locator("#watch-title")).to_have_text(TITLE)
    expect(metric(page, "viewers")).to_have_text("1")

    page.evaluate(RELEASE_FETCH)
    expect(page.locator("#watch-title")).to_have_text(TITLE)
    expect(page.locator("#comments li")).to_have_count(0)


def test_a_stream_link_survives_a_reload_and_ended_streams_take_no_comments(
    open_page, site: BackgroundServer, make_user, make_stream, post_comment
) -> None:
    """The address names the stream being watched, so a reload (or a shared link) opens it
    again; once it has ended, its comment box is disabled instead of answering 409."""
    with httpx.Client(base_url=site.url, timeout=WAIT_MS / 1000) as client:
        _, headers = make_user(client, "ada")
        stream = make_stream(client, headers, title=TITLE, category=CATEGORY, status="ended")
        post_comment_error = client.post(
            f"/streams/{stream['id']}/comments", json={"text": "late"}, headers=headers
        )
    assert post_comment_error.status_code == 409

    page = open_page()
    page.locator("#streams li", has_text=TITLE).click()
    expect(page.locator("#watch-title")).to_have_text(TITLE)
    assert page.url.endswith(f"#stream={stream['id']}")
    page.reload()
    expect(page.locator("#watch-title")).to_have_text(TITLE)
    expect(page.locator("#watch-status")).to_have_text("ended")
    expect(page.locator("#comment input[name=text]")).to_be_disabled()


def test_a_sign_in_the_server_no_longer_knows_is_forgotten_and_reading_works(open_page) -> None:
    """The browser keeps its token across a reset of the server's data: the page must not
    send it with every feed (each would answer 401), but forget it and say so."""
    owner = open_page()
    sign_up(owner, "ada")
    create_stream(owner, TITLE, CATEGORY)
    owner.locator(".owner-controls").get_by_role("button", name="Go live").click()
    expect(owner.locator("#watch-status")).to_have_text("live")
    owner.locator("#comment input[name=text]").fill("first!")
    owner.locator("#comment button").click()
    expect(owner.locator("#comments li")).to_have_count(1)
    link = owner.url

    ghost = open_page()
    ghost.evaluate(
        """localStorage.setItem("streamverse.user",
           JSON.stringify({id: "gone", name: "ghost", token: "from-before-the-reset"}))"""
    )
    ghost.goto(link)
    ghost.reload()  # the same page with a new hash: load it again, as a new visit would
    expect(ghost.locator("#whoami")).to_have_text(
        "Not signed in: this server no longer knows your earlier sign-in (its data may have"
        " been reset); sign up again"
    )
    expect(ghost.locator("#comments li")).to_have_count(1)  # reading works, anonymously
    expect(ghost.locator("#comments li").first).to_contain_text("first!")
    assert ghost.evaluate("localStorage.getItem('streamverse.user')") is None
    expect(ghost.locator("#error")).to_be_empty()
    sign_up(ghost, "casper")  # and signing up again works as ever

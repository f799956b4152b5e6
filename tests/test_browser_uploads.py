"""The upload form in a real browser (Playwright, Debian's Chromium) against a real server:
the bars reach 100% and the media becomes ready and listed; an upload cut mid-way by a
relay resumes from the server's offset; refusals are shown in words.

Skips like tests/test_browser.py when the browser is missing (fails under
STREAMVERSE_REQUIRE_SERVICES=1). Every wait is a Playwright expectation with a deadline.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from test_browser import browser, chromium, sign_up  # noqa: F401  (fixtures, a helper)

from streamverse.course.exercises.uploads_relay import CuttingRelay
from streamverse.notebook import BackgroundServer
from streamverse.videos.synthetic import write_media

try:
    from playwright.sync_api import expect
except ImportError:  # reported by the ``chromium`` fixture
    expect = None  # type: ignore[assignment]

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("files")
    text = folder / "movie.mp4"
    text.write_text("a text file with a video's name\n" * 200)
    return {
        "clip": write_media(folder / "clip.mp4", 1.0),
        "song": write_media(folder / "song.wav", 20.0),  # about 2 MB: room to cut mid-way
        "text": text,
    }


@pytest.fixture
def open_page(browser: Browser, tmp_path: Path) -> Iterator[Callable[[str], Page]]:  # noqa: F811
    contexts: list[Any] = []
    errors: list[str] = []

    def opener(url: str) -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(15_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{error.name}: {error.message}"))
        page.goto(url)
        expect(page.locator("#upload")).to_be_visible()
        return page

    yield opener
    for index, context in enumerate(contexts):
        for number, page in enumerate(context.pages):
            page.screenshot(path=tmp_path / f"upload-{index}-{number}.png", full_page=True)
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def choose(page: Page, path: Path, title: str = "") -> None:
    form = page.locator("#upload")
    form.get_by_label("File").set_input_files(str(path))
    form.get_by_label("Title").fill(title)
    form.get_by_label("Description").fill("made by the browser test")
    form.get_by_role("button", name="Upload").click()


def test_an_upload_reaches_100_percent_and_becomes_ready(
    open_page: Callable[[str], Page], server_factory: Callable[..., BackgroundServer],
    files: dict[str, Path],
) -> None:  # fmt: skip
    site = server_factory()
    page = open_page(site.url)
    sign_up(page, "ada")
    choose(page, files["clip"], "Browser clip")
    expect(page.locator("#upload-message")).to_have_text("Ready: Browser clip", timeout=30_000)
    expect(page.locator("#upload-sent")).to_have_attribute("value", "100")
    expect(page.locator("#upload-processed")).to_have_attribute("value", "100")
    expect(page.locator(".upload-sent-text")).to_have_text("100%")
    expect(page.locator("#videos li", has_text="Browser clip")).to_be_visible()
    expect(page.locator("#upload button", has_text="Upload")).to_be_enabled()
    expect(page.locator("#error")).to_be_empty()


def test_a_cut_upload_resumes_from_the_servers_offset(
    open_page: Callable[[str], Page], server_factory: Callable[..., BackgroundServer],
    files: dict[str, Path],
) -> None:  # fmt: skip
    site = server_factory()
    with CuttingRelay(site.port or 0) as relay:
        page = open_page(relay.url)
        sign_up(page, "ada")
        size = files["song"].stat().st_size
        relay.cut_after(size // 2)
        choose(page, files["song"], "Cut song")
        expect(page.locator("#upload-message")).to_have_text("Ready: Cut song", timeout=30_000)
        # The page refreshes its list through the relay too: check it before the relay closes.
        expect(page.locator("#upload-sent")).to_have_attribute("value", "100")
        expect(page.locator("#videos li", has_text="Cut song")).to_be_visible()
        patches = [seen for seen in relay.seen if seen.method == "PATCH"]
    # (Chromium may resend a request cut on a reused connection once by itself; the server
    # answers it 409, and tus-js-client asks for the offset.)
    assert relay.cuts == 1 and patches[0].headers["upload-offset"] == "0"
    assert 0 < int(patches[-1].headers["upload-offset"]) <= size // 2  # resumed, not restarted


def test_refusals_are_shown_in_words(
    open_page: Callable[[str], Page], server_factory: Callable[..., BackgroundServer],
    files: dict[str, Path],
) -> None:  # fmt: skip
    site = server_factory(upload_max_bytes=500_000)
    page = open_page(site.url)
    message = page.locator("#upload-message")
    choose(page, files["clip"])
    expect(message).to_have_text("Sign up first (top right), then upload.")
    sign_up(page, "ada")
    choose(page, files["song"])
    expect(message).to_have_text(re.compile(r"^This file is too large for the server: .*limit"))
    choose(page, files["text"])
    expect(message).to_have_text(
        re.compile(r"^This file cannot be uploaded: the file's content is not an allowed format")
    )
    expect(page.locator("#videos li")).to_have_count(0)

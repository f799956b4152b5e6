"""The video list and the player in a real browser (headless Chromium, Playwright).

A video put in place through the service appears in the list; clicking it opens the media
view, whose <video> plays the original; seeking makes the browser ask for a byte range and
the server answers 206 (the responses are recorded); the HLS version plays too, natively
where the browser has HLS and with the vendored hls.js where it has not (simulated by
hiding native HLS). Every wait is a Playwright expectation with a deadline.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from conftest import make_user
from test_browser import WAIT_MS, browser, chromium  # noqa: F401  (fixtures)

from streamverse.services import services_of
from streamverse.users.schemas import User
from streamverse.videos import demo, service
from streamverse.videos.synthetic import write_media

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Response

try:
    from playwright.sync_api import expect
except ImportError:  # the chromium fixture skips (or fails in CI) with the reason
    expect = None  # type: ignore[assignment]

NO_NATIVE_HLS = """(() => {
  const real = HTMLMediaElement.prototype.canPlayType;
  HTMLMediaElement.prototype.canPlayType = function (type) {
    return /mpegurl/i.test(type) ? "" : real.call(this, type);
  };
})();"""
VIDEO = "#player-slot video"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One server with two videos: a small one, packaged, and a big one (noise does not
    compress: 6 MB) that the browser must fetch in ranges."""
    from conftest import start_server

    media = tmp_path_factory.mktemp("media")
    background = start_server(tmp_path_factory.mktemp("data"), media_hls_segment_seconds=1.0)
    try:
        with httpx.Client(base_url=background.url) as http:
            owner = User.model_validate(make_user(http, "ada")[0])
        services = services_of(background.app)
        small = write_media(media / "small.mp4", 3.0)
        big = write_media(media / "big.mp4", 6.0, width=320, height=240, noise=True)
        clip = background.call(demo.add_file(services, owner, small, title="Small clip"))
        background.call(service.wait_packaged(services, clip.id), timeout=60)
        large = background.call(demo.add_file(services, owner, big, title="Noisy clip"))
        yield {"server": background, "clip": clip, "large": large, "big_size": big.stat().st_size}
    finally:
        background.stop()


@pytest.fixture
def open_page(browser: Browser, site: dict[str, Any]) -> Iterator[Callable[..., Page]]:  # noqa: F811
    contexts, errors = [], []

    def opener(script: str | None = None) -> Page:
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.set_default_timeout(WAIT_MS)
        contexts.append(context)
        if script:
            context.add_init_script(script)
        page = context.new_page()
        page.on("pageerror", lambda error: errors.append(f"{error.name}: {error.message}"))
        page.goto(site["server"].url)
        return page

    yield opener
    for context in contexts:
        context.close()
    assert not errors, f"uncaught errors in the page: {errors}"


def record(page: Page) -> list[Response]:
    responses: list[Response] = []
    page.on("response", lambda response: responses.append(response))
    return responses


def wait_for(page: Page, condition: str) -> None:
    page.wait_for_function(
        f"() => {{ const v = document.querySelector('{VIDEO}'); "
        f"return v !== null && ({condition}); }}",
        timeout=WAIT_MS,
    )


def test_a_video_in_the_list_plays_and_seeking_asks_for_a_range(
    open_page, site, tmp_path: Path
) -> None:
    page = open_page()
    # A slow network (1 MiB/s), so the browser cannot have fetched the whole file by the
    # time it seeks near the end: the seek must ask for a range of its own.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": 1024 * 1024, "uploadThroughput": -1},
    )
    item = page.locator("#videos li", has_text="Noisy clip")
    expect(item.get_by_role("button")).to_have_text("Noisy clip · mp4 · 0:06")
    expect(page.locator("#videos li")).to_have_count(2)
    expect(page.locator("#watch")).to_be_hidden()

    item.get_by_role("button").click()
    expect(page.locator("#watch")).to_be_visible()
    expect(page.locator("#player-slot .player-title")).to_have_text("Noisy clip")
    expect(page.locator("#watch-status")).to_be_hidden()  # the media view: no stream controls
    expect(page.locator(VIDEO)).to_have_attribute("src", site["large"].url)
    wait_for(page, "v.readyState >= 1")  # metadata loaded
    assert page.evaluate(f"document.querySelector('{VIDEO}').duration") == pytest.approx(6, abs=0.2)

    middle = site["big_size"] // 2

    def seek_range(response: Response) -> bool:
        if not response.url.endswith(site["large"].url) or response.status != 206:
            return False
        return int(response.headers["content-range"].split()[1].split("-")[0]) > middle

    with page.expect_response(seek_range) as seek:
        page.evaluate(
            f"() => {{ const v = document.querySelector('{VIDEO}'); v.muted = true; "
            "v.currentTime = 5; }"
        )
    assert seek.value.request.headers["range"].startswith("bytes=")
    wait_for(page, "!v.seeking && v.readyState >= 2 && v.currentTime >= 5")
    assert page.url.endswith(f"#video={site['large'].id}")
    expect(page.locator("#error")).to_be_empty()
    page.screenshot(path=tmp_path / "player.png", full_page=True)

    page.get_by_role("button", name="Close").click()
    expect(page.locator("#watch")).to_be_hidden()
    expect(page.locator("#player-slot")).to_be_empty()


@pytest.mark.parametrize("native", [True, False], ids=["native HLS", "hls.js"])
def test_the_hls_version_plays(open_page, site, native: bool, tmp_path: Path) -> None:
    page = open_page(None if native else NO_NATIVE_HLS)
    responses = record(page)
    page.locator("#videos li", has_text="Small clip").get_by_role("button").click()
    expect(page.locator("#player-slot .player-title")).to_have_text("Small clip")

    page.locator("#player-slot select[name=source]").select_option("hls")
    wait_for(page, "v.readyState >= 2")
    status = page.locator("#player-slot .player-status")
    if (
        native
        and page.evaluate(
            f"document.querySelector('{VIDEO}').canPlayType('application/vnd.apple.mpegurl')"
        )
        == ""
    ):
        pytest.skip("this Chromium has no native HLS; the hls.js case covers it")
    expect(status).to_have_text(
        "Playing the HLS version (native HLS)."
        if native
        else "Playing the HLS version with hls.js (1 rendition)."
    )
    # Playwright reports responses as events this thread handles when it next talks to the
    # browser, so a response the video has already used may not be recorded yet: poll.
    urls: list[str] = []
    for _ in range(100):  # a deadline of about 10 s
        urls = [response.url for response in responses if response.ok]
        if any(url.endswith("/hls/seg_00000.ts") for url in urls):
            break
        page.wait_for_timeout(100)
    assert any(url.endswith("/hls/index.m3u8") for url in urls)
    assert any(url.endswith("/hls/seg_00000.ts") for url in urls)
    assert any("/vendor/hls/" in url for url in urls) is (not native)
    page.evaluate(
        f"() => {{ const v = document.querySelector('{VIDEO}'); v.muted = true; "
        "v.currentTime = 2.2; }"
    )
    wait_for(page, "!v.seeking && v.readyState >= 2 && v.currentTime >= 2")
    expect(page.locator("#error")).to_be_empty()
    page.screenshot(path=tmp_path / "hls.png", full_page=True)


def test_a_file_the_browser_cannot_play_is_said_in_words(open_page, site, tmp_path) -> None:
    services = services_of(site["server"].app)
    with httpx.Client(base_url=site["server"].url) as http:
        owner = User.model_validate(make_user(http, "grace")[0])
    broken = site["server"].call(
        demo.add_file(services, owner, write_media(tmp_path / "tone.wav", 1.0), title="Tone")
    )
    path = services.settings.data_dir / "media" / broken.id / "original.wav"
    path.write_bytes(b"RIFF" + b"\0" * 64)  # damaged on disk after it was checked
    page = open_page()
    page.locator("#videos li", has_text="Tone").get_by_role("button").click()
    expect(page.locator("#player-slot audio")).to_have_count(1)
    expect(page.locator("#player-slot .player-status")).to_have_text(
        re.compile(r"^This file cannot be played here: ")
    )

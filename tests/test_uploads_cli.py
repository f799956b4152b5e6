"""``streamverse upload FILE``: the real command, against a real server, with its bars."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from conftest import WAIT, make_user

from streamverse.notebook import BackgroundServer
from streamverse.videos.synthetic import write_media


def run(
    server: BackgroundServer, *args: str, token: str | None
) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key != "STREAMVERSE_TOKEN"}
    if token is not None:
        env["STREAMVERSE_TOKEN"] = token
    command = [sys.executable, "-m", "streamverse.cli", "upload", *args, "--url", server.url]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_the_cli_uploads_with_a_bar_for_bytes_and_one_for_processing(
    server: BackgroundServer, tmp_path: Path
) -> None:
    clip = write_media(tmp_path / "clip.mp4", 1.0)
    with httpx.Client(base_url=server.url, timeout=WAIT) as http:
        user, _ = make_user(http)
    done = run(server, str(clip), "--title", "From the CLI", token=user["token"])
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("ready: media ")
    assert "sending" in done.stderr and "processing" in done.stderr
    assert "100%" in done.stderr
    media_id = done.stdout.split()[2]
    with httpx.Client(base_url=server.url, timeout=WAIT) as http:
        info = http.get(f"/videos/{media_id}/info").json()
    assert info["title"] == "From the CLI" and info["size"] == clip.stat().st_size


def test_the_cli_says_why_an_upload_was_refused(server: BackgroundServer, tmp_path: Path) -> None:
    text = tmp_path / "movie.mp4"
    text.write_text("not a movie\n" * 100)
    with httpx.Client(base_url=server.url, timeout=WAIT) as http:
        user, _ = make_user(http)
    refused = run(server, str(text), token=user["token"])
    assert refused.returncode == 1
    assert "415: the file's content is not an allowed format" in refused.stderr
    anonymous = run(server, str(text), token=None)
    assert anonymous.returncode == 1 and "STREAMVERSE_TOKEN" in anonymous.stderr

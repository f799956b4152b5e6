"""The garbage-collector settings of ``streamverse serve``: applied by the server's entry
point (in a process of its own), never by a server a notebook runs in a thread."""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

from conftest import start_server

from streamverse import gctune

PROBE = """
import gc, json
before = gc.get_threshold()
from streamverse import gctune
from streamverse.app import create_app
create_app()
gctune.tune_for_serving()
print(json.dumps({"before": before, "after": gc.get_threshold(), "frozen": gc.get_freeze_count()}))
"""


def test_serving_freezes_what_startup_made_and_raises_the_thresholds(tmp_path: Path) -> None:
    env = {"STREAMVERSE_DATA_DIR": str(tmp_path), "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, env=env, timeout=60
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    assert seen["before"] != list(gctune.THRESHOLDS)
    assert seen["after"] == list(gctune.THRESHOLDS)
    assert seen["frozen"] > 10_000  # the app's modules and schemas, out of every collection


def test_a_server_in_a_thread_leaves_the_process_settings_alone(tmp_path: Path) -> None:
    before = gc.get_threshold(), gc.get_freeze_count()
    with start_server(tmp_path):
        assert (gc.get_threshold(), gc.get_freeze_count()) == before

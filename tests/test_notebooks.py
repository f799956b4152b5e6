"""The lesson notebooks: committed in a clean state, and they leave nothing running.

nbval (``make test``) re-runs every notebook and compares outputs. These tests add what it
does not check: that the committed outputs come from one top-to-bottom run in a fresh kernel,
and that a notebook's last cell really stops its servers (no thread, no listening port).
"""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(ROOT.glob("notebooks/*.ipynb")) + sorted(ROOT.glob("solutions/*.ipynb"))
IDS = [str(path.relative_to(ROOT)) for path in NOTEBOOKS]

CELL_TIMEOUT = 60

# Run in the notebook's own kernel after its last cell.
LEFTOVERS_CHECK = """
import gc
import socket
import threading

from streamverse.notebook import BackgroundServer, running_servers

assert running_servers() == [], f"still running: {running_servers()}"
threads = [t.name for t in threading.enumerate() if t.name.startswith("streamverse-server-")]
assert not threads, f"server threads still alive: {threads}"
gc.collect()
servers = [o for o in gc.get_objects() if type(o) is BackgroundServer]  # never deref a dead proxy
if isinstance(globals().get("server"), BackgroundServer):
    assert globals()["server"] in servers
for background in servers:
    if background.port is None:
        continue
    with socket.socket() as probe:
        probe.settimeout(2)
        refused = probe.connect_ex((background.host, background.port)) != 0
    assert refused, f"{background.host}:{background.port} still accepts connections"
print("servers started:", len(servers))
"""


def code_cells(path: Path) -> list[nbformat.NotebookNode]:
    notebook = nbformat.read(path, as_version=4)
    return [cell for cell in notebook.cells if cell.cell_type == "code"]


def test_there_are_notebooks() -> None:
    assert any(path.parent.name == "notebooks" for path in NOTEBOOKS)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_committed_from_one_fresh_run(path: Path) -> None:
    """Execution counts 1..n in order (a fresh kernel, top to bottom) and no errors."""
    cells = code_cells(path)
    counts = [cell.execution_count for cell in cells]
    assert counts == list(range(1, len(cells) + 1)), (
        f"{path.name}: execution counts {counts}; run `make notebooks` to re-execute it"
    )
    errors = [
        (index, output.get("ename"))
        for index, cell in enumerate(cells)
        for output in cell.outputs
        if output.output_type == "error"
    ]
    assert not errors, f"{path.name}: error outputs in code cells {errors}"


def run_then_check_leftovers(notebook: nbformat.NotebookNode, folder: Path) -> str:
    """Execute ``notebook`` plus the leftovers check in one fresh kernel; the check's output."""
    notebook.cells.append(nbformat.v4.new_code_cell(LEFTOVERS_CHECK))
    client = NotebookClient(
        notebook,
        timeout=CELL_TIMEOUT,
        kernel_name="python3",
        resources={"metadata": {"path": str(folder)}},
        record_timing=False,
    )
    client.execute()
    return "".join(output.get("text", "") for output in notebook.cells[-1].outputs)


@pytest.mark.slow
@pytest.mark.parametrize("path", NOTEBOOKS, ids=IDS)
def test_leaves_no_server_running(path: Path) -> None:
    """Run the notebook, then check in its kernel: no server, no server thread, ports closed."""
    report = run_then_check_leftovers(nbformat.read(path, as_version=4), path.parent)
    if "BackgroundServer(" in path.read_text(encoding="utf-8"):
        assert "servers started: 0" not in report, "the check found none of its servers"


@pytest.mark.slow
def test_the_check_catches_a_server_left_running(tmp_path: Path) -> None:
    forgetful = nbformat.v4.new_notebook()
    source = (
        "from streamverse import Settings, create_app\n"
        "from streamverse.notebook import BackgroundServer\n"
        f"server = BackgroundServer(create_app(Settings(data_dir={str(tmp_path)!r})))"
    )
    forgetful.cells.append(nbformat.v4.new_code_cell(source))
    with pytest.raises(CellExecutionError, match="still running"):
        run_then_check_leftovers(forgetful, tmp_path)

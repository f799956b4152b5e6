"""Re-execute notebooks top to bottom in a fresh kernel and save their outputs in place.

    python -m streamverse.course.execute notebooks/00_intro.ipynb ...

Each notebook gets its own kernel (``python3``), started in the notebook's folder, with a
per-cell timeout. A notebook that fails is left untouched on disk; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from pathlib import Path
from typing import Any

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError

ANSI_ESCAPE = re.compile(r"\x1b\[[0-9;]*m")
KERNEL_NAME = "python3"
CELL_TIMEOUT = 120


def execute(path: Path, timeout: int = CELL_TIMEOUT, kernel_name: str = KERNEL_NAME) -> float:
    """Run one notebook in a fresh kernel, write it back with its outputs; return seconds."""
    notebook = nbformat.read(path, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name=kernel_name,
        resources={"metadata": {"path": str(path.parent.resolve())}},
        record_timing=False,
    )
    started = time.perf_counter()
    client.execute()
    elapsed = time.perf_counter() - started
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs = merge_streams(cell.outputs)
    nbformat.write(notebook, path)
    return elapsed


def merge_streams(outputs: list[Any]) -> list[Any]:
    """Join consecutive outputs of the same stream: how a cell's prints are split into
    messages depends on timing, and the saved notebook should not."""
    merged: list[Any] = []
    for output in outputs:
        previous = merged[-1] if merged else None
        if (
            previous is not None
            and previous.get("output_type") == output.get("output_type") == "stream"
            and previous.name == output.name
        ):
            previous.text += output.text
        else:
            merged.append(output)
    return merged


def main(argv: list[str] | None = None) -> int:
    """Execute every notebook named on the command line; 1 if any of them failed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=Path, help="notebooks to execute")
    parser.add_argument(
        "--timeout", type=int, default=CELL_TIMEOUT, help="seconds allowed per cell"
    )
    parser.add_argument("--kernel", default=KERNEL_NAME, help="kernel name (default python3)")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.notebooks:
        try:
            seconds = execute(path, args.timeout, args.kernel)
        except (CellExecutionError, CellTimeoutError, DeadKernelError, OSError) as error:
            failed += 1
            print(f"FAILED {path}: {type(error).__name__} (file left unchanged)", flush=True)
            print(ANSI_ESCAPE.sub("", str(error)), file=sys.stderr)
        else:
            print(f"{seconds:6.1f} s  {path}", flush=True)
    if failed:
        print(f"{failed} of {len(args.notebooks)} notebooks failed", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

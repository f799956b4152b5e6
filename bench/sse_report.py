"""The SSE benchmark's tables, printed from the result dicts the phases return.

Printing only reads the dicts (the same ones written to ``bench/results/sse_fanout.json``),
so a table can always be traced back to a figure in the JSON, and changing a column never
changes a measurement.
"""

from __future__ import annotations

from typing import Any


def print_table(title: str, rows: list[dict[str, Any]]) -> None:
    """One row per variant: rates, CPU per delivery, memory per feed, and what went wrong."""
    print(f"\n{title}")
    header = (
        f"{'variant':<22}{'events':>7}{'best/s':>9}{'median/s':>10}{'vs plain':>9}"
        f"{'CPU us/dlv':>11}{'vs plain':>9}{'KiB/conn':>10}{'after':>7}  notes"
    )
    print(header)
    print("-" * len(header))
    for row in rows:
        notes = []
        if not row["complete"]:
            dropped = sum(run["dropped"] for run in row["runs"])
            closed = sum(run["closed_early"] for run in row["runs"])
            notes.append(f"INCOMPLETE (dropped {dropped}, closed {closed})")
        short = [r for r in row["runs"] if r["frames_received"] < r["frames_expected"]]
        extra = sum(r["frames_received"] - r["frames_expected"] for r in row["runs"])
        if short:
            notes.append("frames missing")
        elif extra:
            notes.append(f"+{extra} other frames")
        shares = [run["server_cpu_share"] or 0 for run in row["runs"]]
        notes.append(f"server got {min(shares):.0%}-{max(shares):.0%} of its core")
        cpu = sum(run["server_cpu_seconds"] for run in row["runs"])
        if cpu:
            gc_share = sum(run["gc_seconds"] for run in row["runs"]) / cpu
            notes.append(f"GC {gc_share:.0%} of its CPU")
        ratio = f"{row['vs_plain_best']:.2f}x" if "vs_plain_best" in row else "-"
        cpu_ratio = f"{row['vs_plain_cpu']:.2f}x" if "vs_plain_cpu" in row else "-"
        print(
            f"{row['variant']:<22}{row['events']:>7}{row['best_deliveries_per_s']:>9,}"
            f"{row['median_deliveries_per_s']:>10,}{ratio:>9}"
            f"{row['median_server_cpu_us_per_delivery'] or 0:>11.2f}{cpu_ratio:>9}"
            f"{row['kib_per_connection']:>10.1f}{row.get('kib_per_connection_after', 0):>7.1f}"
            f"  {'; '.join(notes)}"
        )


def print_shutdown(rows: list[dict[str, Any]]) -> None:
    print("\nShutdown (SIGTERM) with open SSE feeds")
    for row in rows:
        print(
            f"  {row['variant']:<12} on {row['server']:<26} {row['connections']:>6,} feeds: "
            f"all closed after {row['all_clients_closed_s']} s, "
            f"process gone after {row['process_exit_s']} s "
            f"(timeout_graceful_shutdown={row['timeout_graceful_shutdown']} s)"
        )


def print_breakdown(breakdown: dict[str, float], count: int) -> None:
    print(f"\nPython memory per subscriber without HTTP (tracemalloc, {count:,} subscribers)")
    for name, size in breakdown.items():
        print(f"  {name:<50}{size / 1024:>7.2f} KiB")


def print_trace(trace: dict[str, Any]) -> None:
    print(
        f"\nPython allocations per open {trace['variant']} feed in the server (tracemalloc, "
        f"{trace['connections']:,} feeds): {trace['traced_bytes_per_connection'] / 1024:.2f} KiB"
    )
    for row in trace["by_file"][:10]:
        print(f"  {row['bytes_per_connection']:>7,} B  {row['where']}")

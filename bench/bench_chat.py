"""Chat fan-out: one room, many clients; StreamVerse against two baselines in the same run.

Three servers (``chat_servers``), each in its own process pinned to one core, driven by
raw WebSocket clients (``chat_clients``) in this process on the other core:

1. **Memory per connection**: the server's RSS before and after ``--clients`` connections
   (each has had its first frame), divided by their number.
2. **Deliveries per second and CPU per delivery**: a publisher (one more connection; for
   StreamVerse the stream's owner, authenticated) sends ``--messages`` chat messages as fast
   as it can; the burst ends when every client has the last one. Deliveries = clients x
   messages; CPU = the server process's user + system time during the burst (all its
   threads: SQLite's too). ``--rounds`` bursts, the variants taking turns.
3. **Latency** at a paced ``--rate`` messages per second for ``--paced-seconds``: each
   message carries its send time; p50 and p99 over every delivery, and how busy the
   server's core was meanwhile (its CPU time over the wall time: near 100% means the
   messages queue behind one another's fan-out).
4. **One stalled client**: one more connection that never reads (a 4 KiB receive buffer)
   while a burst of ``--stall-messages`` larger messages goes out: the others' deliveries
   per second against the same burst without it (medians of ``--stall-pairs`` pairs, a new
   stalled client each), the server's RSS growth, and what became of the stalled client
   (StreamVerse closes it with 3008 once its mailbox overflows).

Run: ``python bench/bench_chat.py`` (full size), ``--quick`` for a smoke run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _common import (
    ServerProcess,
    cpu_plan,
    cpu_seconds,
    http_json,
    new_event_loop,
    pin,
    raise_nofile,
    rss_kib,
)
from chat_clients import Client, connect, connect_many, stamp
from chat_servers import VARIANTS, serve

RESULTS = Path(__file__).resolve().parent / "results" / "chat.json"
FILLER = "chat message of a typical length, with a few words in it " * 2


@dataclass
class Variant:
    name: str
    server: ServerProcess
    path: str = ""
    publisher_path: str = ""
    token: str | None = None
    clients: list[Client] = field(default_factory=list)
    publisher: Client | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    bursts: list[tuple[float, float]] = field(default_factory=list)
    window: int = 500

    def message(self, text: str) -> str:
        if self.name == "streamverse":
            return json.dumps({"type": "send", "text": text})
        return json.dumps({"message": text})

    async def prepare(self) -> None:
        port = self.server.port
        if self.name == "naive":
            self.path = "/streams/bench/chat?user_id=viewer"
            self.publisher_path = "/streams/bench/chat?user_id=publisher"
        elif self.name == "bare":
            self.path = self.publisher_path = "/"
        else:
            _, user = await http_json(port, "POST", "/users", {"name": "publisher"})
            headers = {"Authorization": f"Bearer {user['token']}"}
            body = {"title": "Bench", "category": "bench"}
            _, stream = await http_json(port, "POST", "/streams/create", body, headers)
            path = f"/streams/{stream['id']}/status"
            await http_json(port, "PUT", path, {"status": "live"}, headers)
            self.path = self.publisher_path = f"/streams/{stream['id']}/chat"
            self.token = user["token"]

    async def open_publisher(self) -> None:
        publisher = await connect(self.server.port, self.publisher_path)
        await asyncio.wait_for(publisher.first_frame.wait(), 30)
        if self.token is not None:
            before = publisher.frames
            publisher.send(json.dumps({"type": "auth", "token": self.token}))
            for _ in range(3000):  # until authenticated (a bench: polling is fine here)
                if publisher.frames >= before + 2:
                    break
                await asyncio.sleep(0.01)
        self.publisher = publisher


def always(path: str) -> Callable[[int], str]:
    """The same path for every client."""
    return lambda _index: path


async def burst(
    variant: Variant, count: int, size: int, marker: str, within: float
) -> dict[str, Any]:
    """Send ``count`` messages as fast as possible; until every client has the last one."""
    assert variant.publisher is not None
    text = (FILLER * (size // len(FILLER) + 1))[:size]
    for client in variant.clients:
        client.marker, client.messages = marker.encode(), 0
        client.got_marker.clear()
    publisher, window = variant.publisher, variant.window
    echoes = 2 if variant.name == "streamverse" else 1  # its own message, and an ack
    echoed_before = publisher.messages
    frames_before = sum(c.frames for c in variant.clients)
    pid = variant.server.pid
    cpu, started = cpu_seconds(pid), time.perf_counter()
    for n in range(count - 1):
        publisher.send(variant.message(f"{n} {text}"))
        if n % 50 == 0:
            await asyncio.sleep(0)
        # At most ``window`` messages ahead of what came back: the room, not this one
        # driving process, sets the pace.
        while n - (publisher.messages - echoed_before) // echoes > window:
            publisher.received.clear()
            await publisher.received.wait()
    publisher.send(variant.message(marker))
    waits = [asyncio.ensure_future(c.got_marker.wait()) for c in variant.clients]
    _, pending = await asyncio.wait(waits, timeout=within)
    for waiting in pending:
        waiting.cancel()
    elapsed = time.perf_counter() - started
    used = cpu_seconds(pid) - cpu
    received = sum(min(c.messages, count) for c in variant.clients)
    frames = sum(c.frames for c in variant.clients) - frames_before
    return {
        "complete": not pending,
        "seconds": elapsed,
        "deliveries": received,
        "per_second": received / elapsed,
        "cpu_us": used / max(1, received) * 1e6,
        "core_share": used / elapsed,
        "messages_per_frame": received / max(1, frames),
    }


async def paced(variant: Variant, rate: float, seconds: float) -> dict[str, Any]:
    assert variant.publisher is not None
    for client in variant.clients:
        client.latencies = []
    count = int(rate * seconds)
    pid = variant.server.pid
    cpu, start = cpu_seconds(pid), time.perf_counter()
    for n in range(count):
        await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))
        variant.publisher.send(variant.message(f"{stamp()} paced {n}"))
    core_share = (cpu_seconds(pid) - cpu) / (time.perf_counter() - start)
    marker = f"paced-end-{time.time_ns()}"
    for client in variant.clients:
        client.marker = marker.encode()
        client.got_marker.clear()
    variant.publisher.send(variant.message(marker))
    await asyncio.wait_for(asyncio.gather(*(c.got_marker.wait() for c in variant.clients)), 60)
    samples = sorted(x for c in variant.clients for x in (c.latencies or []))
    for client in variant.clients:
        client.latencies = None
    if not samples:
        return {"samples": 0}
    return {
        "samples": len(samples),
        "core_share": core_share,
        "p50_ms": samples[len(samples) // 2] * 1000,
        "p99_ms": samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000,
    }


async def stalled(variant: Variant, args: argparse.Namespace) -> dict[str, Any]:
    """Pairs of the same burst: without, then with a client that reads nothing (a new one
    each pair); the median of each side, since one pair is within the machine's noise."""
    size, count = args.stall_size, args.stall_messages
    within = args.stall_timeout
    alone_rates, stalled_rates, growths, codes, complete = [], [], [], [], True
    for pair in range(args.stall_pairs):
        alone = await burst(variant, count, size, f"alone-{pair}-{time.time_ns()}", within)
        stuck = await connect(variant.server.port, variant.path, rcvbuf=4096)
        await asyncio.wait_for(stuck.first_frame.wait(), 30)
        assert stuck.transport is not None
        stuck.transport.pause_reading()  # from now on it reads nothing
        rss = rss_kib(variant.server.pid)
        marker = f"stalled-{pair}-{time.time_ns()}"
        with_stalled = await burst(variant, count, size, marker, within)
        growths.append(rss_kib(variant.server.pid) - rss)
        stuck.transport.resume_reading()  # drain: does the server say why it was closed?
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stuck.closed.wait(), 5)
        codes.append(stuck.close_code if stuck.close_code is not None else "still open")
        stuck.close()
        alone_rates.append(alone["per_second"])
        stalled_rates.append(with_stalled["per_second"])
        complete = complete and with_stalled["complete"]
    alone_rate, stalled_rate = statistics.median(alone_rates), statistics.median(stalled_rates)
    return {
        "alone_per_second": alone_rate,
        "stalled_per_second": stalled_rate,
        "pairs": list(zip(alone_rates, stalled_rates, strict=True)),
        "complete": complete,
        "throughput_lost": 1 - stalled_rate / alone_rate,
        "rss_growth_kib": max(growths),
        "stalled_client_close": ", ".join(str(code) for code in codes),
    }


async def run(args: argparse.Namespace, server_cpu: int | None) -> dict[str, Any]:
    data_dir = tempfile.mkdtemp(prefix="bench-chat-")
    variants = [
        Variant(
            name, ServerProcess(serve, name, server_cpu, f"{data_dir}/{name}"), window=args.window
        )
        for name in args.variants
    ]
    try:
        for variant in variants:
            await variant.prepare()
            pid = variant.server.pid
            path = variant.path
            warm = await connect_many(variant.server.port, always(path), 20)
            for client in warm:
                client.close()
            await asyncio.sleep(0.5)
            before = rss_kib(pid)
            variant.clients = await connect_many(variant.server.port, always(path), args.clients)
            await asyncio.sleep(0.5)
            variant.figures["kib_per_connection"] = (rss_kib(pid) - before) / args.clients
            await variant.open_publisher()
            print(f"  {variant.name}: {args.clients} clients open", flush=True)
        for round_number in range(args.rounds):
            order = (
                variants[round_number % len(variants) :] + variants[: round_number % len(variants)]
            )
            for variant in order:
                marker = f"last-{round_number}-{time.time_ns()}"
                result = await burst(variant, args.messages, args.size, marker, args.timeout)
                variant.bursts.append((result["per_second"], result["cpu_us"]))
                variant.figures.setdefault("bursts", []).append(result)
        for variant in variants:
            variant.figures["latency"] = await paced(variant, args.rate, args.paced_seconds)
        for variant in variants:
            variant.figures["stalled"] = await stalled(variant, args)
            print(f"  {variant.name}: stalled phase done", flush=True)
    finally:
        for variant in variants:
            for client in variant.clients:
                client.close()
            variant.server.stop()
    for variant in variants:
        rates = [rate for rate, _ in variant.bursts]
        variant.figures["best_per_second"] = max(rates)
        variant.figures["cpu_us_per_delivery"] = statistics.median(cpu for _, cpu in variant.bursts)
        per_frame = [burst["messages_per_frame"] for burst in variant.figures["bursts"]]
        variant.figures["messages_per_frame"] = statistics.median(per_frame)
    return {variant.name: variant.figures for variant in variants}


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    def ratio(name: str, key: str, base: str, inverse: bool = False) -> str:
        if base not in results or name not in results:
            return "-"
        mine, theirs = results[name][key], results[base][key]
        return f"{(theirs / mine if inverse else mine / theirs):.2f}x"

    print(
        f"\n{args.clients} clients in one room, {args.messages} messages a burst, "
        f"{args.rounds} rounds; latency at {args.rate:g} msg/s"
    )
    header = (
        "variant",
        "KiB/conn",
        "best dlv/s",
        "CPU us/dlv",
        "CPU vs naive",
        "CPU vs bare",
        "p50 ms",
        "p99 ms",
        "paced core",
        "msgs/frame",
    )
    print("  ".join(f"{h:>12}" for h in header))
    for name, figures in results.items():
        latency = figures["latency"]
        row = (
            name,
            f"{figures['kib_per_connection']:.1f}",
            f"{figures['best_per_second']:,.0f}",
            f"{figures['cpu_us_per_delivery']:.2f}",
            ratio(name, "cpu_us_per_delivery", "naive", inverse=True),
            ratio(name, "cpu_us_per_delivery", "bare", inverse=True),
            f"{latency.get('p50_ms', float('nan')):.1f}",
            f"{latency.get('p99_ms', float('nan')):.1f}",
            f"{latency.get('core_share', float('nan')):.0%}",
            f"{figures['messages_per_frame']:.1f}",
        )
        print("  ".join(f"{cell:>12}" for cell in row))
    print(
        f"\nOne stalled client, {args.stall_messages} messages of {args.stall_size} chars"
        f" (medians of {args.stall_pairs} pairs of bursts):"
    )
    for name, figures in results.items():
        s = figures["stalled"]
        state = "" if s["complete"] else " (the burst never finished)"
        print(
            f"  {name:>12}: {s['alone_per_second']:,.0f} -> {s['stalled_per_second']:,.0f} dlv/s"
            f" ({s['throughput_lost']:.1%} lost){state}; RSS +{s['rss_growth_kib'] / 1024:.1f} MiB;"
            f" stalled client: {s['stalled_client_close']}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=1000)
    parser.add_argument("--messages", type=int, default=200, help="messages per burst")
    parser.add_argument("--size", type=int, default=100, help="characters per message")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--rate", type=float, default=20.0, help="paced messages per second")
    parser.add_argument("--paced-seconds", type=float, default=10.0)
    parser.add_argument("--stall-messages", type=int, default=1500)
    parser.add_argument("--stall-size", type=int, default=450)
    parser.add_argument("--stall-timeout", type=float, default=30.0)
    parser.add_argument(
        "--stall-pairs", type=int, default=3, help="bursts without and with a stalled client"
    )
    parser.add_argument("--timeout", type=float, default=120.0)
    parser.add_argument(
        "--window", type=int, default=500, help="messages the publisher may be ahead of its echoes"
    )
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS)
    parser.add_argument("--quick", action="store_true", help="a smoke run (100 clients)")
    if parser.parse_args(argv).quick:  # smaller defaults; options given still win
        parser.set_defaults(
            clients=100,
            messages=50,
            rounds=1,
            paced_seconds=2.0,
            stall_messages=300,
            stall_timeout=10.0,
            stall_pairs=1,
        )
    args = parser.parse_args(argv)
    raise_nofile()
    server_cpu, client_cpu = cpu_plan()
    pin(client_cpu)
    loop = new_event_loop()
    try:
        results = loop.run_until_complete(run(args, server_cpu))
    finally:
        loop.close()
    report(results, args)
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps({"args": vars(args), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

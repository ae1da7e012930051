"""End-to-end measurements on a running pipeline: rising load until it saturates, latency at a
fixed rate, backfill after an outage with live data flowing, and the edge's memory meanwhile."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import psutil

from edgetwin.bench.pipeline import Load, Pipeline

Say = Callable[[str], None]


def _cpu(pipe: Pipeline) -> dict[str, float]:
    out = {}
    for name in ("broker", "cloud", "edge"):
        t = pipe.process(name).cpu_times()
        out[name] = t.user + t.system
    me = psutil.Process().cpu_times()  # the load generator runs in this process
    out["generator"] = me.user + me.system
    return out


def drain(pipe: Pipeline, expected: int, timeout: float = 120.0) -> float:
    """Seconds until the store holds ``expected`` readings (or the timeout)."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if pipe.stored() >= expected:
            return time.monotonic() - t0
        time.sleep(0.1)
    return float("inf")


def step(
    pipe: Pipeline, load: Load, total_sent: Callable[[], int], rate: float, seconds: float
) -> dict[str, Any]:
    s0 = pipe.stored()
    cpu0 = _cpu(pipe)
    t0 = time.monotonic()
    offered = load.run(rate, seconds)
    elapsed = time.monotonic() - t0
    s1 = pipe.stored()
    cpu1 = _cpu(pipe)
    backlog = int(pipe.edge_metric("edgetwin_edge_buffer_rows"))
    drain_s = drain(pipe, total_sent())
    stored = pipe.stored()
    during = (s1 - s0) / elapsed
    return {
        "target_per_s": rate,
        "offered_per_s": round(offered),
        "stored_per_s_during": round(during),
        "backlog_at_end": backlog,
        "drain_s": round(drain_s, 2),
        # Kept up: stored as fast as offered while it ran (a growing backlog is not keeping up,
        # however fast it drains afterwards), and the little left drained at once.
        "kept_up": during >= 0.97 * offered and drain_s < max(2.0, 0.1 * seconds),
        "lost_so_far": total_sent() - stored,
        "cpu_percent": {k: round(100 * (cpu1[k] - cpu0[k]) / elapsed) for k in cpu0},
    }


def rising(
    pipe: Pipeline,
    load: Load,
    total_sent: Callable[[], int],
    rates: list[float],
    seconds: float,
    say: Say,
) -> list[dict[str, Any]]:
    results = []
    for rate in rates:
        r = step(pipe, load, total_sent, rate, seconds)
        results.append(r)
        say(
            f"  {rate:>8,.0f}/s offered {r['offered_per_s']:>8,} stored {r['stored_per_s_during']:>8,}/s "
            f"backlog {r['backlog_at_end']:>7,} drain {r['drain_s']:>6} s  cpu {r['cpu_percent']}"
        )
        if not r["kept_up"] or r["offered_per_s"] < 0.9 * rate:
            break  # saturated: the pipeline (or the generator) no longer keeps up
    return results


def _quantile(hist0: dict[float, float], hist1: dict[float, float], q: float) -> float | None:
    bounds = sorted(hist1)
    counts = [hist1[b] - hist0.get(b, 0.0) for b in bounds]
    total = counts[-1] if counts else 0
    if total <= 0:
        return None
    want = q * total
    prev_b, prev_c = 0.0, 0.0
    for b, c in zip(bounds, counts, strict=True):
        if c >= want:
            if b == float("inf"):
                return prev_b
            return prev_b + (b - prev_b) * (want - prev_c) / max(c - prev_c, 1e-9)
        prev_b, prev_c = b, c
    return None


def latency(pipe: Pipeline, load: Load, rate: float, seconds: float) -> dict[str, Any]:
    """Reading timestamp -> committed in the cloud's store, from the cloud's histogram."""
    h0 = pipe.cloud_histogram("edgetwin_cloud_reading_age_seconds")
    offered = load.run(rate, seconds)
    time.sleep(1.0)
    h1 = pipe.cloud_histogram("edgetwin_cloud_reading_age_seconds")
    p50, p99 = _quantile(h0, h1, 0.5), _quantile(h0, h1, 0.99)
    return {
        "rate_per_s": round(offered),
        "p50_ms": None if p50 is None else round(p50 * 1000, 1),
        "p99_ms": None if p99 is None else round(p99 * 1000, 1),
        "per_message": load.per_message,
        "measured_at": "reading timestamp -> store commit (cloud histogram)",
    }


def backfill(
    pipe: Pipeline,
    load: Load,
    total_sent: Callable[[], int],
    rate: float,
    outage_s: float,
    say: Say,
) -> dict[str, Any]:
    """Cut the uplink for ``outage_s`` at ``rate``; restore; time the drain while live data flows."""
    edge = pipe.process("edge")
    stop = threading.Event()
    runner = threading.Thread(target=load.run, args=(rate, outage_s * 4 + 120, stop), daemon=True)
    load.command("network_outage", True)
    time.sleep(0.5)
    runner.start()
    rss: list[float] = []
    t0 = time.monotonic()
    while time.monotonic() - t0 < outage_s:
        rss.append(edge.memory_info().rss / 2**20)
        time.sleep(1.0)
    depth = int(pipe.edge_metric("edgetwin_edge_buffer_rows"))
    load.command("network_outage", False)
    restored = time.monotonic()
    live_floor = max(rate * 0.5, 1000)
    while time.monotonic() - restored < 300:
        if pipe.edge_metric("edgetwin_edge_buffer_rows") <= live_floor:
            break
        time.sleep(0.2)
    drained = time.monotonic() - restored
    time.sleep(3)  # live data still flowing after the drain
    stop.set()
    runner.join(10)
    final_drain = drain(pipe, total_sent())
    result = {
        "rate_per_s": rate,
        "outage_s": outage_s,
        "backlog": depth,
        "backfill_s": round(drained, 2),
        "backfill_rate_per_s": round(depth / drained) if drained > 0 else None,
        "final_drain_s": round(final_drain, 2),
        "edge_rss_mb": {
            "start": round(rss[0], 1),
            "end": round(rss[-1], 1),
            "max": round(max(rss), 1),
        },
        "lost": total_sent() - pipe.stored(),
    }
    say(f"  backlog {depth:,} drained in {drained:.1f} s; edge RSS {result['edge_rss_mb']}")
    return result

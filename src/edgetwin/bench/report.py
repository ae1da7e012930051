"""The benchmark's outputs: a table with each figure's ratio to its raw limit, JSON, a PNG plot
and ``docs/benchmarks.md``."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import orjson
from rich.console import Console
from rich.table import Table

TARGETS = {
    "e2e": 50_000,
    "p99_ms": 250,
    "backfill_s": 15,
    "series_ms": 100,
    "buffer": 200_000,
}


def _best(steps: list[dict[str, Any]]) -> int:
    kept = [s["stored_per_s_during"] for s in steps if s["kept_up"]]
    return max(kept) if kept else 0


def rows(r: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(figure, value, raw limit, ratio, target) rows."""
    raw = r["raw"]
    out: list[tuple[str, str, str, str, str]] = []

    def ratio(a: float, b: float) -> str:
        return f"{a / b:.2f}" if b else "–"

    buf = raw["buffer_full_1000_per_s"]
    out.append(
        (
            "edge buffer write (FULL sync, 1000/txn)",
            f"{buf:,}/s",
            f"{raw['sqlite_raw_insert_per_s']:,}/s SQLite insert",
            ratio(buf, raw["sqlite_raw_insert_per_s"]),
            f"≥ {TARGETS['buffer']:,}/s",
        )
    )
    out.append(
        ("edge buffer write (NORMAL sync)", f"{raw['buffer_normal_1000_per_s']:,}/s", "", "", "")
    )
    out.append(
        ("edge buffer write (FULL, 54/txn)", f"{raw['buffer_full_54_per_s']:,}/s", "", "", "")
    )
    out.append(
        (
            "SQLite store ingest",
            f"{raw['sqlite_store_ingest_per_s']:,}/s",
            f"{raw['sqlite_raw_insert_per_s']:,}/s SQLite insert",
            ratio(raw["sqlite_store_ingest_per_s"], raw["sqlite_raw_insert_per_s"]),
            "",
        )
    )
    copy = None
    if "pg_ingest" in r:
        pg = r["pg_ingest"]
        workers = pg["workers"]
        copy = pg["raw_copy"][f"rows_per_s_{workers}_workers"]
        store = pg["unnest"][f"rows_per_s_{workers}_workers"]
        out.append(
            (
                f"PostgreSQL store ingest ({workers} workers)",
                f"{store:,}/s",
                f"{copy:,}/s raw COPY",
                ratio(store, copy),
                "",
            )
        )
    limit_name = "raw COPY" if copy else "SQLite insert"
    limit = copy or raw["sqlite_raw_insert_per_s"]
    single, batched = _best(r["e2e_single"]), _best(r["e2e_batched"])
    out.append(
        (
            "end to end, 1 reading/message",
            f"{single:,}/s",
            f"{limit:,}/s {limit_name}",
            ratio(single, limit),
            "",
        )
    )
    out.append(
        (
            "end to end, 500 readings/message",
            f"{batched:,}/s",
            f"{limit:,}/s {limit_name}",
            ratio(batched, limit),
            f"≥ {TARGETS['e2e']:,}/s",
        )
    )
    if "e2e_sustained" in r:
        s = r["e2e_sustained"]
        out.append(
            (
                f"sustained {s['target_per_s']:,}/s",
                f"{s['stored_per_s_during']:,}/s, kept up: {s['kept_up']}",
                f"{limit:,}/s",
                ratio(s["stored_per_s_during"], limit),
                "60 s",
            )
        )
    out.append(
        (
            "readings lost / duplicated",
            f"{r['e2e_lost']} / {r['e2e_duplicated']}",
            f"of {r['e2e_sent']:,} sent",
            "",
            "0 / 0",
        )
    )
    lat = r["latency"]
    out.append(
        (
            f"latency at {lat['rate_per_s']:,}/s, p50 / p99",
            f"{lat['p50_ms']} / {lat['p99_ms']} ms",
            "",
            "",
            f"p99 ≤ {TARGETS['p99_ms']} ms",
        )
    )
    b = r["backfill"]
    out.append(
        (
            f"backfill after {b['outage_s']:.0f} s at {b['rate_per_s']:,}/s",
            f"{b['backfill_s']} s ({b['backlog']:,} readings)",
            "",
            "",
            f"≤ {TARGETS['backfill_s']} s",
        )
    )
    out.append(
        (
            "edge memory while offline (RSS)",
            f"{b['edge_rss_mb']['start']} → {b['edge_rss_mb']['end']} MB (max {b['edge_rss_mb']['max']})",
            "",
            "",
            "flat",
        )
    )
    if "series" in r:
        s = r["series"]
        for key, label in (
            ("bucket_60s_ms", "60 s"),
            ("bucket_300s_ms", "300 s"),
            ("bucket_3600s_ms", "1 h"),
        ):
            if key in s:
                out.append(
                    (
                        f"/series {s['hours']} h × {s['series']} series, {label} buckets",
                        f"p50 {s[key]['p50']} / max {s[key]['max']} ms",
                        "",
                        "",
                        f"≤ {TARGETS['series_ms']} ms",
                    )
                )
    if "streams" in r:
        st = r["streams"]
        raw = f"{st['raw_publish_consume_per_s']:,.0f}/s JetStream publish+consume"
        out += [
            (
                "JetStream publish, fsync always (our setting)",
                f"{st['publish_per_s']:,.0f}/s",
                f"{st['publish_per_s_interval']:,.0f}/s fsync every 2 min",
                f"{1 - st['sync_always_cost']:.2f}",
                "",
            ),
            (
                "enrichment, one enricher",
                f"{st['enrich_per_s']:,.0f} messages/s",
                raw,
                f"{st['enrich_ratio']:.2f}",
                "",
            ),
        ]
    return out


def _plot(r: dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(12, 4.5))
    for key, label, color in (
        ("e2e_single", "1 reading/message", "#f59e0b"),
        ("e2e_batched", "500 readings/message", "#38bdf8"),
    ):
        steps = r[key]
        ax1.plot(
            [s["offered_per_s"] for s in steps],
            [s["stored_per_s_during"] for s in steps],
            "o-",
            label=label,
            color=color,
        )
    top = max([s["offered_per_s"] for s in r["e2e_single"] + r["e2e_batched"]] + [1])
    ax1.plot([0, top], [0, top], ":", color="grey", label="keeping up")
    ax1.set_xlabel("offered readings/s")
    ax1.set_ylabel("stored readings/s")
    ax1.set_title("end to end")
    ax1.legend()
    raw = r["raw"]
    bars = {
        "SQLite insert (raw)": raw["sqlite_raw_insert_per_s"],
        "SQLite store": raw["sqlite_store_ingest_per_s"],
        "edge buffer": raw["buffer_full_1000_per_s"],
    }
    if "pg_ingest" in r:
        w = r["pg_ingest"]["workers"]
        bars["PG COPY (raw)"] = r["pg_ingest"]["raw_copy"][f"rows_per_s_{w}_workers"]
        bars["PG store"] = r["pg_ingest"]["unnest"][f"rows_per_s_{w}_workers"]
    bars["end to end"] = max(_best(r["e2e_single"]), _best(r["e2e_batched"]))
    ax2.barh(list(bars), list(bars.values()), color="#38bdf8")
    ax2.set_xlabel("readings/s")
    ax2.set_title("raw limits and pipeline, same machine, same run")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def where_the_time_goes(r: dict[str, Any]) -> list[str]:
    """The busiest step's CPU per process, and what the figures say about the gap."""
    steps = r["e2e_batched"] + r["e2e_single"]
    top = max(steps, key=lambda s: s["offered_per_s"])
    cpu = top["cpu_percent"]
    parts = ", ".join(f"{name} {pct} %" for name, pct in cpu.items())
    total = sum(cpu.values())
    cores = r["machine"]["cores"]
    return [
        "## Where the time goes",
        "",
        f"At the busiest step ({top['offered_per_s']:,} readings/s offered, {top['stored_per_s_during']:,}/s "
        f"stored) the processes used, in % of one core: {parts} — {total} % of the {cores * 100} % "
        "this machine has. The load generator and the broker share the same cores as the pipeline.",
        "",
        *_profile(r, top),
        "",
    ]


def _profile(r: dict[str, Any], top: dict[str, Any]) -> list[str]:
    """The per-reading costs this run measured, and what they say about the busiest step."""
    raw = r["raw"]
    cost = raw.get("per_reading")
    if not cost:
        return []
    buffer_us = 1e6 / raw["buffer_full_1000_per_s"]
    lines = [
        f"Measured per reading in this run: decoding its JSON {cost['json_decode_us']} µs; "
        f"validating it into a `Point` (pydantic) {cost['validate_us']} µs, done at the edge "
        f"and again in the cloud; the edge buffer's write {buffer_us:.1f} µs; encoding the "
        f"uplink's batch body {cost['batch_encode_us']} µs.",
    ]
    if "pg_ingest" in r:
        pg = r["pg_ingest"]
        w = pg["workers"]
        store_us = 1e6 / pg["unnest"][f"rows_per_s_{w}_workers"]
        copy_us = 1e6 / pg["raw_copy"][f"rows_per_s_{w}_workers"]
        lines[0] += (
            f" The PostgreSQL store's ingest takes {store_us:.1f} µs per reading with {w} "
            f"workers, raw COPY {copy_us:.1f} µs."
        )
    edge_us = cost["json_decode_us"] + cost["validate_us"] + buffer_us
    cloud_us = cost["json_decode_us"] + cost["validate_us"]
    stored = float(max(top["stored_per_s_during"], 1))
    cpu = top["cpu_percent"]

    def spent(part: str) -> float:  # µs of CPU per stored reading at the busiest step
        return float(cpu.get(part, 0)) / 100 / stored * 1e6

    lines += [
        "",
        f"At the busiest step the edge spent {spent('edge'):.1f} µs of CPU per stored reading; "
        f"decoding, validating and buffering explain {edge_us:.1f} µs of it, the rest is MQTT "
        "(the client's handling of each message and acknowledgement), reading the buffer back "
        f"and HTTP. The cloud spent {spent('cloud'):.1f} µs per reading, of which decoding and "
        f"validating are {cloud_us:.1f} µs; the database works in its own processes. The edge "
        "is one Python process, so it is the first part to run out of core: validating once "
        "(the cloud trusting the schema check of an authenticated edge) and a load generator "
        "on another machine are the next steps.",
    ]
    kept = [s["stored_per_s_during"] for s in r["e2e_batched"] if s["kept_up"]]
    if kept and top["stored_per_s_during"] < max(kept):
        lines += [
            "",
            f"Overloaded, the pipeline stored less ({top['stored_per_s_during']:,}/s) than at "
            f"its best step ({max(kept):,}/s): the edge's intake and its uplink share one event "
            "loop, and the intake took the time. Flow control on the MQTT side (a receive maximum, so the broker holds "
            "what the edge cannot take yet) would keep the rate at its best under overload.",
        ]
    return lines


def markdown(r: dict[str, Any], plot_name: str) -> str:
    m = r["machine"]
    lines = [
        "# Benchmarks",
        "",
        "Measured by `edgetwin bench`: every figure next to the raw limit measured in the same run on",
        "the same machine. Rerun it with `edgetwin bench` (full) or `edgetwin bench --quick`;",
        "`--docs docs/benchmarks.md` rewrites this page and the figures behind it, `benchmarks.json`.",
        "",
        f"- date: {r['date']} ({r['mode']} mode, {r['elapsed_s']} s)",
        f"- command: `{r['command']}`",
        f"- machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB; Python {m['python']}, "
        f"SQLite {m['sqlite']}" + (f", PostgreSQL {m['postgresql']}" if "postgresql" in m else ""),
        f"- end to end through: {r['e2e_broker']} broker, {r['e2e_store']} store, all on this machine",
        "",
        "| figure | value | raw limit | ratio | target |",
        "| --- | --- | --- | --- | --- |",
    ]
    lines += [f"| {a} | {b} | {c} | {d} | {e} |" for a, b, c, d, e in rows(r)]
    lines += ["", f"![benchmark]({plot_name})", ""]
    lines += where_the_time_goes(r)
    lines += ["## Steps of the rising load", ""]
    for key, label in (
        ("e2e_single", "one reading per message"),
        ("e2e_batched", "500 readings per message"),
    ):
        lines += [
            f"**{label}**",
            "",
            "| offered/s | stored/s | backlog at end | drain s | kept up | CPU % broker / cloud / edge |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for s in r[key]:
            c = s["cpu_percent"]
            lines.append(
                f"| {s['offered_per_s']:,} | {s['stored_per_s_during']:,} | {s['backlog_at_end']:,} | {s['drain_s']} | "
                f"{s['kept_up']} | {c['broker']} / {c['cloud']} / {c['edge']} |"
            )
        lines.append("")
    return "\n".join(lines) + "\n"


def write(r: dict[str, Any], *, out: Path, docs: Path | None, console: Console) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench.json").write_bytes(orjson.dumps(r, option=orjson.OPT_INDENT_2))
    _plot(r, out / "bench.png")
    table = Table(title=f"edgetwin bench ({r['mode']})")
    for col in ("figure", "value", "raw limit", "ratio", "target"):
        table.add_column(col)
    for row in rows(r):
        table.add_row(*row)
    console.print(table)
    console.print(f"JSON and plot in {out}/")
    if docs is not None:
        plot_name = docs.with_suffix(".png").name
        shutil.copy(out / "bench.png", docs.with_suffix(".png"))
        shutil.copy(out / "bench.json", docs.with_suffix(".json"))  # the figures behind the page
        docs.write_text(markdown(r, plot_name))
        console.print(f"wrote {docs}")

"""Prometheus metrics of the edge, served on their own port (``/metrics``).

Values are read from the edge's last :class:`~edgetwin.core.status.EdgeStatus` at scrape time
(the scrape runs on prometheus_client's thread; the event loop replaces the status every second,
it never changes one in place).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edgetwin.core.status import EdgeStatus

log = logging.getLogger("edgetwin.edge.metrics")


class _StatusCollector(Collector):
    def __init__(self, status: Callable[[], EdgeStatus | None]) -> None:
        self.status = status

    def collect(self) -> Iterator[Metric]:
        st = self.status()
        if st is None:
            return
        s: dict[str, Any] = st.model_dump()
        edge = st.edge_id

        def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
            c = CounterMetricFamily(f"edgetwin_edge_{name}", doc, labels=["edge"])
            c.add_metric([edge], value)
            return c

        def gauge(name: str, doc: str, value: float | None) -> GaugeMetricFamily:
            g = GaugeMetricFamily(f"edgetwin_edge_{name}", doc, labels=["edge"])
            g.add_metric([edge], float("nan") if value is None else value)
            return g

        yield counter(
            "readings_received", "valid readings that arrived from devices", s["received"]
        )
        yield counter("readings_buffered", "readings committed to the buffer", s["buffered"])
        yield counter(
            "readings_redelivered", "broker redeliveries the buffer already held", s["redelivered"]
        )
        yield counter("readings_sent", "readings the cloud confirmed as stored", s["sent"])
        yield counter(
            "cloud_duplicates", "resent readings the cloud already had", s["cloud_duplicates"]
        )
        yield counter(
            "uplink_failures", "uplink attempts that failed and were retried", s["uplink_failures"]
        )
        for name, doc in (
            ("rejected", "malformed input by reason"),
            ("dropped", "readings dropped by the buffer policy, by reason"),
        ):
            family = CounterMetricFamily(
                f"edgetwin_edge_readings_{name}", doc, labels=["edge", "reason"]
            )
            for reason, n in s[name].items():
                family.add_metric([edge, reason], n)
            yield family
        yield gauge("buffer_rows", "readings waiting in the buffer", s["buffer_depth"])
        yield gauge("buffer_bytes", "bytes of readings in the buffer", s["buffer_bytes"])
        yield gauge("buffer_file_bytes", "size of the buffer's SQLite file", s["buffer_file_bytes"])
        yield gauge("buffer_fill_ratio", "buffer bytes / limit", s["buffer_fill"])
        yield gauge(
            "buffer_oldest_age_seconds", "age of the oldest buffered reading", s["oldest_age_s"]
        )
        yield gauge(
            "buffer_runway_seconds",
            "time until the buffer is full at the current inflow",
            s["runway_s"],
        )
        yield gauge("uplink_up", "1 when the uplink delivers", 1.0 if s["uplink"] == "ok" else 0.0)
        yield gauge("alerts_active", "active alerts", sum(1 for a in s["alerts"] if a["active"]))
        yield from _per_sink(st)


def _per_sink(st: EdgeStatus) -> Iterator[Metric]:
    """Each durable sink's outbox: depth, oldest age, runway, delivered and dropped."""
    edge = st.edge_id
    gauges = {
        "depth": ("edgetwin_edge_sink_outbox_rows", "readings waiting for the sink"),
        "oldest_age_s": ("edgetwin_edge_sink_oldest_age_seconds", "age of its oldest reading"),
        "runway_s": ("edgetwin_edge_sink_runway_seconds", "time until its backlog is dropped"),
    }
    for attr, (name, doc) in gauges.items():
        g = GaugeMetricFamily(name, doc, labels=["edge", "sink"])
        for sink, status in st.sinks.items():
            value = getattr(status, attr)
            g.add_metric([edge, sink], float("nan") if value is None else float(value))
        yield g
    sent = CounterMetricFamily(
        "edgetwin_edge_sink_sent", "readings the sink's target confirmed", labels=["edge", "sink"]
    )
    dropped = CounterMetricFamily(
        "edgetwin_edge_sink_dropped",
        "readings the sink never delivered because the buffer's policy dropped them",
        labels=["edge", "sink", "reason"],
    )
    for sink, status in st.sinks.items():
        sent.add_metric([edge, sink], status.sent)
        for reason, n in status.dropped.items():
            dropped.add_metric([edge, sink, reason], n)
    yield sent
    yield dropped


class EdgeMetrics:
    """The edge's Prometheus registry and its HTTP server (127.0.0.1 only)."""

    def __init__(self, status: Callable[[], EdgeStatus | None]) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(_StatusCollector(status))
        self.uplink_latency = Histogram(
            "edgetwin_edge_uplink_latency_seconds",
            "time from sending a batch to the cloud's commit confirmation",
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self._server: Any = None

    def serve(self, port: int) -> None:
        if port == 0:
            return
        try:
            self._server, _thread = start_http_server(
                port, addr="127.0.0.1", registry=self.registry
            )
            log.info("Prometheus metrics on http://127.0.0.1:%d/metrics", port)
        except OSError as exc:
            log.warning(
                "metrics port %d unavailable (%s); set EDGETWIN_EDGE_METRICS_PORT", port, exc
            )

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server = None

"""Prometheus metrics of the cloud service (``GET /metrics``)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from edgetwin.cloud.edges import EdgeRegistry


class _EdgesCollector(Collector):
    """The edges' buffers as the cloud last heard of them."""

    def __init__(self, edges: EdgeRegistry) -> None:
        self.edges = edges

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "edgetwin_cloud_edge_buffer_rows",
            "readings waiting in each edge's buffer",
            labels=["edge"],
        )
        online = GaugeMetricFamily(
            "edgetwin_cloud_edge_online", "1 if the edge reported recently", labels=["edge"]
        )
        for e in self.edges.public():
            depth.add_metric([e["edge_id"]], e["buffer_depth"])
            online.add_metric([e["edge_id"]], 1.0 if e["online"] else 0.0)
        yield depth
        yield online


class CloudMetrics:
    def __init__(self, edges: EdgeRegistry) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.accepted = Counter(
            "edgetwin_cloud_readings_stored", "readings stored (first arrival)", registry=r
        )
        self.duplicates = Counter(
            "edgetwin_cloud_readings_duplicate", "readings that were already stored", registry=r
        )
        self.rejected = Counter(
            "edgetwin_cloud_readings_rejected", "malformed readings refused with 422", registry=r
        )
        self.historical = Counter(
            "edgetwin_cloud_readings_historical", "readings that arrived as backfill", registry=r
        )
        self.unavailable = Counter(
            "edgetwin_cloud_ingest_unavailable",
            "ingest requests answered 503 (store unavailable)",
            registry=r,
        )
        self.ingest_seconds = Histogram(
            "edgetwin_cloud_ingest_seconds",
            "ingest request time until the store committed",
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
            registry=r,
        )
        self.reading_age = Histogram(
            "edgetwin_cloud_reading_age_seconds",
            "live readings: time from the reading's timestamp to the store's commit",
            buckets=(
                0.005,
                0.01,
                0.02,
                0.035,
                0.05,
                0.075,
                0.1,
                0.15,
                0.2,
                0.25,
                0.35,
                0.5,
                0.75,
                1,
                1.5,
                2,
                3,
                5,
                10,
                30,
                60,
            ),
            registry=r,
        )
        r.register(_EdgesCollector(edges))

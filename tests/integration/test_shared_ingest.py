"""Horizontal ingest end to end: two edges share the plant's readings through an MQTT shared
subscription, and send them to two cloud workers on one PostgreSQL. Under load one edge and one
cloud worker are killed with ``kill -9`` (the edge comes back, the worker does not): every
reading the broker acknowledged is stored, none twice, and both edges took a share."""

from __future__ import annotations

import itertools
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.chaos.harness import PLANT, TENANT, Generator, Proc
from tests.conftest import bearer, free_port
from tests.integration.conftest import Mosquitto, wait_for
from tests.store.pg import fresh_database

pytestmark = pytest.mark.integration
GROUP = "ingest"


@pytest.fixture
def database() -> Iterator[str]:
    with fresh_database("edgetwin_shared") as url:
        yield url


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGETWIN_")}
    return {**env, "PYTHONUNBUFFERED": "1", **extra}


def _stored(database: str) -> list[tuple[str, str, int]]:
    with psycopg.connect(database) as conn:
        rows = conn.execute(
            "SELECT r.id::text, s.machine, r.value::int FROM readings r"
            " JOIN series s ON s.id = r.series_id WHERE s.tenant = %s",
            (TENANT,),
        ).fetchall()
    return [(str(i), str(m), int(v)) for i, m, v in rows]


def test_two_edges_share_the_plant_and_survive_kills(
    mosquitto: Mosquitto, database: str, tmp_path: Path
) -> None:
    py = [sys.executable, "-m", "edgetwin"]
    ports = [free_port(), free_port()]
    workers = [
        Proc(
            f"worker-{i}",
            [*py, "cloud", "--http-port", str(port), "--db", database],
            _env(
                EDGETWIN_MQTT_URL=mosquitto.url,
                EDGETWIN_DATA_DIR=str(tmp_path / f"w{i}"),
                EDGETWIN_IDENTITIES_FILE=str(tmp_path / "identities.db"),
                EDGETWIN_PACKS="factory,motor",
            ),
            tmp_path / f"worker-{i}.log",
        )
        for i, port in enumerate(ports)
    ]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    edges = [
        Proc(
            name,
            [*py, "edge"],
            _env(
                EDGETWIN_DATA_DIR=str(tmp_path / name),
                EDGETWIN_IDENTITIES_FILE=str(tmp_path / "identities.db"),
                EDGETWIN_EDGE_ID=name,
                EDGETWIN_TENANT=TENANT,
                EDGETWIN_PLANT=PLANT,
                EDGETWIN_PACKS="[]",
                EDGETWIN_MQTT_URL=mosquitto.url,
                EDGETWIN_MQTT_SHARE_GROUP=GROUP,
                EDGETWIN_CLOUD_URL=",".join(urls[i:] + urls[:i]),  # each starts on its own
                EDGETWIN_UPLINK_TIMEOUT_S="2",
                EDGETWIN_EDGE_METRICS_PORT="0",
            ),
            tmp_path / f"{name}.log",
        )
        for i, name in enumerate(("edge-a", "edge-b"))
    ]
    gen = Generator(mosquitto.port, rate=400)
    auth = bearer(tmp_path)
    try:
        for w, url in zip(workers, urls, strict=True):
            w.start()
            wait_for(lambda u=url: httpx.get(f"{u}/health").status_code == 200, 60, what=url)
        for e in edges:
            e.start()
            ready = tmp_path / e.name / "run" / f"{e.name}.ready"
            wait_for(ready.exists, 30, what=f"{e.name} subscribed")
        gen.start()
        time.sleep(3)
        edges[0].kill9()  # its share waits in its persistent session at the broker
        time.sleep(1)
        workers[0].kill9()  # edge-a's first choice: on return it must move to worker-1
        time.sleep(1)
        edges[0].start()
        time.sleep(4)
        gen.stop()
        time.sleep(1)  # the last publishes get their PUBACKs

        confirmed = gen.confirmed()
        want = len(confirmed)

        def all_stored() -> bool:
            return confirmed <= {r[0] for r in _stored(database)}

        wait_for(all_stored, 60, interval=0.5, what=f"all {want} acknowledged readings stored")
        stored = {r[0] for r in _stored(database)}
        assert stored <= set(gen.sent)  # nothing that was not sent (a reading twice: see PK)
        assert want >= 0.95 * len(gen.sent) > 1500

        # Both edges took a share of the plant, as their own reports to the cloud say.
        def shares() -> dict[str, int]:
            edges_ = httpx.get(f"{urls[1]}/api/v1/stats", headers=auth).json()["edges"]
            return {e["edge_id"]: int(e.get("accepted_total") or 0) for e in edges_}

        # Every stored reading went through one edge's buffer (reports come every 2 s).
        got = wait_for(lambda: (s := shares()) and sum(s.values()) >= want and s, 15)
        assert sorted(got) == ["edge-a", "edge-b"]
        assert min(got.values()) > 0.2 * want, got
        assert sum(got.values()) < 1.2 * want, got  # shared, not each edge taking everything
        edge_a_log = edges[0].log.read_text()
        assert f"trying {urls[1]}/api/v1/ingest" in edge_a_log, edge_a_log[-2000:]

        # A device command reaches every edge of the group; none owns an MQTT device, so none
        # may answer "no such device" for the others (nor relay it twice): it stays "sent".
        r = httpx.post(
            f"{urls[1]}/api/v1/devices/m00/commands",
            params={"tenant": TENANT, "plant": PLANT},
            json={"name": "PING", "ttl_s": 4},
            headers=auth,
        )
        assert r.status_code == 201, r.text
        path = f"{urls[1]}/api/v1/devices/m00/commands/{r.json()['id']}"
        params = {"tenant": TENANT}
        wait_for(
            lambda: httpx.get(path, params=params, headers=auth).json()["state"] == "sent",
            5,
            what="sent",
        )
        time.sleep(2)
        assert httpx.get(path, params=params, headers=auth).json()["state"] == "sent"
    finally:
        gen.close()
        for p in itertools.chain(edges, workers):
            p.stop()

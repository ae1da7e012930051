"""Errors only the edge could see (issue 14, item 6): every part says plainly why it cannot
reach its broker, each reason once and then at most every 45 s, and an edge whose broker is out
of reach still tells the cloud why, in a header of each batch it sends.

Real processes against a Mosquitto of the test's own with a TLS listener (the fixture of
``test_tls.py``): a simulator, the cloud and the edge, each given a wrong CA or password.
"""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from edgetwin.cloud.edges import EdgeRegistry
from edgetwin.transport.linklog import LinkReport
from tests.conftest import bearer, free_port
from tests.integration.conftest import EDGETWIN, wait_for
from tests.integration.test_tls import PASSWORD, USER, TlsBroker, tls_broker  # noqa: F401

pytestmark = pytest.mark.integration

CA_REFUSED = "certificate was not accepted"
PASSWORD_REFUSED = "check the MQTT username and password"


# -- the rule, with a clock of the test's own --


def test_each_reason_once_then_a_reminder_then_one_line_when_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [0.0]
    report = LinkReport("MQTT link", logging.getLogger("t"), remind_s=45.0, clock=lambda: now[0])
    caplog.set_level(logging.INFO, "t")
    for _ in range(30):  # a retry a second, two reasons taking turns
        report.down("refused")
        report.down("disconnected")
        now[0] += 1.0
    assert [r.getMessage() for r in caplog.records] == [
        "MQTT link: refused",
        "MQTT link: disconnected",
    ]
    now[0] = 46.0
    report.down("refused")
    assert caplog.records[-1].getMessage() == "MQTT link: still refused (down for 46 s)"
    report.up()
    report.up()
    assert [r.getMessage() for r in caplog.records][-1] == "MQTT link: connected after 46 s"
    assert len(caplog.records) == 4


def test_the_cloud_lists_the_broker_link_error_an_edge_sends_with_its_batches() -> None:
    reg = EdgeRegistry()
    reg.from_headers("edge-07", "12", "1.5", "TLS to mqtts://b:8883: certificate not accepted")
    [alert] = reg.alerts()
    assert (alert["kind"], alert["source"], alert["active"]) == (
        "broker_link",
        "edge:edge-07",
        True,
    )
    assert "certificate not accepted" in alert["message"]
    [edge] = reg.public()
    assert [a["kind"] for a in edge["alerts"]] == ["broker_link"]
    reg.from_headers("edge-07", "0", None)  # a batch without the header: the link is back
    assert reg.alerts() == []


# -- real processes --


def _env(tmp_path: Path, broker: TlsBroker, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGETWIN_")}
    env.update({
        "EDGETWIN_DATA_DIR": str(tmp_path), "EDGETWIN_MQTT_URL": f"mqtts://127.0.0.1:{broker.port}",
        "EDGETWIN_MQTT_CA_FILE": str(broker.ca), "EDGETWIN_MQTT_USERNAME": USER,
        "EDGETWIN_MQTT_PASSWORD": PASSWORD, "EDGETWIN_EDGE_METRICS_PORT": "0",
        "PYTHONUNBUFFERED": "1",
    })  # fmt: skip
    env.update(extra)
    return env


class Part:
    """One ``edgetwin`` process, its output in a file; stopped with SIGTERM."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self.proc = subprocess.Popen([*EDGETWIN, *args], env=env, stdout=log.open("wb"),
                                     stderr=subprocess.STDOUT)  # fmt: skip

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def _lines(text: str, *words: str) -> list[str]:
    return [line for line in text.splitlines() if all(w in line for w in words)]


def _said_once(part: Part, *words: str, within_s: float = 30.0, then_s: float = 5.0) -> str:
    """Wait until a line with ``words`` appears, keep watching for ``then_s`` (several retries
    of the link), and check it was said once."""
    wait_for(lambda: _lines(part.text(), *words), within_s, what=f"a line with {words}")
    end = time.monotonic() + then_s
    while time.monotonic() < end and part.proc.poll() is None:
        time.sleep(0.5)
    found = _lines(part.text(), *words)
    assert len(found) == 1, "\n".join(found)
    return found[0]


def test_the_factory_simulator_says_why_it_cannot_connect(
    tls_broker: TlsBroker,  # noqa: F811
    tmp_path: Path,
) -> None:
    env = _env(tmp_path, tls_broker, EDGETWIN_MQTT_CA_FILE=str(tls_broker.other_ca))
    sim = Part(["sim", "factory"], env, tmp_path / "sim.log")
    try:
        line = _said_once(sim, "MQTT link:", CA_REFUSED)
        assert "EDGETWIN_MQTT_CA_FILE" in line
    finally:
        sim.stop()


def test_a_wrong_password_is_said_once_not_every_second(
    tls_broker: TlsBroker,  # noqa: F811
    tmp_path: Path,
) -> None:
    env = _env(tmp_path, tls_broker, EDGETWIN_MQTT_PASSWORD="wrong")
    sim = Part(["sim", "factory"], env, tmp_path / "sim.log")
    try:
        _said_once(sim, "MQTT link:", PASSWORD_REFUSED)
        assert "wrong" not in sim.text()  # the password is never logged
    finally:
        sim.stop()


def test_the_cloud_says_why_it_cannot_reach_the_plant_broker(
    tls_broker: TlsBroker,  # noqa: F811
    tmp_path: Path,
) -> None:
    env = _env(tmp_path, tls_broker, EDGETWIN_MQTT_CA_FILE=str(tls_broker.other_ca),
               EDGETWIN_PACKS="factory")  # fmt: skip
    cloud = Part(["cloud", "--http-port", str(free_port())], env, tmp_path / "cloud.log")
    try:
        assert f"plant broker: mqtts://127.0.0.1:{tls_broker.port}" in _said_once(
            cloud, "plant broker:", within_s=60, then_s=0
        )
        _said_once(cloud, "MQTT link:", CA_REFUSED, within_s=30)
    finally:
        cloud.stop()


class _Ingest(BaseHTTPRequestHandler):
    """Answers every batch as the cloud would, and keeps each request's ``x-edgetwin-*``."""

    seen: list[dict[str, str]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["content-length"]))
        type(self).seen.append({k.lower(): v for k, v in self.headers.items()})
        answer = json.dumps({"accepted": len(json.loads(body)), "duplicate": 0}).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def ingest() -> Iterator[tuple[str, list[dict[str, str]]]]:
    seen: list[dict[str, str]] = []
    handler = type("Ingest", (_Ingest,), {"seen": seen})
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}", seen
    server.shutdown()
    server.server_close()


def test_an_edge_that_cannot_reach_its_broker_tells_the_cloud_why(
    tls_broker: TlsBroker,  # noqa: F811
    tmp_path: Path,
    ingest: tuple[str, list[dict[str, str]]],
) -> None:
    """The motor's serial readings still reach the cloud over HTTP; each batch carries why the
    broker is out of reach, so the cloud can list it although no status report can come."""
    url, seen = ingest
    env = _env(tmp_path, tls_broker, EDGETWIN_MQTT_CA_FILE=str(tls_broker.other_ca),
               EDGETWIN_PACKS="motor", EDGETWIN_CLOUD_URL=url)  # fmt: skip
    sim = Part(["sim", "motor"], env, tmp_path / "sim.log")
    edge = Part(["edge"], env, tmp_path / "edge.log")
    try:
        wait_for(lambda: [h for h in seen if CA_REFUSED in h.get("x-edgetwin-broker-link", "")],
                 30, what="a batch carrying the broker link's error")  # fmt: skip
        assert all(h["x-edgetwin-edge"] == "edge-01" for h in seen)
        assert len(_lines(edge.text(), "MQTT link:", CA_REFUSED)) == 1
    finally:
        edge.stop()
        sim.stop()


def test_the_cloud_shows_the_broker_link_alert_of_an_edge_that_cannot_reach_its_broker(
    tls_broker: TlsBroker,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The whole path: the edge's wrong CA, as an alert in the cloud's /api/v1/stats."""
    import httpx

    http_port = free_port()
    base = f"http://127.0.0.1:{http_port}"
    right = _env(tmp_path, tls_broker, EDGETWIN_PACKS="motor")
    wrong = {**right, "EDGETWIN_MQTT_CA_FILE": str(tls_broker.other_ca),
             "EDGETWIN_CLOUD_URL": base}  # fmt: skip
    cloud = Part(["cloud", "--http-port", str(http_port)], right, tmp_path / "cloud.log")
    sim = Part(["sim", "motor"], wrong, tmp_path / "sim.log")
    edge = Part(["edge"], wrong, tmp_path / "edge.log")

    def broker_link_alert() -> list[dict[str, object]]:
        alerts = httpx.get(f"{base}/api/v1/stats", timeout=5, headers=bearer(tmp_path)).json()[
            "alerts"
        ]
        return [a for a in alerts if a["kind"] == "broker_link" and a["source"] == "edge:edge-01"]

    try:
        [alert] = wait_for(broker_link_alert, 30, what="the edge's broker_link alert in the cloud")
        assert CA_REFUSED in str(alert["message"])
    finally:
        edge.stop()
        sim.stop()
        cloud.stop()

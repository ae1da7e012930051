"""The edge's broker link over TLS with a username and password, against a Mosquitto of our own
with a TLS listener and a test CA (trustme). The server certificate is always verified: a wrong
CA or a wrong password is refused with a clear error, and the serial readings wait in the
edge's buffer; with the right ones, readings flow."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
import trustme

from edgetwin.core.point import format_ts
from edgetwin.core.settings import MqttTarget
from edgetwin.transport.mqtt import BrokerLinkError, check_broker
from tests.conftest import free_port, need, port_open
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration
USER, PASSWORD = "edge-01", "s3cret-for-tests-only"


@dataclass
class TlsBroker:
    port: int
    ca: Path
    other_ca: Path
    proc: subprocess.Popen[bytes]

    def target(self, *, ca: Path | None = None, password: str = PASSWORD) -> MqttTarget:
        return MqttTarget(host="127.0.0.1", port=self.port, tls=True, username=USER,
                          password=password, ca_file=ca or self.ca)  # fmt: skip


@pytest.fixture(scope="module")
def tls_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsBroker]:
    need(shutil.which("mosquitto") is not None, "Mosquitto is not installed")
    need(shutil.which("mosquitto_passwd") is not None, "mosquitto_passwd is not installed")
    work = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1", "localhost")
    ca.cert_pem.write_to_path(str(work / "ca.pem"))
    trustme.CA().cert_pem.write_to_path(str(work / "other-ca.pem"))
    cert.private_key_pem.write_to_path(str(work / "server.key"))
    cert.cert_chain_pems[0].write_to_path(str(work / "server.pem"))
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(work / "passwd"), USER, PASSWORD],
                   check=True, capture_output=True)  # fmt: skip
    port = free_port()
    conf = work / "mosquitto.conf"
    conf.write_text(
        f"listener {port} 127.0.0.1\ncafile {work}/ca.pem\ncertfile {work}/server.pem\n"
        f"keyfile {work}/server.key\nallow_anonymous false\npassword_file {work}/passwd\n"
        "persistence false\nlog_dest stdout\n" + ("user root\n" if os.getuid() == 0 else "")
    )
    log = (work / "mosquitto.log").open("wb")
    proc = subprocess.Popen(["mosquitto", "-c", str(conf)], stdout=log, stderr=subprocess.STDOUT)
    wait_for(lambda: port_open("127.0.0.1", port), 10, what="mosquitto TLS to listen")
    yield TlsBroker(port, work / "ca.pem", work / "other-ca.pem", proc)
    proc.terminate()
    proc.wait(10)


def test_right_ca_and_password_connect(tls_broker: TlsBroker) -> None:
    check_broker(tls_broker.target())


def test_wrong_ca_is_refused_clearly(tls_broker: TlsBroker) -> None:
    with pytest.raises(BrokerLinkError, match=r"certificate was not accepted.*mqtt_ca_file"):
        check_broker(tls_broker.target(ca=tls_broker.other_ca))


def test_wrong_password_is_refused_clearly(tls_broker: TlsBroker) -> None:
    with pytest.raises(BrokerLinkError, match=r"refused.*username and password"):
        check_broker(tls_broker.target(password="wrong"))


def test_no_cert_none_anywhere() -> None:
    src = Path(__file__).resolve().parents[2] / "src"
    assert not [p for p in src.rglob("*.py") if "CERT_NONE" in p.read_text()]


def _run(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "edgetwin", *args], env=env,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)  # fmt: skip


def _buffered(data_dir: Path, reading_id: str | None = None) -> int:
    """Readings in the edge's buffer (0 while it does not exist yet)."""
    db = data_dir / "edge" / "edge-01.buffer.db"
    if not db.exists():
        return 0
    conn = sqlite3.connect(db)
    try:
        if reading_id is None:
            return int(conn.execute("SELECT count(*) FROM readings").fetchone()[0])
        sql = "SELECT count(*) FROM readings WHERE id = ?"
        return int(conn.execute(sql, (reading_id,)).fetchone()[0])
    except sqlite3.Error:
        return 0
    finally:
        conn.close()


@pytest.mark.parametrize("case", ["right", "wrong_ca", "wrong_password"])
def test_edge_over_tls(tls_broker: TlsBroker, tmp_path: Path, case: str) -> None:
    """A motor on a pty and the edge with a TLS link; no cloud, so readings stay buffered."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGETWIN_")}
    ca = tls_broker.other_ca if case == "wrong_ca" else tls_broker.ca
    env.update({
        "EDGETWIN_DATA_DIR": str(tmp_path), "EDGETWIN_PACKS": '["motor"]',
        "EDGETWIN_MQTT_URL": f"mqtts://127.0.0.1:{tls_broker.port}",
        "EDGETWIN_MQTT_CA_FILE": str(ca), "EDGETWIN_MQTT_USERNAME": USER,
        "EDGETWIN_MQTT_PASSWORD": "wrong" if case == "wrong_password" else PASSWORD,
        "EDGETWIN_CLOUD_URL": f"http://127.0.0.1:{free_port()}",
        "EDGETWIN_EDGE_METRICS_PORT": "0", "PYTHONUNBUFFERED": "1",
    })  # fmt: skip
    sim = _run(["sim", "motor"], env, tmp_path / "sim.log")
    edge = _run(["edge"], env, tmp_path / "edge.log")
    try:
        log = tmp_path / "edge.log"
        wait_for(lambda: _buffered(tmp_path) > 50, 20, what="serial readings in the buffer")
        if case == "right":
            wait_for(lambda: "connected to 127.0.0.1" in log.read_text(), 10, what="TLS link")
            ready = tmp_path / "run" / "edge-01.ready"  # written once the broker's SUBACK came
            wait_for(ready.exists, 10, what="the edge's subscription over TLS")
            now = format_ts(datetime.now(UTC))  # a current reading (old ones age out)
            subprocess.run(
                ["mosquitto_pub", "-h", "127.0.0.1", "-p", str(tls_broker.port), "--cafile",
                 str(tls_broker.ca), "-u", USER, "-P", PASSWORD, "-q", "1",
                 "-t", "v1/acme/plant-01/line-01/cnc-01/temp", "-m",
                 '{"ts":"' + now + '","id":"0b6b0a56-2b40-4d0e-9a4e-8b4f3c1d2e3f",'
                 '"tenant":"acme","plant":"plant-01","line":"line-01","machine":"cnc-01",'
                 '"metric":"temp","value":47.5,"unit":"°C","q":100}'],
                check=True, timeout=10,
            )  # fmt: skip
            rid = "0b6b0a56-2b40-4d0e-9a4e-8b4f3c1d2e3f"
            wait_for(lambda: _buffered(tmp_path, rid) == 1, 10, what="the TLS reading buffered")
        else:
            expect = (
                "certificate was not accepted" if case == "wrong_ca" else "username and password"
            )
            wait_for(lambda: expect in log.read_text(), 15, what=f"a clear error ({case})")
            assert "connected to 127.0.0.1" not in log.read_text()
            before = _buffered(tmp_path)
            wait_for(lambda: _buffered(tmp_path) > before, 5, what="readings still buffered")
    finally:
        for proc in (edge, sim):
            proc.terminate()
            proc.wait(15)

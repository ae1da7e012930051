"""The cloud serves HTTPS with a certificate from its settings (and no plain HTTP beside it);
the session cookie is then ``Secure``."""

from __future__ import annotations

import os
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import trustme

from edgetwin.core.security import Role
from edgetwin.security import IdentityStore
from tests.conftest import free_port
from tests.integration.conftest import wait_for

pytestmark = pytest.mark.integration


def test_https_with_a_secure_session_cookie(tmp_path: Path) -> None:
    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    cert.private_key_pem.write_to_path(str(tmp_path / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(tmp_path / "cert.pem"))
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDGETWIN_")}
    env.update(
        EDGETWIN_DATA_DIR=str(tmp_path),
        EDGETWIN_MQTT_URL="mqtt://127.0.0.1:1",
        EDGETWIN_PACKS="[]",
        EDGETWIN_HTTP_TLS_CERT_FILE=str(tmp_path / "cert.pem"),
        EDGETWIN_HTTP_TLS_KEY_FILE=str(tmp_path / "key.pem"),
    )
    with IdentityStore(tmp_path) as ids:
        ids.add_user("ops", Role.OPERATOR, ["acme"])
        code = ids.create_login_code("ops")
    log = (tmp_path / "cloud.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "edgetwin", "cloud", "--http-port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"https://127.0.0.1:{port}"
    verify = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
    try:
        wait_for(
            lambda: httpx.get(f"{base}/health", verify=verify).status_code == 200, 60,
            what="/health over HTTPS",
        )  # fmt: skip
        with pytest.raises(httpx.ConnectError):  # an unknown CA is refused by the client
            httpx.get(f"{base}/health")
        with pytest.raises(httpx.RemoteProtocolError):  # and plain HTTP is not served
            httpx.get(f"http://127.0.0.1:{port}/health")
        r = httpx.get(f"{base}/auth/link", params={"code": code}, verify=verify)
        assert r.status_code == 303
        cookies = r.headers.get_list("set-cookie")
        session = next(c for c in cookies if c.startswith("edgetwin_session="))
        assert "Secure" in session
        assert "HttpOnly" in session
    finally:
        proc.terminate()
        proc.wait(20)
        log.close()

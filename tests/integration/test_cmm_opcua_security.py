"""The cmm pack's OPC UA server on an address that is not loopback: Basic256Sha256 SignAndEncrypt
only, with its own certificate from the data dir and one user. Two clients, asyncua's and
node-opcua, are refused without security, without a user and with a wrong password, and let in
with SignAndEncrypt and the right user. A session on a ``None`` channel is refused by the server
itself even with the right password (asyncua's own would let it read unencrypted)."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import orjson
import pytest
from asyncua import ua
from asyncua.client.client import Client
from asyncua.crypto import cert_gen
from asyncua.crypto.security_policies import SecurityPolicyBasic256Sha256
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from pydantic import SecretStr

from edgetwin.core.plugins import BatchInfo, PluginContext
from edgetwin.edge.alerts import Alerts
from edgetwin.packs.cmm.opcua import OpcUaSink, OpcUaSinkConfig
from tests.conftest import free_port, need
from tests.integration.cmm_pump import measurements

NODE_DIR = Path(__file__).parents[1] / "node"
USER, PASSWORD = "scada", "s3cret-for-tests"
CLIENT_URI = "urn:edgetwin:tests:client"


def own_address() -> tuple[str, str]:
    """``(bind host, host to connect to)``: this machine's own non-loopback IPv4 address when
    it has one, else every interface (``0.0.0.0``) reached through 127.0.0.1."""
    try:
        out = subprocess.run(["hostname", "-I"], capture_output=True, text=True, timeout=5).stdout
    except OSError:
        out = ""
    for addr in out.split():
        if "." in addr and not addr.startswith("127."):
            return addr, addr
    return "0.0.0.0", "127.0.0.1"


def _node_ready() -> bool:
    """node-opcua is installed (``npm ci`` in ``tests/node`` on the first run)."""
    if shutil.which("node") is None or shutil.which("npm") is None:
        return False
    if not (NODE_DIR / "node_modules" / "node-opcua-client").exists():
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund"], cwd=NODE_DIR, check=True,
                       capture_output=True, timeout=600)  # fmt: skip
    return True


def _client_cert(folder: Path) -> tuple[Path, Path]:
    key = cert_gen.generate_private_key()
    cert = cert_gen.generate_self_signed_app_certificate(
        key, "edgetwin test client", {},
        [x509.UniformResourceIdentifier(CLIENT_URI), x509.DNSName(socket.gethostname())],
        extended=[ExtendedKeyUsageOID.CLIENT_AUTH],
    )  # fmt: skip
    key_path, cert_path = folder / "client.key.pem", folder / "client.cert.der"
    key_path.write_bytes(cert_gen.dump_private_key_as_pem(key))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.DER))
    return key_path, cert_path


async def _asyncua(
    url: str, keys: tuple[Path, Path] | None, user: str | None, pw: str | None
) -> Any:
    """Log in and read ``Verdict``; the value, or the exception that refused the login."""
    client = Client(url=url, timeout=10)
    client.application_uri = CLIENT_URI
    if keys is not None:
        await client.set_security(
            SecurityPolicyBasic256Sha256, certificate=str(keys[1]), private_key=str(keys[0]),
            mode=ua.MessageSecurityMode.SignAndEncrypt,
        )  # fmt: skip
    if user is not None:
        client.set_user(user)
    if pw is not None:
        client.set_password(pw)
    try:
        async with client:
            idx = await client.get_namespace_index("urn:edgetwin:cmm")
            cmm = await client.nodes.objects.get_child(f"{idx}:CMM_01")
            verdict = await cmm.get_child(f"{idx}:Verdict")
            endpoints = await client.get_endpoints()
            return await verdict.read_value(), endpoints
    except Exception as exc:
        return exc


class _Quiet:
    def datachange_notification(self, *_args: object) -> None:
        return None


async def _counted(sink: OpcUaSink, url: str, keys: tuple[Path, Path]) -> list[dict[str, Any]]:
    """The server's own report with one subscribed client, and after it left."""
    client = Client(url=url, timeout=10)
    client.application_uri = CLIENT_URI
    await client.set_security(
        SecurityPolicyBasic256Sha256, certificate=str(keys[1]), private_key=str(keys[0]),
        mode=ua.MessageSecurityMode.SignAndEncrypt,
    )  # fmt: skip
    client.set_user(USER)
    client.set_password(PASSWORD)
    async with client:
        await client.create_subscription(100, _Quiet())
        during = sink.stats()
    for _ in range(100):
        after = sink.stats()
        if after["clients"] == 0:
            break
        await asyncio.sleep(0.05)
    return [during, after]


async def _none_channel_login(url: str) -> Exception | None:
    """A session on a ``None`` channel, activated with the right user: what asyncua's client
    would never send (it finds no such endpoint), sent by hand as an attacker would."""
    client = Client(url=url, timeout=10)
    await client.connect_socket()
    try:
        await client.send_hello()
        await client.open_secure_channel()
        params = ua.CreateSessionParameters(
            ClientNonce=os.urandom(32), EndpointUrl=url, SessionName="plain",
            ClientDescription=ua.ApplicationDescription(
                ApplicationUri=CLIENT_URI, ApplicationType=ua.ApplicationType.Client
            ),
            RequestedSessionTimeout=10_000, MaxResponseMessageSize=0,
        )  # fmt: skip
        await client.uaclient.create_session(params)
        token = ua.UserNameIdentityToken(
            PolicyId="username", UserName=USER, Password=PASSWORD.encode()
        )
        await client.uaclient.activate_session(
            ua.ActivateSessionParameters(LocaleIds=["en"], UserIdentityToken=token)
        )
    except Exception as exc:
        return exc
    finally:
        client.disconnect_socket()
    return None


def test_a_non_loopback_endpoint_is_secured_for_both_clients(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    bind, reach = own_address()
    port = free_port()
    url, reach_url = f"opc.tcp://{bind}:{port}/edgetwin/", f"opc.tcp://{reach}:{port}/edgetwin/"
    points = asyncio.run(measurements(tmp_path / "inbox", tmp_path, 1))
    ctx = PluginContext("acme", "plant-01", "edge-01", tmp_path, Alerts())
    config = OpcUaSinkConfig(url=url, username=USER, password=SecretStr(PASSWORD))
    sink = OpcUaSink.from_config("opcua", config, ctx)
    keys = _client_cert(tmp_path)
    node = _node_ready()

    async def scenario() -> tuple[list[Any], str]:
        async with sink:
            await sink.write([p.to_json() for p in points], BatchInfo(False, 0, None))
            results = [
                await _asyncua(reach_url, None, None, None),
                await _asyncua(reach_url, keys, None, None),
                await _asyncua(reach_url, keys, USER, "wrong"),
                await _none_channel_login(reach_url),
                await _asyncua(reach_url, keys, USER, PASSWORD),
                *await _counted(sink, reach_url, keys),
            ]
            out = ""
            if node:
                proc = await asyncio.create_subprocess_exec(
                    "node", "cmm_secure_client.mjs", reach_url, USER, PASSWORD, cwd=NODE_DIR,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )  # fmt: skip
                out = (await asyncio.wait_for(proc.communicate(), 180))[0].decode()
            return results, out

    results, out = asyncio.run(scenario())
    no_security, anonymous, wrong, plain, right, during, after = results
    assert (during["clients"], during["subscriptions"], during["refused_logins"]) == (1, 1, 2)
    assert (after["clients"], after["subscriptions"]) == (0, 0)
    assert during["security"] == "Basic256Sha256 SignAndEncrypt"
    assert "No matching endpoints" in str(no_security)  # no None endpoint is offered
    assert isinstance(anonymous, ua.UaStatusCodeError)
    assert anonymous.code == ua.StatusCodes.BadIdentityTokenRejected
    assert isinstance(wrong, ua.UaStatusCodeError)
    assert wrong.code == ua.StatusCodes.BadUserAccessDenied
    assert isinstance(plain, ua.UaStatusCodeError)  # refused by the server itself
    assert plain.code == ua.StatusCodes.BadUserAccessDenied
    verdict, endpoints = right
    assert verdict == "PASS"
    assert [(e.SecurityPolicyUri.rsplit("#")[-1], e.SecurityMode) for e in endpoints] == [
        ("Basic256Sha256", ua.MessageSecurityMode.SignAndEncrypt)
    ]
    assert [t.TokenType for t in endpoints[0].UserIdentityTokens] == [ua.UserTokenType.UserName]
    # the certificate it serves is the one kept in the data dir, for the server's own URI
    cert = x509.load_der_x509_certificate(endpoints[0].ServerCertificate)
    kept = tmp_path / "opcua" / "opcua.cert.der"
    assert cert.public_bytes(serialization.Encoding.DER) == kept.read_bytes()
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [
        endpoints[0].Server.ApplicationUri
    ] == ["urn:edgetwin:edge-01:opcua"]  # fmt: skip
    assert (tmp_path / "opcua" / "opcua.key.pem").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "opcua").stat().st_mode & 0o777 == 0o700
    assert PASSWORD not in caplog.text
    need(node, "node and npm (node-opcua)")
    # node-opcua writes lines of its own to stdout too
    answers = [orjson.loads(ln) for ln in out.splitlines() if ln.startswith("{")]
    by_case = {r["case"]: r for r in answers}
    assert not by_case["none_anonymous"]["ok"]
    assert not by_case["none_user"]["ok"]
    assert not by_case["secure_anonymous"]["ok"]
    assert not by_case["secure_wrong"]["ok"]
    assert "BadUserAccessDenied" in by_case["secure_wrong"]["error"]
    assert by_case["secure_user"]["ok"], by_case["secure_user"]
    assert by_case["secure_user"]["verdict"] == "PASS"
    assert "Compensated_Length_mm" in by_case["secure_user"]["browse"]

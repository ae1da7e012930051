"""The OPC UA server's security settings: where its user comes from, who is let in, when its
certificate is made (and made again), and that the password never shows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

import pytest
from cryptography import x509
from pydantic import SecretStr

from edgetwin.core.plugins import PluginContext
from edgetwin.edge.alerts import Alerts
from edgetwin.packs.cmm.opcua import OpcUaSink, OpcUaSinkConfig
from edgetwin.packs.cmm.opcua_security import (
    ENV_PASSWORD,
    ENV_USERNAME,
    Credentials,
    PasswordUsers,
    ensure_certificate,
    resolve_credentials,
)

SECRET = "pw-never-shown"


def test_the_user_comes_from_the_table_then_the_settings_then_the_environment() -> None:
    env = {ENV_USERNAME: "env-user", ENV_PASSWORD: "env-pw"}
    settings = SimpleNamespace(opcua_username="set-user", opcua_password=SecretStr("set-pw"))
    table = resolve_credentials("t-user", SecretStr("t-pw"), settings, env)
    assert table is not None
    assert (table.username, table.password.get_secret_value()) == ("t-user", "t-pw")
    by_settings = resolve_credentials(None, None, settings, env)
    assert by_settings is not None
    assert (by_settings.username, by_settings.password.get_secret_value()) == ("set-user", "set-pw")
    by_env = resolve_credentials(None, None, None, env)
    assert by_env is not None
    assert (by_env.username, by_env.password.get_secret_value()) == ("env-user", "env-pw")
    assert resolve_credentials(None, None, None, {ENV_USERNAME: "u"}) is None
    assert resolve_credentials("u", SecretStr(""), None, {}) is None


def test_only_the_user_with_a_secured_channel_is_let_in() -> None:
    users = PasswordUsers(Credentials("scada", SecretStr(SECRET)))
    cert = b"the client's certificate"
    granted = users.get_user(None, "scada", SECRET, cert)
    assert granted is not None
    assert granted.name == "scada"
    assert users.get_user(None, "scada", SECRET + "x", cert) is None
    assert users.get_user(None, "other", SECRET, cert) is None
    assert users.get_user(None, None, None, cert) is None  # anonymous
    assert users.get_user(None, "scada", SECRET, None) is None  # a None channel
    assert users.refused == 4


def test_the_certificate_is_made_once_kept_private_and_made_again_when_it_must(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "opcua"
    uri, hosts = "urn:edgetwin:edge-01:opcua", ["vm", "192.0.2.2"]
    key, cert = ensure_certificate(folder, "opcua", uri, hosts)
    first, key_bytes = cert.read_bytes(), key.read_bytes()
    assert (key.stat().st_mode & 0o777, folder.stat().st_mode & 0o777) == (0o600, 0o700)
    parsed = x509.load_der_x509_certificate(first)
    san = parsed.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.UniformResourceIdentifier) == [uri]
    assert san.get_values_for_type(x509.DNSName) == ["vm"]
    assert [str(a) for a in san.get_values_for_type(x509.IPAddress)] == ["192.0.2.2"]
    assert ensure_certificate(folder, "opcua", uri, hosts)[1].read_bytes() == first  # reused
    key.chmod(0o644)
    later = datetime.now(UTC) + timedelta(days=340)  # within 30 days of its end
    ensure_certificate(folder, "opcua", uri, hosts, now=later)
    assert cert.read_bytes() != first
    assert key.read_bytes() == key_bytes  # the same key, a new certificate
    assert key.stat().st_mode & 0o777 == 0o600
    renewed = cert.read_bytes()
    ensure_certificate(folder, "opcua", "urn:edgetwin:edge-02:opcua", hosts)
    assert cert.read_bytes() != renewed  # another application URI
    moved = cert.read_bytes()
    ensure_certificate(folder, "opcua", "urn:edgetwin:edge-02:opcua", ["vm", "192.0.2.9"])
    assert cert.read_bytes() != moved  # another address


def test_a_non_loopback_endpoint_needs_a_user_and_the_password_never_shows(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(ENV_USERNAME, raising=False)
    monkeypatch.delenv(ENV_PASSWORD, raising=False)
    ctx = PluginContext("acme", "plant-01", "edge-01", tmp_path, Alerts())
    outside = "opc.tcp://192.0.2.2:4840/edgetwin/"
    with pytest.raises(ValueError, match=f"{ENV_USERNAME} and {ENV_PASSWORD}"):
        OpcUaSink.from_config("opcua", OpcUaSinkConfig(url=outside), ctx)
    with pytest.raises(ValueError, match="needs a user"):
        OpcUaSink.from_config("opcua", OpcUaSinkConfig(security="sign_encrypt"), ctx)
    with pytest.raises(ValueError, match="loopback only"):
        OpcUaSink("opcua", OpcUaSinkConfig(), outside)
    loopback = OpcUaSink.from_config("opcua", OpcUaSinkConfig(), ctx)
    assert (loopback.security, loopback.url) == (None, "opc.tcp://127.0.0.1:4840/edgetwin/")
    monkeypatch.setenv(ENV_USERNAME, "scada")
    monkeypatch.setenv(ENV_PASSWORD, SECRET)
    secured = OpcUaSink.from_config("opcua", OpcUaSinkConfig(url=outside), ctx)
    assert secured.security is not None
    assert secured.security.cert_dir == tmp_path / "opcua"
    assert secured.application_uri == "urn:edgetwin:edge-01:opcua"
    config = OpcUaSinkConfig(url=outside, username="scada", password=SecretStr(SECRET))
    assert SECRET not in repr(config)
    assert SECRET not in str(config.model_dump())
    assert SECRET not in repr(secured.security)

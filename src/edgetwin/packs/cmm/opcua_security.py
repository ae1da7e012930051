"""Security of the ``cmm_opcua`` server: its application certificate and its users.

An endpoint that is not on loopback is served only with the security policy Basic256Sha256 in
mode SignAndEncrypt (OPC UA Part 7, profile "SecurityPolicy [B] - Basic256Sha256") and only to a
user who logs in with a username and password (a ``UserNameIdentityToken``; anonymous sessions
are refused). The password travels inside the encrypted channel.

The server's application instance certificate (OPC UA Part 4, 6.1; Part 6, 6.2.2) is made on the
first start, self-signed, RSA 2048 / SHA-256, valid :data:`CERT_DAYS` days, with the server's
``ApplicationUri`` as its ``subjectAltName`` URI (clients reject a certificate whose URI differs
from the server's) and its host names. It is kept in ``<data-dir>/edge/opcua/``:
``<sink>.key.pem`` (PKCS#8, mode 0600, the folder 0700) and ``<sink>.cert.der``. It is made again
when it is missing, expires within :data:`RENEW_DAYS` days, or names another application URI or
host; clients that pinned the old one must then trust the new one (logged with its thumbprint).

Credentials come from the sink's table (``username``, ``password``), else from the settings
(``opcua_username``, ``opcua_password``) when they have them, else from the environment
(``EDGETWIN_OPCUA_USERNAME``, ``EDGETWIN_OPCUA_PASSWORD``). The password is a ``SecretStr``: it
never appears in a log, an error or ``--print-config``.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import os
import socket
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from asyncua.crypto import cert_gen
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.user_managers import UserManager
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from pydantic import SecretStr

log = logging.getLogger("edgetwin.edge.opcua")

CERT_DAYS = 365
RENEW_DAYS = 30
ENV_USERNAME = "EDGETWIN_OPCUA_USERNAME"
ENV_PASSWORD = "EDGETWIN_OPCUA_PASSWORD"  # noqa: S105 - the variable's name, not a password


@dataclass(frozen=True)
class Credentials:
    """The one user the server lets in."""

    username: str
    password: SecretStr

    def check(self, username: str | None, password: str | None) -> bool:
        """True for this user's name and password (compared in constant time)."""
        if username is None or password is None:
            return False
        same_user = hmac.compare_digest(username.encode(), self.username.encode())
        same_pass = hmac.compare_digest(
            password.encode(), self.password.get_secret_value().encode()
        )
        return same_user and same_pass


def resolve_credentials(
    username: str | None,
    password: SecretStr | None,
    settings: Any,
    environ: Mapping[str, str] = os.environ,
) -> Credentials | None:
    """The server's user: the sink's table first, then the settings, then the environment.

    Returns None when no username or no password is given anywhere."""
    user = username or getattr(settings, "opcua_username", None) or environ.get(ENV_USERNAME)
    secret: Any = password or getattr(settings, "opcua_password", None)
    if secret is None and environ.get(ENV_PASSWORD):
        secret = SecretStr(environ[ENV_PASSWORD])
    if isinstance(secret, str):
        secret = SecretStr(secret)
    if not user or not isinstance(secret, SecretStr) or not secret.get_secret_value():
        return None
    return Credentials(str(user), secret)


class PasswordUsers(UserManager):
    """asyncua's user manager: the configured user, nobody else (no anonymous sessions), and
    only over a secured channel.

    asyncua (2.1.0) opens a ``None`` channel to any client (GetEndpoints needs one, OPC UA Part 4,
    5.4) and lets a session be created on it even when no ``None`` endpoint is offered; a session
    activated there with the right password would read the values unencrypted. The channel's
    client certificate (``certificate``; none on a ``None`` channel) tells them apart.
    """

    def __init__(self, credentials: Credentials) -> None:
        self.credentials = credentials
        self.refused = 0  # logins refused since the start

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        if not certificate:
            self.refused += 1
            log.warning("OPC UA login refused (user %r): not on a secured channel", username)
            return None
        if self.credentials.check(username, password):
            return User(role=UserRole.User, name=username)
        self.refused += 1
        log.warning("OPC UA login refused (user %r)", username)  # never the password
        return None


def cert_hosts(host: str) -> list[str]:
    """The names a certificate for an endpoint on ``host`` should carry: the machine's name
    (asyncua and many clients check it) and the endpoint's host, unless it is a wildcard."""
    hosts = [socket.gethostname()]
    if host and host not in ("0.0.0.0", "::") and host not in hosts:
        hosts.append(host)
    return hosts


def ensure_certificate(
    directory: Path, name: str, app_uri: str, hosts: list[str], *, now: datetime | None = None
) -> tuple[Path, Path]:
    """The server's key and certificate files ``(key.pem, cert.der)``, made when needed (see
    the module's docstring). Blocking (RSA key generation takes ~0.1-1 s): run in a thread.

    Raises:
        OSError: the folder or the files cannot be written.
    """
    now = now or datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    key_path, cert_path = directory / f"{name}.key.pem", directory / f"{name}.cert.der"
    key: Any = None
    if key_path.exists():
        key_path.chmod(0o600)
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
    if key is not None and cert_path.exists():
        why = _stale(x509.load_der_x509_certificate(cert_path.read_bytes()), app_uri, hosts, now)
        if why is None:
            return key_path, cert_path
        log.warning("OPC UA certificate %s is made again: %s", cert_path, why)
    if key is None:
        key = cert_gen.generate_private_key()
        _write(key_path, cert_gen.dump_private_key_as_pem(key), 0o600)
    alt: list[x509.GeneralName] = [x509.UniformResourceIdentifier(app_uri)]
    for h in hosts:
        alt.append(_general_name(h))
    cert = cert_gen.generate_self_signed_app_certificate(
        key, "edgetwin CMM", {"organizationName": "edgetwin"}, alt,
        extended=[ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH],
        days=CERT_DAYS,
    )  # fmt: skip
    _write(cert_path, cert.public_bytes(serialization.Encoding.DER), 0o644)
    log.warning(
        "OPC UA application certificate made for %s (%s); SHA-1 thumbprint %s: clients trust it",
        app_uri, cert_path, cert.fingerprint(hashes.SHA1()).hex(),  # noqa: S303 - OPC UA's id
    )  # fmt: skip
    return key_path, cert_path


def _stale(cert: x509.Certificate, app_uri: str, hosts: list[str], now: datetime) -> str | None:
    """Why ``cert`` cannot serve (None: it can)."""
    if cert.not_valid_after_utc - now < timedelta(days=RENEW_DAYS):
        return f"it expires {cert.not_valid_after_utc:%Y-%m-%d}"
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return "it has no subjectAltName"
    if app_uri not in san.get_values_for_type(x509.UniformResourceIdentifier):
        return f"it is not for the application URI {app_uri}"
    names = {str(n.value) for n in san if isinstance(n, x509.DNSName | x509.IPAddress)}
    missing = [h for h in hosts if h not in names]
    return f"it does not name {', '.join(missing)}" if missing else None


def _general_name(host: str) -> x509.GeneralName:
    try:
        return x509.IPAddress(ipaddress.ip_address(host))
    except ValueError:
        return x509.DNSName(host)


def _write(path: Path, data: bytes, mode: int) -> None:
    """Write ``data`` to ``path`` with ``mode`` from the first byte (never wider), atomically."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    tmp.replace(path)

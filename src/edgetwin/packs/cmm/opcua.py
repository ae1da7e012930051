"""The ``cmm_opcua`` sink: an OPC UA server (asyncua) serving the CMM's latest values.

SCADA and PLCs browse ``Objects/CMM_01`` in the namespace ``urn:edgetwin:cmm`` and read or
subscribe to its variables:

=========================  ========  ============================================  =========
variable                   type      value                                         unit
=========================  ========  ============================================  =========
``Temperature_C``          Double    part temperature                              °C (CEL)
``Measured_Length_mm``     Double    raw length                                    mm (MMT)
``Compensated_Length_mm``  Double    length at 20 °C                               mm (MMT)
``Deviation_um``           Double    compensated minus nominal                     µm (4H)
``Verdict``                String    PASS / FAIL (on the compensated length)
``Device_Status``          String    IDLE / ACTIVE / FAIL
``Last_Update``            DateTime  time of the last measurement
``Buffer_Depth``           UInt32    readings waiting in this sink's outbox
=========================  ========  ============================================  =========

Units are ``EngineeringUnits`` properties (``EUInformation``, UNECE Rec. 20 codes, as OPC UA
Part 8 prescribes). Each value carries the measurement's time as its source timestamp. Values
start ``BadWaitingForInitialData``; when no new measurement came for ``stale_s`` (on the edge's
clock) they turn
``UncertainLastUsableValue``, and after ``3 × stale_s`` ``BadNoCommunication``.

Security: ``None`` (anonymous) only when the endpoint is on loopback. On any other address
the server offers Basic256Sha256 SignAndEncrypt alone, with a self-signed application certificate
made on the first start and kept in the data dir, and lets in only the configured user
(:mod:`edgetwin.packs.cmm.opcua_security`); without a username and password such an endpoint is
refused at configuration time. ``security = "sign_encrypt"`` asks for the same on loopback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

import orjson
from asyncua import ua as _ua
from asyncua.common.node import Node
from asyncua.server.server import Server
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from edgetwin.core.ids import Segment
from edgetwin.core.net import is_loopback_host
from edgetwin.core.plugins import BatchInfo, PluginContext, WriteResult
from edgetwin.core.point import parse_point
from edgetwin.packs.cmm.compensation import STATUS_LABELS
from edgetwin.packs.cmm.opcua_security import (
    ENV_PASSWORD,
    ENV_USERNAME,
    Credentials,
    PasswordUsers,
    cert_hosts,
    ensure_certificate,
    resolve_credentials,
)

# asyncua types every OPC UA scalar as a NewType (Int16, UInt32, DateTime...) and re-exports
# loosely: at this boundary it is used untyped.
ua: Any = _ua
log = logging.getLogger("edgetwin.edge.opcua")
DEFAULT_URL = "opc.tcp://127.0.0.1:4840/edgetwin/"
UNITS_NS = "http://www.opcfoundation.org/UA/units/un/cefact"

# name -> (variant type, metric it shows or None, UNECE code or None)
VARIABLES: dict[str, tuple[Any, str | None, str | None]] = {
    "Temperature_C": (ua.VariantType.Double, "temperature", "CEL"),
    "Measured_Length_mm": (ua.VariantType.Double, "length", "MMT"),
    "Compensated_Length_mm": (ua.VariantType.Double, "compensated_length", "MMT"),
    "Deviation_um": (ua.VariantType.Double, "deviation", "4H"),
    "Verdict": (ua.VariantType.String, "verdict", None),
    "Device_Status": (ua.VariantType.String, "device_status", None),
    "Last_Update": (ua.VariantType.DateTime, None, None),
    "Buffer_Depth": (ua.VariantType.UInt32, None, None),
}
UNIT_NAMES = {"CEL": "°C", "MMT": "mm", "4H": "µm"}
INITIAL: dict[Any, Any] = {
    ua.VariantType.Double: 0.0, ua.VariantType.String: "",
    ua.VariantType.DateTime: datetime(1601, 1, 1, tzinfo=UTC), ua.VariantType.UInt32: 0,
}  # fmt: skip


def unit_id(code: str) -> int:
    """OPC UA's ``UnitId`` of a UNECE common code (Part 8, 5.6.3): its ASCII bytes as an int."""
    value = 0
    for ch in code:
        value = (value << 8) | ord(ch)
    return value


def on_loopback(url: str) -> bool:
    """True when ``url``'s host is a loopback address (or ``localhost``)."""
    return is_loopback_host(urlparse(url).hostname or "")


class OpcUaSinkConfig(BaseModel):
    """``[[sinks]] type = "cmm_opcua"``.

    Attributes:
        url: the endpoint; default the ``opcua_url`` setting (``EDGETWIN_OPCUA_URL``).
        namespace: the server's own namespace URI.
        object: the browse name of the CMM's object.
        line, machine: the CMM whose values it serves.
        stale_s: after this long without a measurement the values are Uncertain (3×: Bad).
        security: ``auto``: None on loopback, Basic256Sha256 SignAndEncrypt elsewhere;
            ``sign_encrypt``: always the latter.
        username, password: the user a secured server lets in (default: the settings'
            ``opcua_username``/``opcua_password``, else ``EDGETWIN_OPCUA_USERNAME`` and
            ``EDGETWIN_OPCUA_PASSWORD``); better given by the environment than written here.
        application_uri: the server's ``ApplicationUri`` (and its certificate's); default
            ``urn:edgetwin:<edge id>:<sink name>``.
    """

    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(pattern=r"^opc\.tcp://")] | None = None
    namespace: str = "urn:edgetwin:cmm"
    object: str = "CMM_01"
    line: Segment = "metrology"
    machine: Segment = "cmm-01"
    stale_s: Annotated[float, Field(gt=0)] = 30.0
    security: Literal["auto", "sign_encrypt"] = "auto"
    username: Annotated[str, Field(min_length=1)] | None = None
    password: SecretStr | None = None
    application_uri: Annotated[str, Field(pattern=r"^urn:")] | None = None


@dataclass(frozen=True)
class Security:
    """How a secured server runs: its user and where its certificate is kept."""

    credentials: Credentials
    cert_dir: Path


class OpcUaSink:
    """See the module's docstring. Not ``remote``: the server is on the edge itself."""

    remote = False

    def __init__(
        self,
        name: str,
        config: OpcUaSinkConfig,
        url: str,
        *,
        application_uri: str | None = None,
        security: Security | None = None,
    ) -> None:
        """``security``: None serves without security, which only a loopback ``url`` may.

        Raises:
            ValueError: security None on an endpoint that is not on loopback."""
        if security is None and not on_loopback(url):
            raise ValueError(f"{url}: security None is allowed on loopback only")
        self.name = name
        self.config = config
        self.url = url
        self.application_uri = application_uri or f"urn:edgetwin:{name}"
        self.security = security
        self.users = PasswordUsers(security.credentials) if security is not None else None
        self.server: Server | None = None
        self.nodes: dict[str, Node] = {}
        self.values: dict[str, Any] = {}
        self.last_at: datetime | None = None
        self._fresh_at: float | None = None  # monotonic time of the last new measurement
        self._status = ua.StatusCodes.BadWaitingForInitialData
        self._watch: asyncio.Task[None] | None = None

    @classmethod
    def from_config(cls, name: str, config: OpcUaSinkConfig, ctx: PluginContext) -> OpcUaSink:
        """Raises:
        ValueError: a secured endpoint (not on loopback, or ``sign_encrypt``) with no user."""
        url = config.url or getattr(ctx.settings, "opcua_url", None) or DEFAULT_URL
        security = None
        if config.security == "sign_encrypt" or not on_loopback(url):
            creds = resolve_credentials(config.username, config.password, ctx.settings)
            if creds is None:
                raise ValueError(
                    f"{url} is served with Basic256Sha256 SignAndEncrypt and needs a user: set"
                    f" {ENV_USERNAME} and {ENV_PASSWORD} (or username and password in the sink's"
                    " table)"
                )
            security = Security(creds, ctx.data_dir / "opcua")
        app_uri = config.application_uri or f"urn:edgetwin:{ctx.edge_id}:{name}"
        return cls(name, config, url, application_uri=app_uri, security=security)

    async def __aenter__(self) -> OpcUaSink:
        logging.getLogger("asyncua").setLevel(logging.WARNING)  # it narrates its address space
        server = Server(user_manager=self.users)
        await server.init()
        server.set_endpoint(self.url)
        server.set_server_name("edgetwin CMM")
        await server.set_application_uri(self.application_uri)
        await self._secure(server)
        idx = await server.register_namespace(self.config.namespace)
        obj = await server.nodes.objects.add_object(
            ua.NodeId(self.config.object, idx), ua.QualifiedName(self.config.object, idx)
        )
        for name, (vtype, _metric, unit) in VARIABLES.items():
            node = await obj.add_variable(
                ua.NodeId(f"{self.config.object}.{name}", idx),
                ua.QualifiedName(name, idx),
                ua.Variant(INITIAL[vtype], vtype),
                datatype=ua.NodeId(vtype.value),
            )
            if unit is not None:
                eu = ua.EUInformation(
                    NamespaceUri=UNITS_NS, UnitId=unit_id(unit),
                    DisplayName=ua.LocalizedText(UNIT_NAMES[unit]),
                    Description=ua.LocalizedText(UNIT_NAMES[unit]),
                )  # fmt: skip
                await node.add_property(
                    ua.NodeId(f"{self.config.object}.{name}.EngineeringUnits", idx),
                    ua.QualifiedName("EngineeringUnits", 0),
                    ua.Variant(eu, ua.VariantType.ExtensionObject),
                )
            self.nodes[name] = node
            self.values[name] = INITIAL[vtype]
        await server.start()
        self.server = server
        await self._publish(None)
        self._watch = asyncio.create_task(self._staleness(), name=f"opcua-stale-{self.name}")
        log.info(
            "OPC UA server on %s (%s), security %s", self.url, self.config.namespace,
            "None" if self.security is None else "Basic256Sha256 SignAndEncrypt, user login",
        )  # fmt: skip
        return self

    async def _secure(self, server: Server) -> None:
        """None and anonymous on loopback; else SignAndEncrypt, the certificate, the user."""
        if self.security is None:
            server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
            server.set_identity_tokens([ua.AnonymousIdentityToken])
            return
        host = urlparse(self.url).hostname or ""
        key, cert = await asyncio.to_thread(
            ensure_certificate, self.security.cert_dir, self.name, self.application_uri,
            cert_hosts(host),
        )  # fmt: skip
        await server.load_certificate(str(cert))
        await server.load_private_key(str(key))
        server.set_security_policy([ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt])
        server.set_identity_tokens([ua.UserNameIdentityToken])

    async def __aexit__(self, *_exc: object) -> None:
        if self._watch is not None:
            self._watch.cancel()
            await asyncio.gather(self._watch, return_exceptions=True)
        if self.server is not None:
            with contextlib.suppress(Exception):  # asyncua raises a mix on stop; we are leaving
                await self.server.stop()
            self.server = None

    def stats(self) -> dict[str, Any]:
        """What the server reports of itself (the edge's status, ``sinks.<name>``): its
        endpoint and security, the OPC UA ``clients`` (activated sessions), the open TCP
        ``connections``, the ``subscriptions`` and the logins refused since the start."""
        server = self.server
        protocols = list(server.bserver.clients) if server and server.bserver else []
        sessions = [p.processor.session for p in protocols if p.processor is not None]
        return {
            "type": "opcua",
            "endpoint": self.url,
            "security": "None" if self.security is None else "Basic256Sha256 SignAndEncrypt",
            "clients": sum(1 for s in sessions if s is not None and s.is_activated()),
            "connections": len(protocols),
            "subscriptions": len(server.iserver.subscription_service.subscriptions)
            if server is not None
            else 0,
            "refused_logins": 0 if self.users is None else self.users.refused,
        }

    async def write(self, payloads: Sequence[bytes], info: BatchInfo) -> WriteResult:
        """Show the batch's measurements one after the other (a subscriber sees each), oldest
        first; readings of other machines are not its business, older measurements than the
        one shown (backlog) are not shown again."""
        c = self.config
        by_ts: dict[datetime, dict[str, Any]] = {}
        for raw in payloads:
            r = orjson.loads(raw)
            if r["line"] != c.line or r["machine"] != c.machine:
                continue
            p = parse_point(r)
            for name, (_vt, metric, _u) in VARIABLES.items():
                if metric == p.metric:
                    by_ts.setdefault(p.ts, {})[name] = _shown(metric, p.value)
        self.values["Buffer_Depth"] = min(info.waiting, 2**32 - 1)
        fresh = [ts for ts in sorted(by_ts) if self.last_at is None or ts >= self.last_at]
        for ts in fresh:
            self.values.update(by_ts[ts], Last_Update=ts)
            self.last_at = ts
            self._fresh_at = time.monotonic()
            self._status = ua.StatusCodes.Good
            await self._publish(ts)
        if not fresh:
            await self._publish(self.last_at)
        return WriteResult(accepted=len(payloads))

    async def _publish(self, source_ts: datetime | None) -> None:
        server = self.server
        assert server is not None
        now = datetime.now(UTC)
        for name, node in self.nodes.items():
            vtype = VARIABLES[name][0]
            value = ua.DataValue(
                ua.Variant(self.values[name], vtype), StatusCode=ua.StatusCode(self._status),
                SourceTimestamp=source_ts or now, ServerTimestamp=now,
            )  # fmt: skip
            await server.write_attribute_value(node.nodeid, value)

    async def _staleness(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.config.stale_s / 4))
            if self._fresh_at is None:
                continue
            # the edge's own clock: a CMM's clock that is off makes nothing stale
            age = time.monotonic() - self._fresh_at
            status = self._status
            if age > 3 * self.config.stale_s:
                status = ua.StatusCodes.BadNoCommunication
            elif age > self.config.stale_s:
                status = ua.StatusCodes.UncertainLastUsableValue
            if status != self._status:
                self._status = status
                await self._publish(self.last_at)


def _shown(metric: str | None, value: float) -> Any:
    """A reading's value as its OPC UA variable shows it (enum codes as their labels)."""
    if metric == "verdict":
        return "PASS" if value == 0 else "FAIL"
    if metric == "device_status":
        return STATUS_LABELS.get(int(value), "IDLE")
    return value

"""The ``cloud`` sink: batches to the cloud's ``POST /api/v1/ingest`` over HTTP.

A 200 means the store committed the batch (the answer counts accepted and duplicate readings);
a 422 names each malformed item, which is refused for good; a 413 asks for smaller batches; any
other answer or a network error is retryable. Several ingest workers may be given: a failing one
sends the next batch to the next worker at once, and the forwarder backs off only after a whole
round failed. Each request carries the edge's id, the depth of its outbox behind the batch and
the age of its oldest reading, so the cloud shows the edge's buffer even when no status arrives;
and while the edge's ``broker_link`` alert is active, its message (``x-edgetwin-broker-link``):
an edge that cannot reach its broker cannot publish its status there, but the cloud still hears.

Each request carries the edge's own credential (``Authorization: Bearer``), which lets it ingest
for its tenant and plant only: the token file named by ``token_file`` or the setting
``cloud_token_file``, or else the one kept in ``<data-dir>/secrets/`` (created there when the
cloud shares the data dir, as with ``edgetwin up``). A 401 or 403 is retryable (the readings stay
buffered) and reads the token again before the next try, so a rotated token is picked up.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Self

import httpx
import orjson
from pydantic import BaseModel, ConfigDict, Field

from edgetwin.core.errors import BatchTooLargeError, SinkRetryableError
from edgetwin.core.plugins import BatchInfo, PluginContext, WriteResult
from edgetwin.edge.sinks._http import HttpClientSink
from edgetwin.security import IdentityStore

log = logging.getLogger("edgetwin.edge.cloud")


class CloudSinkConfig(BaseModel):
    """``[[sinks]] type = "cloud"``.

    Attributes:
        urls: base URLs of the cloud's ingest workers, tried in turn (default: the settings'
            ``cloud_url``, or this machine's cloud).
        timeout_s: per request.
    """

    model_config = ConfigDict(extra="forbid")

    urls: list[str] = Field(default_factory=list)
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    token_file: Path | None = None


class CloudUnreachableError(SinkRetryableError):
    """The cloud did not commit the batch; ``retry_now`` when another worker is left to try."""

    def __init__(self, message: str, *, retry_now: bool) -> None:
        super().__init__(message)
        self.retry_now = retry_now


class CloudSink(HttpClientSink):
    """Writes batches of wire-format readings to the cloud's ingest endpoint."""

    remote = True

    def __init__(
        self,
        name: str,
        urls: Sequence[str],
        edge_id: str,
        *,
        timeout_s: float = 5.0,
        window: int = 3,
        transport: httpx.AsyncBaseTransport | None = None,
        broker_link: Callable[[], str | None] = lambda: None,
        token: Callable[[], str | None] = lambda: None,
        ca_file: Path | None = None,
    ) -> None:
        if not urls:
            raise ValueError("the cloud sink needs at least one URL")
        self.name = name
        self.urls = [f"{base.rstrip('/')}/api/v1/ingest" for base in urls]
        self.edge_id = edge_id
        self.timeout_s = timeout_s
        self.window = window
        self.transport = transport  # None: the network
        self.broker_link = broker_link  # why the edge cannot reach its broker, None if it can
        if ca_file is not None:  # a private CA (e.g. the cloud's self-signed certificate)
            self.verify = ssl.create_default_context(cafile=str(ca_file))
        self._load_token = token  # blocking (a file, the identity store): run in a thread
        self._token: str | None = None
        self.limits = httpx.Limits(max_connections=window + 1, max_keepalive_connections=window + 1)
        self._worker = 0
        self._failed_in_turn = 0  # failures since the last success: a whole round backs off

    @classmethod
    def from_config(cls, name: str, config: CloudSinkConfig, ctx: PluginContext) -> CloudSink:
        urls = config.urls or (ctx.settings.cloud_urls if ctx.settings is not None else [])
        window = ctx.settings.uplink_window if ctx.settings is not None else 3
        return cls(
            name,
            urls,
            ctx.edge_id,
            timeout_s=config.timeout_s,
            window=window,
            broker_link=lambda: _active_alert(ctx.alerts, "broker_link"),
            token=lambda: edge_token(ctx, config.token_file),
            ca_file=ctx.settings.cloud_ca_file if ctx.settings is not None else None,
        )

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self._token = await asyncio.to_thread(self._load_token)
        return self

    @property
    def url(self) -> str:
        """The ingest endpoint batches go to now."""
        return self.urls[self._worker]

    async def write(self, payloads: Sequence[bytes], info: BatchInfo) -> WriteResult:
        """POST one batch; see the module's docstring for what each answer means.

        Raises:
            BatchTooLargeError: the cloud answered 413.
            CloudUnreachableError: anything else that is not a commit or a 422 naming items.
        """
        url = self.url
        body = b"[" + b",".join(payloads) + b"]"
        headers = {
            "content-type": "application/json",
            "x-edgetwin-edge": self.edge_id,
            "x-edgetwin-buffer-depth": str(info.waiting),
            "x-edgetwin-buffer-oldest-age-s": ""
            if info.oldest_age_s is None
            else f"{info.oldest_age_s:.1f}",
        }
        if self._token:
            headers["authorization"] = f"Bearer {self._token}"
        link_error = self.broker_link()
        if link_error:
            headers["x-edgetwin-broker-link"] = _header_text(link_error)
        try:
            resp = await self.http.post(
                url,
                content=body,
                headers=headers,
                params={"historical": str(info.historical).lower()},
            )
        except httpx.HTTPError as exc:
            raise self._failed(f"cloud unreachable at {url}: {type(exc).__name__}: {exc}") from exc
        if resp.status_code == 200:
            self._failed_in_turn = 0
            result = orjson.loads(resp.content)
            return WriteResult(
                accepted=int(result.get("accepted", 0)), duplicate=int(result.get("duplicate", 0))
            )
        if resp.status_code == 413:
            raise BatchTooLargeError("cloud said 413 (too large)")
        if resp.status_code in (401, 403):
            self._token = await asyncio.to_thread(self._load_token)  # rotated? read it again
            raise self._failed(
                f"cloud refused the edge's credential ({resp.status_code}):"
                f" {_detail(resp)}; readings stay buffered"
            )
        if resp.status_code == 422:
            refused = _refused(resp)
            if refused:
                return WriteResult(refused=refused)
            raise self._failed(f"cloud answered 422 naming no item: {resp.text[:200]}")
        raise self._failed(f"cloud answered {resp.status_code}: {resp.text[:200]}")

    def _failed(self, message: str) -> CloudUnreachableError:
        """Move to the next ingest worker; retry at once unless a whole round has failed."""
        retry_now = False
        if len(self.urls) > 1:
            self._worker = (self._worker + 1) % len(self.urls)
            self._failed_in_turn += 1
            retry_now = self._failed_in_turn % len(self.urls) != 0
            if retry_now:
                message += f"; trying {self.url}"
        return CloudUnreachableError(message, retry_now=retry_now)


def edge_token(ctx: PluginContext, token_file: Path | None) -> str | None:
    """The edge's token: ``token_file``, the setting ``cloud_token_file``, or the one kept in
    the data dir's ``secrets/`` (created when the cloud shares the data dir). None when there is
    no data dir to keep one in. Blocking (files); called in a thread."""
    settings = ctx.settings
    path = token_file or (settings.cloud_token_file if settings is not None else None)
    if path is not None:
        try:
            return Path(path).expanduser().read_text().strip() or None
        except OSError as exc:
            log.error("cannot read the edge's token file %s: %s", path, exc)
            return None
    if settings is None:
        return None
    with IdentityStore(settings.data_dir, settings.identities_file) as store:
        return store.edge_token(settings.data_dir, ctx.edge_id, ctx.tenant, ctx.plant)


def _detail(resp: httpx.Response) -> str:
    try:
        return str(orjson.loads(resp.content).get("detail", ""))[:200]
    except (orjson.JSONDecodeError, AttributeError):
        return resp.text[:200]


def _active_alert(alerts: object, kind: str) -> str | None:
    """The message of the edge's active alert ``kind`` (None when it is not raised)."""
    listed = getattr(alerts, "listed", None)
    if listed is None:
        return None
    for alert in listed():
        if alert.get("kind") == kind and alert.get("active"):
            return str(alert.get("message", kind))
    return None


def _header_text(text: str, limit: int = 500) -> str:
    """``text`` as a header value: printable ASCII, one line, at most ``limit`` characters."""
    clean = "".join(c if " " <= c <= "~" else "?" for c in text)
    return clean[:limit]


def _refused(resp: httpx.Response) -> dict[int, str]:
    """index -> reason from the cloud's 422 body (``detail.problems[]``); empty if it names none."""
    try:
        problems = orjson.loads(resp.content)["detail"]["problems"]
        return {int(p["index"]): "; ".join(p["errors"]) for p in problems}
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return {}

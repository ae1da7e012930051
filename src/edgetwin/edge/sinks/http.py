"""The ``http`` sink: each batch as a JSON array of wire-format readings, POSTed to a URL.

For a historian, a data lake's collector or any webhook that is idempotent on the reading's
``id`` (a batch may be sent again after a timeout). A 2xx answer means the target committed the
batch; 413 asks for smaller batches; 422 refuses the whole batch for good (each item is set
aside as a dead letter with the answer as the reason); anything else is retried with backoff,
and the readings wait in this sink's own outbox, whatever the other sinks do.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

import httpx
from pydantic import BaseModel, ConfigDict, Field

from edgetwin.core.errors import BatchTooLargeError, SinkRetryableError
from edgetwin.core.plugins import BatchInfo, PluginContext, WriteResult
from edgetwin.edge.sinks._http import HttpClientSink


class HttpSinkConfig(BaseModel):
    """``[[sinks]] type = "http"``.

    Attributes:
        url: where batches are POSTed.
        timeout_s: per request.
        headers: extra request headers (e.g. an authorisation the target needs).
    """

    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(pattern=r"^https?://")]
    timeout_s: Annotated[float, Field(gt=0, le=120)] = 5.0
    headers: dict[str, str] = Field(default_factory=dict)


class HttpSink(HttpClientSink):
    """POSTs batches to one URL; see the module's docstring."""

    remote = True

    def __init__(self, name: str, config: HttpSinkConfig, edge_id: str) -> None:
        self.name = name
        self.config = config
        self.edge_id = edge_id
        self.timeout_s = config.timeout_s

    @classmethod
    def from_config(cls, name: str, config: HttpSinkConfig, ctx: PluginContext) -> HttpSink:
        return cls(name, config, ctx.edge_id)

    async def write(self, payloads: Sequence[bytes], info: BatchInfo) -> WriteResult:
        """Raises:
        BatchTooLargeError: on 413. SinkRetryableError: no 2xx and no 422."""
        headers = {
            **self.config.headers,
            "content-type": "application/json",
            "x-edgetwin-edge": self.edge_id,
            "x-edgetwin-historical": str(info.historical).lower(),
        }
        body = b"[" + b",".join(payloads) + b"]"
        try:
            resp = await self.http.post(self.config.url, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise SinkRetryableError(
                f"{self.config.url} unreachable: {type(exc).__name__}: {exc}"
            ) from exc
        if 200 <= resp.status_code < 300:
            return WriteResult(accepted=len(payloads))
        if resp.status_code == 413:
            raise BatchTooLargeError(f"{self.config.url} said 413 (too large)")
        if resp.status_code == 422:
            reason = f"refused by {self.config.url}: {resp.text[:200]}"
            return WriteResult(refused=dict.fromkeys(range(len(payloads)), reason))
        raise SinkRetryableError(f"{self.config.url} answered {resp.status_code}")

"""What the HTTP sinks share: an ``httpx.AsyncClient`` opened on enter and closed on exit."""

from __future__ import annotations

import ssl
from typing import Self

import httpx


class HttpClientSink:
    """Base of a sink that talks HTTP; subclasses set ``timeout_s`` and may set ``limits``
    and ``transport`` (a test's) before entering, and use :attr:`http` in ``write``."""

    timeout_s: float = 5.0
    limits: httpx.Limits | None = None
    transport: httpx.AsyncBaseTransport | None = None
    verify: ssl.SSLContext | bool = True  # HTTPS: the system's CAs, or a context of a CA file
    _http: httpx.AsyncClient | None = None

    async def __aenter__(self) -> Self:
        self._http = httpx.AsyncClient(
            timeout=self.timeout_s,
            limits=self.limits or httpx.Limits(),
            transport=self.transport,
            verify=self.verify,
        )
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None

    @property
    def http(self) -> httpx.AsyncClient:
        """The client; raises RuntimeError outside ``async with``."""
        if self._http is None:
            raise RuntimeError(f"{type(self).__name__} is not entered")
        return self._http

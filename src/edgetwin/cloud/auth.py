"""The cloud's side of authentication: a short cache in front of the identity store, the
per-caller rate limit and the audit log's writer.

A token is looked up once and then cached for ``CACHE_TTL_S``: a revoked token stops working
within that time on every worker (``docs/security.md``).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Final

from edgetwin.core.security import Caller, CallerKind
from edgetwin.security import IdentityStore

log = logging.getLogger("edgetwin.cloud.auth")

CACHE_TTL_S: Final = 5.0
CACHE_MAX: Final = 10_000


@dataclass
class RateLimiter:
    """A token bucket per caller: ``rate`` requests/s on average, bursts up to ``burst``.

    Edges are exempt: their rate is the plant's, bounded by their batch size and window.
    ``rate`` 0 turns the limit off.
    """

    rate: float
    burst: float
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, caller: Caller) -> float | None:
        """None when the request may go; else the seconds until it may."""
        if self.rate <= 0 or caller.kind == CallerKind.EDGE:
            return None
        now = time.monotonic()
        with self._lock:
            tokens, last = self._buckets.get(caller.name, (self.burst, now))
            tokens = min(self.burst, tokens + (now - last) * self.rate)
            if tokens < 1.0:
                self._buckets[caller.name] = (tokens, now)
                return (1.0 - tokens) / self.rate
            self._buckets[caller.name] = (tokens - 1.0, now)
            if len(self._buckets) > CACHE_MAX:
                self._buckets.clear()
        return None


class Authenticator:
    """Resolves tokens and sessions to callers and writes the audit log.

    ``open``/``close`` hold the identity store's file.
    """

    def __init__(self, store: IdentityStore, *, rate: float, burst: float) -> None:
        self.store = store
        self.limiter = RateLimiter(rate, burst)
        self._cache: dict[str, tuple[float, Caller | None]] = {}
        self._lock = threading.Lock()

    def open(self) -> None:
        self.store.open()

    def close(self) -> None:
        self.store.close()

    def token(self, presented: str) -> Caller | None:
        now = time.monotonic()
        hit = self._cache.get(presented)
        if hit is not None and hit[0] > now:
            return hit[1]
        caller = self.store.resolve_token(presented)
        with self._lock:
            if len(self._cache) >= CACHE_MAX:
                self._cache.clear()
            self._cache[presented] = (now + CACHE_TTL_S, caller)
        return caller

    def session(self, session_id: str) -> tuple[Caller, str] | None:
        return self.store.resolve_session(session_id)

    def forget(self) -> None:
        """Drop the cache (after a revoke through the API: effective at once on this worker)."""
        with self._lock:
            self._cache.clear()

    def audit(
        self,
        caller: Caller | str,
        action: str,
        target: str,
        outcome: str,
        *,
        tenant: str = "*",
        detail: str = "",
    ) -> None:
        """Record one action. Never raises: a full disk must not turn a command into a 500
        after it was sent; the failure is logged instead."""
        name = caller if isinstance(caller, str) else caller.name
        try:
            self.store.audit(name, action, target, outcome, tenant=tenant, detail=detail)
        except Exception as exc:  # noqa: BLE001 - the audit log must not break the action
            log.error("audit record lost (%s %s by %s): %s", action, target, name, exc)

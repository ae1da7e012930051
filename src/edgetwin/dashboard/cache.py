"""Coalescing of service calls across open pages.

Every open browser tab runs its own timers; without this, ten tabs on the factory page would
run ten times the same queries against the store. A call made within ``ttl`` seconds of an
identical one (same key) shares its result, and concurrent identical calls share one query.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine, Hashable
from typing import Any, TypeVar, cast

T = TypeVar("T")

_MAX_ENTRIES = 512


class SharedCalls:
    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[float, asyncio.Task[Any]]] = {}  # key -> (expiry, call)

    async def get(self, key: Hashable, ttl: float, call: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """The result of ``call()``, shared with identical calls of the last ``ttl`` seconds."""
        now = time.monotonic()
        entry = self._entries.get(key)
        if entry is None or now >= entry[0]:
            if len(self._entries) >= _MAX_ENTRIES:
                self._purge(now)
            entry = (now + ttl, asyncio.create_task(call()))
            self._entries[key] = entry
        task = entry[1]
        try:
            # shield: a page closing mid-query must not cancel the query other pages wait for.
            return cast(T, await asyncio.shield(task))
        except Exception:
            if self._entries.get(key) is entry:
                del self._entries[key]  # never serve a failure from the cache
            raise

    def _purge(self, now: float) -> None:
        for key in [k for k, (expires, _) in self._entries.items() if now >= expires]:
            del self._entries[key]


shared = SharedCalls()

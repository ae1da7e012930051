"""The cloud's background loops, supervised: command dispatch, the rate sampler, live fan-out.

A loop handles items (a command, a sample, an ingested batch for the live stream). One bad item
must never stop or wedge it: the loop catches what the item raised, calls :meth:`Loops.failed`
(logged, counted by loop in ``/metrics`` and ``/health``) and goes on with the next. A loop that
dies anyway (a bug outside any item) is reported by ``/health`` (``status: degraded``, the loop's
``state: died`` and its error) instead of vanishing silently.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry, Counter

log = logging.getLogger("edgetwin.cloud.loops")


@dataclass
class _Loop:
    task: asyncio.Task[None] | None = None
    item_errors: int = 0
    last_error: str | None = None
    died: str | None = None
    stopping: bool = False


class Loops:
    """Named background loops and their item errors. Loops that run no task of their own (the
    live fan-out runs in the ingest request) are registered by :meth:`declare`."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self._loops: dict[str, _Loop] = {}
        self._errors = Counter(
            "edgetwin_cloud_loop_item_errors",
            "items a background loop failed and skipped, by loop",
            ["loop"],
            registry=registry,
        )

    def declare(self, name: str) -> None:
        """Register a loop that has no task of its own."""
        self._loops.setdefault(name, _Loop())

    def start(self, name: str, body: Callable[[], Coroutine[Any, Any, None]]) -> None:
        """Run ``body()`` as the task of loop ``name``; its death is recorded, not lost."""
        loop = self._loops.setdefault(name, _Loop())
        loop.stopping, loop.died = False, None
        loop.task = asyncio.create_task(body(), name=name)
        loop.task.add_done_callback(functools.partial(self._ended, name))

    def _ended(self, name: str, task: asyncio.Task[None]) -> None:
        loop = self._loops[name]
        if loop.stopping:
            return
        exc = None if task.cancelled() else task.exception()
        if task.cancelled():
            loop.died = "cancelled"
        else:
            loop.died = "returned" if exc is None else f"{type(exc).__name__}: {exc}"
        log.error("background loop %s died: %s", name, loop.died, exc_info=exc)

    def failed(self, name: str, what: str, exc: BaseException) -> None:
        """An item of loop ``name`` raised ``exc``: log it and count it; the loop goes on."""
        loop = self._loops.setdefault(name, _Loop())
        loop.item_errors += 1
        loop.last_error = f"{what}: {type(exc).__name__}: {exc}"
        self._errors.labels(name).inc()
        log.error("%s: %s failed and was skipped", name, what, exc_info=exc)

    async def stop(self) -> None:
        """Cancel every loop's task and wait for it."""
        tasks = []
        for loop in self._loops.values():
            loop.stopping = True
            if loop.task is not None:
                loop.task.cancel()
                tasks.append(loop.task)
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    @property
    def healthy(self) -> bool:
        return not any(loop.died for loop in self._loops.values())

    def report(self) -> dict[str, dict[str, Any]]:
        """Each loop's state (``running`` or ``died``), its item errors and the last one."""
        return {
            name: {
                "state": "died" if loop.died else "running",
                "error": loop.died,
                "item_errors": loop.item_errors,
                "last_item_error": loop.last_error,
            }
            for name, loop in sorted(self._loops.items())
        }

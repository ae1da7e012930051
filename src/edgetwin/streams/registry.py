"""The registries as the enrichers see them: an in-process copy kept current by change events.

The cloud owns the device-type and application registries (its store); it mirrors each entry
into the JetStream key-value bucket ``edgetwin_registry`` (``device_type.{name}``,
``app.{id}``) whenever one changes. An enricher reads the bucket once when it starts and then
follows its change events (a KV watch), so looking up a message's device type and its
applications is a dictionary lookup: no network call per message.

A device type's entry is the reference's metadata (``device_type_name``, ``..._description``,
``device_category``, ``capabilities``, ``data_format``, ``update_frequency``,
``retention_policy``) plus ``expected``: ``{path under measurements: [min, max]}``, what the
data-quality score checks. An application's entry is its public summary (``id``, ``name``,
``developer``, ``platform``, ``category``, ``status``, ``device_types``), never its key.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterable
from typing import Any, Final

import orjson

from edgetwin.core.device import DeviceType

log = logging.getLogger("edgetwin.streams.registry")

TYPE_PREFIX: Final = "device_type."
APP_PREFIX: Final = "app."


def device_type_entry(dt: DeviceType, retention_days: float = 30.0) -> dict[str, Any]:
    """The registry entry a pack's device type is seeded with."""
    expected = {
        m.field: [m.min, m.max] for m in dt.metrics if m.field is not None and "." in m.field
    }
    return {
        "device_type": dt.name,
        "device_type_name": dt.title,
        "device_type_description": dt.description,
        "device_category": dt.pack,
        "capabilities": sorted({m.name for m in dt.metrics if m.kind != "enum"}),
        "data_format": "json",
        "update_frequency": None,
        "retention_policy": f"{retention_days:g}_days",
        "commands": [c.name for c in dt.commands],
        "expected": expected,
    }


class RegistryCache:
    """Device types and applications by key; see the module's docstring."""

    def __init__(self) -> None:
        self.device_types: dict[str, dict[str, Any]] = {}
        self.apps: dict[str, dict[str, Any]] = {}
        self.revision = 0
        self.changes = 0

    def apply(self, key: str, value: bytes | None, revision: int = 0) -> None:
        """One change event: a new value for ``key``, or its deletion (``value`` None)."""
        self.changes += 1
        self.revision = max(self.revision, revision)
        if key.startswith(TYPE_PREFIX):
            table, name = self.device_types, key[len(TYPE_PREFIX) :]
        elif key.startswith(APP_PREFIX):
            table, name = self.apps, key[len(APP_PREFIX) :]
        else:
            return
        if value is None:
            table.pop(name, None)
            return
        try:
            entry = orjson.loads(value)
        except orjson.JSONDecodeError:
            log.warning("registry entry %s is not JSON: ignored", key)
            return
        if isinstance(entry, dict):
            table[name] = entry

    def apps_for(self, device_type: str) -> list[dict[str, Any]]:
        """The active applications registered for ``device_type``, by name."""
        found = [
            {k: a.get(k) for k in ("id", "name", "developer", "platform", "category", "status")}
            for a in self.apps.values()
            if device_type in (a.get("device_types") or [])
            and a.get("status", "active") == "active"
        ]
        return sorted(found, key=lambda a: (str(a["name"]), str(a["id"])))


async def load_and_follow(kv: Any, cache: RegistryCache, ready: asyncio.Event) -> None:
    """Fill ``cache`` from the bucket, set ``ready``, then apply each change until cancelled."""
    watcher = await kv.watchall()
    # The watch first replays the latest value of every key, then a None marker (none at all
    # for an empty bucket: a short wait stands for it).
    with contextlib.suppress(Exception):
        while (entry := await watcher.updates(timeout=1.0)) is not None:
            cache.apply(entry.key, _value(entry), entry.revision)
    ready.set()
    async for entry in watcher:
        if entry is not None:
            cache.apply(entry.key, _value(entry), entry.revision)


def _value(entry: Any) -> bytes | None:
    return None if entry.operation in ("DEL", "PURGE") else bytes(entry.value or b"")


async def seed(kv: Any, types: Iterable[DeviceType], retention_days: float = 30.0) -> int:
    """Put each device type that the bucket lacks (an admin's edits are kept); returns how many."""
    added = 0
    for dt in types:
        with contextlib.suppress(Exception):  # KeyWrongLastSequenceError: it is there already
            await kv.create(
                TYPE_PREFIX + dt.name, orjson.dumps(device_type_entry(dt, retention_days))
            )
            added += 1
    return added

"""The registries, mirrored where the stream backbone needs them.

- Into the registry bucket (``edgetwin_registry``), which the enrichers follow: every device
  type (its metadata and expected measurements) and every application's public summary (never
  its key). Each change rewrites the whole mirror (a registry is small), so a change the mirror
  missed while NATS was down is carried by the next one; a failure is logged, never raised (the
  registry's own answer does not depend on NATS).
- Into the embedded NATS server's users (``<data-dir>/nats/apps.json``, then a reload): one user
  per application, allowed to subscribe only to ``iot.{type}.enriched`` of its device types.
  With ``--nats-url`` the operator's server has its own users, and nothing is written.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Mapping
from typing import Any

import orjson

from edgetwin.core.settings import Settings

log = logging.getLogger("edgetwin.cloud.registries")

PUBLIC_APP = ("id", "name", "developer", "platform", "category", "status", "device_types")


def app_summary(row: Mapping[str, Any]) -> dict[str, Any]:
    """What the enrichers may add to messages about an application."""
    return {k: row.get(k) for k in PUBLIC_APP}


def nats_user(app_id: str) -> str:
    return f"app-{app_id}"


class RegistryMirror:
    """See the module's docstring; ``enabled`` only when an enabled pack streams."""

    def __init__(self, settings: Settings) -> None:
        from edgetwin.streams.server import uses_streams

        self.settings = settings
        self.enabled = uses_streams(settings.packs)
        self._nc: Any = None
        self._lock = asyncio.Lock()
        self.synced = 0

    async def sync(
        self, types: Iterable[Mapping[str, Any]], apps: Iterable[Mapping[str, Any]]
    ) -> bool:
        """Rewrite the bucket; True when it was written."""
        if not self.enabled:
            return False
        entries = {f"device_type.{t['device_type']}": orjson.dumps(_type_entry(t)) for t in types}
        entries |= {f"app.{a['id']}": orjson.dumps(app_summary(a)) for a in apps}
        async with self._lock:
            try:
                kv = await self._bucket()
                for key, value in entries.items():
                    await kv.put(key, value)
                for key in await _keys(kv):
                    if key not in entries:
                        await kv.delete(key)
            except Exception as exc:  # noqa: BLE001 - NATS down: the next change carries it
                log.warning("registry not mirrored to NATS (%s: %s); the next change will",
                            type(exc).__name__, exc)  # fmt: skip
                await self.close()
                return False
        self.synced += 1
        return True

    async def _bucket(self) -> Any:
        from edgetwin.streams.setup import connect, ensure_registry

        if self._nc is None or self._nc.is_closed:
            self._nc = await connect(self.settings, "cloud-registry", max_reconnect_attempts=2)
        return await ensure_registry(self._nc.jetstream(timeout=3.0))

    async def close(self) -> None:
        if self._nc is not None:
            nc, self._nc = self._nc, None
            try:
                await nc.close()
            except Exception:
                log.debug("closing NATS", exc_info=True)

    def set_user(
        self, app_id: str, device_types: Iterable[str], password: str | None = None
    ) -> None:
        """Add or change an application's NATS user (a new ``password``, or the one it has)."""
        self._users(app_id, lambda old: (password or old, sorted(set(device_types))))

    def remove_user(self, app_id: str) -> None:
        self._users(app_id, lambda _old: None)

    def _users(self, app_id: str, change: Any) -> None:
        if not self.enabled or self.settings.nats_url is not None:
            return
        from edgetwin.streams.server import read_app_users, write_app_users

        users = {u: (e["password"], e["device_types"])
                 for u, e in read_app_users(self.settings.data_dir).items()}  # fmt: skip
        old = users.get(nats_user(app_id), ("", []))[0]
        new = change(old)
        if new is None:
            users.pop(nats_user(app_id), None)
        else:
            users[nats_user(app_id)] = new
        write_app_users(self.settings.data_dir, users)


def _type_entry(row: Mapping[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "updated_ms"}


async def _keys(kv: Any) -> list[str]:
    try:
        keys: list[str] = await kv.keys()
    except Exception:  # noqa: BLE001 - nats-py raises NoKeysError for an empty bucket
        return []
    return keys

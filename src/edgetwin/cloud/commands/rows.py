"""What both command logs share: the row as the API shows it, a forward move, the reads.

Written once so that the SQLite and the PostgreSQL log scope every query alike: every query
names the tenant except the dispatcher's scan of open commands and the lookup of the command an
edge's report names by its id (a report carries no tenant).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

import orjson

from edgetwin.cloud.commands.lifecycle import ORDER, advance
from edgetwin.cloud.schemas.base import iso_seconds

OPEN: Final = "state IN ('queued', 'sent', 'delivered')"
SAME_KEY: Final = (
    "tenant = %s AND plant = %s AND line = %s AND machine = %s AND idempotency_key = %s"
)


def public(row: Mapping[str, Any]) -> dict[str, Any]:
    """A row as the API shows it (JSON columns arrive as text, times as Unix seconds); the
    shape of :class:`edgetwin.cloud.schemas.commands.CommandRecord`."""
    return {
        "id": row["id"],
        "device": {k: row[k] for k in ("tenant", "plant", "line", "machine")},
        "name": row["name"],
        "args": orjson.loads(row["args"]),
        **{k: row[k] for k in ("ttl_s", "idempotency_key", "requested_by", "state",
                               "created_at", "updated_at", "expires_at")},
        "detail": orjson.loads(row["detail"]),
        "history": orjson.loads(row["history"]),
    }  # fmt: skip


def moved(
    row: Mapping[str, Any], state: str, detail: dict[str, Any] | None, by: str, now: float
) -> tuple[str, str] | None:
    """The new ``detail`` and ``history`` (JSON) of a forward move; None if it is not one."""
    if state not in ORDER or not advance(row["state"], state):
        return None
    history = orjson.loads(row["history"])
    history.append({"state": state, "at": now, "by": by, **({"detail": detail} if detail else {})})
    merged = {**orjson.loads(row["detail"]), **(detail or {})}
    return orjson.dumps(merged).decode(), orjson.dumps(history).decode()


class Reads:
    """The reads of both logs. ``_where`` gives the commands that match a condition written
    with ``%s`` parameters."""

    def _where(self, where: str, params: tuple[Any, ...]) -> list[dict[str, Any]]:
        raise NotImplementedError

    def _key(self, cmd_id: str) -> object:
        """The id as the id column takes it; None for a string that no command has."""
        return cmd_id

    def get(self, tenant: str, cmd_id: str) -> dict[str, Any] | None:
        key = self._key(cmd_id)
        found = [] if key is None else self._where("tenant = %s AND id = %s", (tenant, key))
        return found[0] if found else None

    def lookup(self, cmd_id: str) -> dict[str, Any] | None:
        key = self._key(cmd_id)
        found = [] if key is None else self._where("id = %s", (key,))
        return found[0] if found else None

    def list_for(
        self, tenant: str, plant: str, machine: str | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        where, params = "tenant = %s AND plant = %s", [tenant, plant]
        if machine is not None:
            where += " AND machine = %s"
            params.append(machine)
        return self._where(f"{where} ORDER BY created_at DESC LIMIT %s", (*params, limit))

    def open_commands(self) -> list[dict[str, Any]]:
        return self._where(f"{OPEN} ORDER BY created_at", ())


def command_view(cmd: dict[str, Any]) -> dict[str, Any]:
    """A command of the log (times in UNIX seconds, as the dispatcher computes with them) as
    the API and the live stream show it (``CommandRecord``: times in ISO 8601 UTC)."""
    view = {**cmd}
    for key in ("created_at", "updated_at", "expires_at"):
        view[key] = iso_seconds(cmd[key])
    view["history"] = [{**step, "at": iso_seconds(step["at"])} for step in cmd["history"]]
    return view

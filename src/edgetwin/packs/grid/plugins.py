"""The grid pack's own edge plugins, registered when the edge loads the pack."""

from __future__ import annotations

from edgetwin.edge.registry import register
from edgetwin.packs.grid.source import GridSource, GridSourceConfig


def register_plugins() -> None:
    """Register ``grid_mqtt`` (the breakers' ``iot/+/raw|trends|status`` messages)."""
    register(
        "sources", "grid_mqtt", GridSourceConfig, GridSource.from_config,
        "smart breakers: iot/{device_id}/raw|trends|status",
    )  # fmt: skip

"""The CMM pack's own edge plugins, registered when the edge loads the pack."""

from __future__ import annotations

from edgetwin.edge.registry import register
from edgetwin.packs.cmm.processor import CompensationConfig, CompensationProcessor


def register_plugins() -> None:
    """Register ``cmm_compensation`` (the CSV drop folder is the platform's ``dropfolder``)."""
    register(
        "processors", "cmm_compensation", CompensationConfig, CompensationProcessor.from_config,
        "CMM thermal compensation and verdict",
    )  # fmt: skip

"""The CMM pack's own edge plugins, registered when the edge loads the pack."""

from __future__ import annotations

from edgetwin.edge.registry import register
from edgetwin.packs.cmm.mes import MesSink, MesSinkConfig
from edgetwin.packs.cmm.opcua import OpcUaSink, OpcUaSinkConfig
from edgetwin.packs.cmm.processor import CompensationConfig, CompensationProcessor


def register_plugins() -> None:
    """Register ``cmm_compensation`` and ``cmm_mes`` (the CSV drop folder is the
    platform's ``dropfolder``: any instrument's CSV reports, not only a CMM's)."""
    register(
        "processors", "cmm_compensation", CompensationConfig, CompensationProcessor.from_config,
        "CMM thermal compensation and verdict",
    )  # fmt: skip
    register("sinks", "cmm_opcua", OpcUaSinkConfig, OpcUaSink.from_config, "OPC UA server (latest)")
    register("sinks", "cmm_mes", MesSinkConfig, MesSink.from_config, "the MES: a record per part")

"""The CMM pack's own edge plugins, registered when the edge loads the pack."""

from __future__ import annotations

from edgetwin.edge.pipeline import register_value
from edgetwin.edge.registry import register
from edgetwin.packs.cmm.mes import MesSink, MesSinkConfig, configured_mes_url
from edgetwin.packs.cmm.opcua import OpcUaSink, OpcUaSinkConfig
from edgetwin.packs.cmm.processor import CompensationConfig, CompensationProcessor


def register_plugins() -> None:
    """Register ``cmm_compensation``, ``cmm_opcua`` and ``cmm_mes`` (the CSV drop folder is
    the platform's ``dropfolder``: any instrument's CSV reports, not only a CMM's), and the
    snippet's ``{mes_url}`` (:func:`~edgetwin.packs.cmm.mes.configured_mes_url`)."""
    register_value("mes_url", configured_mes_url)
    register(
        "processors", "cmm_compensation", CompensationConfig, CompensationProcessor.from_config,
        "CMM thermal compensation and verdict",
    )  # fmt: skip
    register("sinks", "cmm_opcua", OpcUaSinkConfig, OpcUaSink.from_config, "OPC UA server (latest)")
    register("sinks", "cmm_mes", MesSinkConfig, MesSink.from_config, "the MES: a record per part")

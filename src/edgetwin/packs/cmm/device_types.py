"""The CMM (coordinate measuring machine) as a device type: what it measures, what the edge
derives from it (compensated length, deviation, verdicts, status)."""

from __future__ import annotations

from edgetwin.core.device import DeviceType, MetricSpec
from edgetwin.packs.cmm.compensation import STATUS_FAIL, STATUS_LABELS

VERDICT_STATES = {0: "PASS", 1: "FAIL"}

CMM = DeviceType(
    name="cmm.thermal",
    title="Coordinate measuring machine",
    pack="cmm",
    description="A CMM measuring an Al 6061 part in a room whose temperature swings; one CSV"
    " file per measurement in a drop folder, compensated to 20 °C at the edge.",
    metrics=(
        MetricSpec("temperature", "°C", "gauge", "part (room) temperature", min=-10.0, max=60.0),
        MetricSpec("length", "mm", "gauge", "length as measured (raw)", min=0.0),
        MetricSpec("measurement", "", "counter", "measurement number of the drop folder", min=1),
        MetricSpec("compensated_length", "mm", "gauge", "length at 20 °C", min=0.0),
        MetricSpec("deviation", "µm", "gauge", "compensated length minus nominal"),
        MetricSpec(
            "verdict", "enum", "enum", "tolerance check on the compensated length",
            states=VERDICT_STATES, fault_states=frozenset({1}),
        ),
        MetricSpec(
            "raw_verdict", "enum", "enum", "the same check on the raw length (temperature-blind)",
            states=VERDICT_STATES,
        ),
        MetricSpec(
            "device_status", "enum", "enum", "IDLE, ACTIVE, or FAIL after a failed part",
            states=dict(STATUS_LABELS), fault_states=frozenset({STATUS_FAIL}),
        ),
    ),
)  # fmt: skip

DEVICE_TYPES = (CMM,)

"""The smart factory's machine as a device type (metrics, units, states, commands)."""

from __future__ import annotations

from edgetwin.core.device import CommandSpec, DeviceType, MetricSpec, NoArgs

MACHINE = DeviceType(
    name="factory.machine",
    title="Factory machine",
    pack="factory",
    description="A CNC, robot arm, press, conveyor, welder or inspection cell of the smart factory;"
    " 6 metrics every 2 s over MQTT.",
    metrics=(
        MetricSpec("temp", "°C", "gauge", "temperature", min=-20.0, max=200.0),
        MetricSpec("vibration_rms", "mm/s", "gauge", "vibration RMS velocity", min=0.0, max=50.0),
        MetricSpec("energy_kw", "kW", "gauge", "electrical power", min=0.0, max=500.0),
        MetricSpec("good_count", "units", "count", "good parts in the cycle", min=0.0, max=100.0),
        MetricSpec("bad_count", "units", "count", "bad parts in the cycle", min=0.0, max=100.0),
        MetricSpec(
            "state",
            "enum",
            "enum",
            "machine state",
            states={0: "RUN", 1: "STOP", 2: "FAULT"},
            fault_states=frozenset({2}),
        ),
    ),
    commands=(
        CommandSpec("START", "resume production after a STOP", NoArgs),
        CommandSpec("STOP", "stop the machine: it idles, makes no parts", NoArgs),
        CommandSpec("PING", "ask the machine to answer", NoArgs),
    ),
)

DEVICE_TYPES = (MACHINE,)

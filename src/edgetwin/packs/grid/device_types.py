"""The smart breaker as a device type: every channel of its messages, and its commands.

A telemetry channel's ``field`` is its path under the message's ``measurements``
(``voltage.phase_a``): what the enrichment's data-quality score expects in each raw message.

Its name is the device's own ``device_type`` (``smart_breaker``), as its messages carry it and
as the stream's per-type subject spells it (``iot.smart_breaker.enriched``): a dotted
``pack.kind`` name would split that subject into more tokens.
"""

from __future__ import annotations

from edgetwin.core.device import CommandSpec, DeviceType, MetricSpec, NoArgs
from edgetwin.packs.grid.messages import BY_NAME, CHANNELS, DEVICE_TYPE, EVENTS, TRENDED


def _metrics() -> tuple[MetricSpec, ...]:
    out = [
        MetricSpec(
            c.name, c.unit, "enum" if c.states else "gauge", c.description, c.min, c.max,
            states=dict(c.states or {}), fault_states=c.faults, field=".".join(c.path),
        )
        for c in CHANNELS
    ]  # fmt: skip
    for name in TRENDED:
        c = BY_NAME[name]
        out += [
            MetricSpec(f"{name}_{s}", c.unit, "gauge", f"{c.description}: {s} over a burst")
            for s in ("avg", "min", "max")
        ]
    out.append(
        MetricSpec(
            "presence",
            "enum",
            "enum",
            "MQTT presence (status, last will)",
            states={0: "OFFLINE", 1: "ONLINE"},
        )
    )
    out.append(MetricSpec("event_type", "enum", "enum", "kind of message", states=dict(EVENTS)))
    return tuple(out)


SMART_BREAKER = DeviceType(
    name=DEVICE_TYPE,
    title="Smart Circuit Breaker",
    pack="grid",
    description="Intelligent three-phase circuit breaker with monitoring and protection: voltage,"
    " current, power, frequency, temperature, inverse-time overcurrent, ground and arc faults.",
    metrics=_metrics(),
    commands=(
        CommandSpec("OPEN", "open the contacts", NoArgs, timeout_s=10.0),
        CommandSpec("CLOSE", "close the contacts (refused while tripped)", NoArgs, timeout_s=10.0),
        CommandSpec("RESET_TRIP", "clear a trip so the breaker may close", NoArgs, timeout_s=10.0),
    ),
)

DEVICE_TYPES = (SMART_BREAKER,)

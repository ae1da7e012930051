"""The motor controller (STM32-class firmware on a serial line) as a device type."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from edgetwin.core.device import CommandSpec, DeviceType, MetricSpec, NoArgs


class StallArgs(BaseModel):
    """How long the firmware stops sampling (the watchdog resets it after 2 s)."""

    model_config = ConfigDict(extra="forbid")

    seconds: float = Field(3.0, gt=0, le=60)


MOTOR = DeviceType(
    name="motor.stm32",
    title="Motor controller",
    pack="motor",
    description="A motor monitored by STM32-class firmware: JSON lines at 10 Hz over a serial"
    " line at 115200 baud.",
    metrics=(
        MetricSpec("temperature", "°C", "gauge", "winding temperature", min=-40.0, max=150.0),
        MetricSpec("vibration", "g", "gauge", "vibration amplitude", min=0.0, max=16.0),
        MetricSpec(
            "status",
            "enum",
            "enum",
            "firmware status: ANOMALY when the rolling z-score of vibration exceeds 3",
            states={0: "RUNNING", 1: "ANOMALY"},
        ),
        MetricSpec("uptime", "s", "gauge", "time since the last reset", min=0.0),
        MetricSpec("seq", "count", "counter", "sequence number, restarts with the device", min=0),
    ),
    commands=(
        CommandSpec(
            "REBOOT",
            "reset the controller: a boot banner, a second of silence, uptime from 0",
            NoArgs,
            completes_on="restarted",
            timeout_s=6.5,
        ),
        CommandSpec("PING", "ask the firmware to answer", NoArgs),
        CommandSpec("STALL", "stop sampling for a while (tests the watchdog)", StallArgs),
    ),
    uptime_metric="uptime",
)

DEVICE_TYPES = (MOTOR,)

"""The motor twin: an STM32-class controller on a serial line, commands down to the hardware,
edge anomaly detection and a 3D page."""

from pathlib import Path

from edgetwin.packs import Pack
from edgetwin.packs.motor.device import simulate
from edgetwin.packs.motor.device_types import DEVICE_TYPES

PACK = Pack(
    name="motor",
    title="Motor",
    simulate=simulate,
    device_types=DEVICE_TYPES,
    pipeline=Path(__file__).with_name("pipeline.toml"),
    pages="edgetwin.packs.motor.page:pages",
)

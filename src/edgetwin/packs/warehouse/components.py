"""The warehouse's 14 components and their spec sheets, as data; and the plant's geometry.

Electrical figures are the reference's (see ``docs/warehouse.md``): a motor draws 0.05 A idle,
an inrush for the first 0.5 s after it is switched on, then its running current, all at 24 V DC.
Running currents per motor: HBW X/Y 1.5 A, Z 1.0 A; VGR X/Y 1.2 A, Z 0.8 A; the conveyor motor
and the other actuators the reference's default 1.2 A; the VGR's compressor 0.1 A idle, 4.0 A
inrush, 2.5 A running. The light barriers are sensors: they draw no modelled current.

Geometry is the one source of truth for every position the controller, the page and the tests
use (the reference had two files that disagreed on the slot coordinates): the rack's slots
A1..C3 in the HBW's X/Y frame, the HBW's handover onto the conveyor, the conveyor's light
barriers along its belt, and the VGR's stations.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

VOLTAGE_V = 24.0
"""Supply voltage of every actuator, V DC (reference)."""
SUPPLY_LIMIT_W = 240.0
"""Rated output of the 24 V supply (10 A): the power gauge's limit. Not in the reference's
sources; a typical tabletop-factory supply, stated here so the gauge has a spec to compare to."""

Subsystem = Literal["HBW", "CONVEYOR", "VGR"]
Kind = Literal["motor", "actuator", "compressor", "valve", "sensor"]


@dataclass(frozen=True)
class ComponentSpec:
    """One component's spec sheet.

    Attributes:
        id: the reference's name, e.g. ``HBW_X_MOTOR``.
        subsystem: ``HBW``, ``CONVEYOR`` or ``VGR``.
        kind: motor (drives an axis), actuator, compressor, valve or sensor.
        description: one line for people.
        idle_a: current while switched off, A.
        inrush_a: current during the first ``inrush_s`` after switching on, A.
        inrush_s: length of the start-up phase, s.
        running_a: current while on after the start-up, A.
        spike_a: current of a wear spike (health below 0.8), A.
        axis: for a motor, the axis it drives (``x``, ``y``, ``z``, ``belt``).
        position_mm: for a light barrier, its place along the conveyor belt, mm.
    """

    id: str
    subsystem: Subsystem
    kind: Kind
    description: str
    idle_a: float = 0.05
    inrush_a: float = 2.5
    inrush_s: float = 0.5
    running_a: float = 1.2
    spike_a: float = 3.5
    axis: str | None = None
    position_mm: float | None = None

    @property
    def draws_current(self) -> bool:
        """True for everything but the sensors."""
        return self.kind != "sensor"

    def public(self) -> dict[str, object]:
        """The spec sheet as the API serves it (currents in A, times in s, lengths in mm)."""
        return {
            "id": self.id,
            "subsystem": self.subsystem,
            "kind": self.kind,
            "description": self.description,
            "voltage_v": VOLTAGE_V if self.draws_current else None,
            "idle_a": self.idle_a if self.draws_current else None,
            "inrush_a": self.inrush_a if self.draws_current else None,
            "inrush_s": self.inrush_s if self.draws_current else None,
            "running_a": self.running_a if self.draws_current else None,
            "spike_a": self.spike_a if self.draws_current else None,
            "axis": self.axis,
            "position_mm": self.position_mm,
        }


def _barrier(n: int, at: float, what: str) -> ComponentSpec:
    return ComponentSpec(
        f"CONV_L{n}", "CONVEYOR", "sensor", f"light barrier L{n} at {at:g} mm: {what}",
        position_mm=at,
    )  # fmt: skip


COMPONENTS: tuple[ComponentSpec, ...] = (
    ComponentSpec("HBW_X_MOTOR", "HBW", "motor", "HBW horizontal axis", running_a=1.5, axis="x"),
    ComponentSpec("HBW_Y_MOTOR", "HBW", "motor", "HBW vertical axis", running_a=1.5, axis="y"),
    ComponentSpec(
        "HBW_Z_MOTOR", "HBW", "motor", "HBW fork (in/out of the rack)", running_a=1.0, axis="z"
    ),
    ComponentSpec("HBW_GRIPPER", "HBW", "actuator", "HBW carrier latch on the fork"),
    ComponentSpec("CONV_M1", "CONVEYOR", "motor", "conveyor belt motor", axis="belt"),
    _barrier(1, 100.0, "carrier entered from the HBW"),
    _barrier(2, 400.0, "oven entry"),
    _barrier(3, 700.0, "oven exit"),
    _barrier(4, 950.0, "carrier at the VGR's pick-up"),
    ComponentSpec("VGR_X_MOTOR", "VGR", "motor", "VGR axis along the conveyor", axis="x"),
    ComponentSpec("VGR_Y_MOTOR", "VGR", "motor", "VGR axis across the conveyor", axis="y"),
    ComponentSpec("VGR_Z_MOTOR", "VGR", "motor", "VGR lift", running_a=0.8, axis="z"),
    ComponentSpec(
        "VGR_COMP",
        "VGR",
        "compressor",
        "VGR vacuum compressor",
        idle_a=0.1,
        inrush_a=4.0,
        running_a=2.5,
    ),
    ComponentSpec("VGR_VALVE", "VGR", "valve", "VGR vacuum valve"),
)
SPECS: dict[str, ComponentSpec] = {c.id: c for c in COMPONENTS}
POWERED: tuple[str, ...] = tuple(c.id for c in COMPONENTS if c.draws_current)
"""The ten components that draw current (motors, actuators, compressor, valve)."""
BARRIERS: dict[str, float] = {
    c.id: c.position_mm for c in COMPONENTS if c.position_mm is not None
}  # CONV_L1..L4 -> mm along the belt
DEVICE_OF: dict[str, str] = {"HBW": "hbw", "CONVEYOR": "conveyor", "VGR": "vgr"}

# -- kinematic limits (reference) --
VMAX_MM_S = 100.0
ACCEL_MM_S2 = 4 * VMAX_MM_S  # ramp up: 4·vmax per second
DECEL_MM_S2 = 2 * VMAX_MM_S  # ramp down: 2·vmax per second
TICK_S = 0.1  # 10 Hz
POSITION_TOLERANCE_MM = 1.0

# -- geometry: one source of truth --
ROWS = ("A", "B", "C")
COLUMNS = ("1", "2", "3")
SLOTS: dict[str, tuple[float, float]] = {
    f"{row}{col}": (100.0 * (c + 1), 100.0 * (3 - r))
    for r, row in enumerate(ROWS)
    for c, col in enumerate(COLUMNS)
}
"""Slot -> (HBW X, HBW Y) in mm: columns 1..3 at X 100/200/300, rows A..C at Y 300/200/100."""
HBW_HANDOVER = (0.0, 100.0)
"""HBW X/Y where the fork reaches onto the conveyor's in-feed (belt position 0)."""
HBW_Z_IN_MM = 100.0  # fork fully extended into a slot or onto the conveyor
HBW_LIMITS = {"x": (0.0, 400.0), "y": (0.0, 400.0), "z": (0.0, HBW_Z_IN_MM)}

BELT_LENGTH_MM = 1000.0
BELT_IN_MM = 0.0  # the HBW's handover
BELT_OUT_MM = 950.0  # under the VGR's pick-up, at L4
OVEN = ("CONV_L2", "CONV_L3")  # a carrier baked between these two barriers
CARRIER_HALF_MM = 15.0  # a barrier sees a carrier within this distance

VGR_STATIONS: dict[str, tuple[float, float]] = {
    "PARK": (700.0, 300.0),
    "INTAKE": (800.0, 200.0),
    "CONVEYOR": (BELT_OUT_MM, 0.0),
    "PACKAGING": (900.0, 300.0),
    "SHIPPING": (1000.0, 300.0),
}
"""VGR X/Y in mm (X along the conveyor from the HBW's in-feed, Y across it)."""
VGR_Z_DOWN_MM = 150.0  # suction cup at the work surface
VGR_LIMITS = {"x": (0.0, 1000.0), "y": (0.0, 400.0), "z": (0.0, VGR_Z_DOWN_MM)}
PACKAGING_S = 2.0  # the packaging station wraps a baked cookie in this time

# The in-feed zone both robots can reach: the HBW's fork when extended at the handover, the VGR
# above the belt's first 150 mm. Both in it at once is a collision.
HBW_ZONE_X_MM = 50.0
VGR_ZONE = ((0.0, 150.0), (0.0, 50.0))  # VGR X range, Y range
# The VGR is "over the conveyor" (the belt must not start) anywhere within this box.
VGR_OVER_BELT = ((0.0, BELT_LENGTH_MM), (0.0, 50.0))

"""The warehouse in 3D (NiceGUI ``ui.scene``), driven by the controller's snapshot.

One scene unit is 100 mm; Z is up. The rack stands behind the HBW's rail (slots A1..C3 at the
HBW's X 100/200/300 mm and heights Y 300/200/100 mm, :data:`.components.SLOTS`); the HBW's
fork reaches back into the rack, or onto the conveyor's in-feed at the handover (X 0). The belt
runs from the in-feed (belt 0 mm) away to the left, through the oven (between L2 and L3), to the
VGR's pick-up at L4 (950 mm); the light barriers L1..L4 are posts beside the belt that turn red
while they see a carrier. The VGR is a gantry over the belt and its stations (intake,
packaging, shipping); its suction cup comes down by its Z. Everything is placed from
:mod:`.components`, the one source of the geometry.
"""

from __future__ import annotations

from typing import Any, Final

from nicegui import ui

from edgetwin.packs.warehouse.components import BARRIERS, BELT_LENGTH_MM, SLOTS, VGR_STATIONS

MM: Final = 0.01  # scene units per mm
RACK_Y: Final = 1.3  # the rack's depth behind the rail
BELT_Y: Final = 1.3  # the belt runs behind the rail too, from the handover column
BELT_Z: Final = 1.0  # belt height (the handover's HBW Y, 100 mm)
VGR_TOP: Final = 3.2
COOKIE_COLORS: Final = {
    "RAW_DOUGH": "#e9d8a6",
    "BAKED": "#c47f2c",
    "PACKAGED": "#38bdf8",
    "SHIPPED": "#64748b",
}
STATION_LABELS: Final = {"INTAKE": "in", "PACKAGING": "pack", "SHIPPING": "ship"}
STEEL, DARK, CARRIER = "#64748b", "#334155", "#94a3b8"


def belt_x(mm: float) -> float:
    """Scene X of a belt position (the belt runs from the in-feed towards -X)."""
    return -mm * MM


def vgr_xy(x_mm: float, y_mm: float) -> tuple[float, float]:
    """Scene X/Y of a VGR position (its X along the belt, its Y across it, away from the rail)."""
    return belt_x(x_mm), BELT_Y + y_mm * MM


class WarehouseScene:
    """Builds the scene once; :meth:`show` moves it to a snapshot."""

    def __init__(self, scene: ui.scene) -> None:
        self.scene = s = scene
        length = BELT_LENGTH_MM * MM
        # floor, rail, rack frame
        s.box(15.5, 6.0, 0.05).move(-3.5, 1.8, -0.03).material("#0f1d33")
        s.box(4.6, 0.2, 0.1).move(1.8, 0.0, 0.05).material(DARK)
        for col in (0.5, 1.5, 2.5, 3.5):
            s.box(0.06, 0.7, 3.4).move(col, RACK_Y, 1.9).material(DARK)
        for row in (0.55, 1.55, 2.55, 3.55):
            s.box(3.06, 0.7, 0.05).move(2.0, RACK_Y, row).material(DARK)
        self.slots: dict[str, tuple[Any, Any]] = {}
        for name, (x, y) in SLOTS.items():
            wx, wz = x * MM, y * MM
            s.text(name).move(wx, RACK_Y - 0.45, wz + 0.35)
            carrier = s.box(0.6, 0.5, 0.12).move(wx, RACK_Y, wz - 0.35).material(CARRIER)
            cookie = s.cylinder(0.18, 0.18, 0.1, 24).rotate(1.5708, 0, 0)
            cookie.move(wx, RACK_Y, wz - 0.24).material(COOKIE_COLORS["RAW_DOUGH"])
            self.slots[name] = (carrier, cookie.visible(False))
        # the HBW: mast on the rail, carriage, fork
        self.mast = s.box(0.12, 0.12, 3.6).move(0, 0, 1.8).material(STEEL)
        self.carriage = s.box(0.5, 0.3, 0.2).move(0, 0, 1.0).material("#f59e0b")
        self.fork = s.box(0.3, 0.1, 0.05).move(0, 0.2, 0.85).material("#fbbf24")
        self.hbw_carrier = s.box(0.6, 0.5, 0.12).material(CARRIER).visible(False)
        self.hbw_cookie = s.cylinder(0.18, 0.18, 0.1, 24).rotate(1.5708, 0, 0).visible(False)
        # the conveyor, its oven and light barriers
        s.box(length + 0.4, 0.7, 0.1).move(-length / 2 + 0.1, BELT_Y, BELT_Z - 0.2).material(
            "#1e293b"
        )
        l2, l3 = BARRIERS["CONV_L2"], BARRIERS["CONV_L3"]
        oven_len = (l3 - l2) * MM
        self.oven = s.box(oven_len - 0.3, 0.9, 0.6).move(
            belt_x((l2 + l3) / 2), BELT_Y, BELT_Z + 0.25
        )
        self.oven.material("#7c2d12", 0.45)
        self.barriers: dict[str, Any] = {}
        for b, at in BARRIERS.items():
            post = (
                s.box(0.08, 0.08, 0.5).move(belt_x(at), BELT_Y - 0.45, BELT_Z).material("#22c55e")
            )
            s.text(b.removeprefix("CONV_")).move(belt_x(at), BELT_Y - 0.6, BELT_Z + 0.4)
            self.barriers[b] = post
        self.belt_carrier = s.box(0.6, 0.5, 0.12).material(CARRIER).visible(False)
        self.belt_cookie = s.cylinder(0.18, 0.18, 0.1, 24).rotate(1.5708, 0, 0).visible(False)
        # the VGR's stations, gantry and suction cup
        for name, (x, y) in VGR_STATIONS.items():
            if name in ("PARK", "CONVEYOR"):
                continue
            wx, wy = vgr_xy(x, y)
            s.box(0.7, 0.7, 0.08).move(wx, wy, BELT_Z - 0.2).material("#1d3a63")
            s.text(STATION_LABELS[name]).move(wx, wy - 0.45, BELT_Z)
        s.box(length * 0.45, 0.1, 0.1).move(belt_x(800), BELT_Y + 4.2, VGR_TOP).material(DARK)
        self.bridge = s.box(0.12, 4.4, 0.12).move(0, BELT_Y + 2.0, VGR_TOP).material(STEEL)
        self.rod = s.box(0.06, 0.06, 1.0).move(0, 0, VGR_TOP - 0.5).material(STEEL)
        self.cup = s.cylinder(0.12, 0.2, 0.12, 24).rotate(1.5708, 0, 0).material("#a78bfa")
        self.vgr_cookie = s.cylinder(0.18, 0.18, 0.1, 24).rotate(1.5708, 0, 0).visible(False)
        self.placed: dict[str, Any] = {}
        for name in ("INTAKE", "PACKAGING"):
            wx, wy = vgr_xy(*VGR_STATIONS[name])
            cookie = s.cylinder(0.18, 0.18, 0.1, 24).rotate(1.5708, 0, 0)
            self.placed[name] = cookie.move(wx, wy, BELT_Z - 0.1).visible(False)

    @staticmethod
    def _cookie(obj: Any, cookie: dict[str, Any] | None) -> None:
        obj.visible(cookie is not None)
        if cookie is not None:
            obj.material(COOKIE_COLORS.get(cookie["state"], "#ffffff"))

    def show(self, snap: dict[str, Any]) -> None:
        """Move everything to where ``snap`` (the device's snapshot) has it."""
        axes, transit = snap["axes"], snap["transit"]
        hx, hy, hz = axes["hbw.x"] * MM, axes["hbw.y"] * MM, axes["hbw.z"] * MM
        self.mast.move(hx, 0, 1.8)
        self.carriage.move(hx, 0, hy)
        fork_y = 0.2 + hz * (RACK_Y - 0.2)
        self.fork.move(hx, fork_y, hy - 0.15)
        held = transit.get("hbw") is not None
        self.hbw_carrier.visible(held).move(hx, fork_y, hy - 0.05)
        self._cookie(self.hbw_cookie.move(hx, fork_y, hy + 0.06), transit.get("hbw_cookie"))
        for name, (carrier, cookie) in self.slots.items():
            here = snap["slots"].get(name) or {}
            carrier.visible(here.get("carrier") is not None)
            self._cookie(cookie, here.get("cookie"))
        bx = belt_x(axes["conveyor.belt"])
        self.belt_carrier.visible(transit.get("belt") is not None).move(bx, BELT_Y, BELT_Z - 0.08)
        self._cookie(self.belt_cookie.move(bx, BELT_Y, BELT_Z + 0.03), transit.get("belt_cookie"))
        for b, post in self.barriers.items():
            post.material("#ef4444" if snap["barriers"].get(b) else "#22c55e")
        self.oven.material("#f97316" if snap["oven"] else "#7c2d12", 0.6 if snap["oven"] else 0.35)
        vx, vy = vgr_xy(axes["vgr.x"], axes["vgr.y"])
        cup_z = VGR_TOP - 0.3 - axes["vgr.z"] * MM * 1.2
        self.bridge.move(vx, BELT_Y + 2.0, VGR_TOP)
        self.rod.move(vx, vy, (VGR_TOP + cup_z) / 2).scale(1, 1, max(0.1, VGR_TOP - cup_z))
        self.cup.move(vx, vy, cup_z).material("#f472b6" if snap["vacuum"] else "#a78bfa")
        self._cookie(self.vgr_cookie.move(vx, vy, cup_z - 0.12), transit.get("vgr"))
        for name, obj in self.placed.items():
            self._cookie(obj, transit.get(name.lower()))

"""Small building blocks of the pages: stat cards, status badges, the live indicator, a switch
that shows what the devices report, and a page's live subscription."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Final

from nicegui import events, ui

from edgetwin.cloud.live import LiveHub, Subscription
from edgetwin.dashboard import theme

# Badge colour of each uplink state an edge reports; anything else is shown grey.
UPLINK_COLORS: Final = {
    "ok": "positive",
    "cut": "negative",
    "failing": "warning",
    "backoff": "warning",
    "unknown": "grey-7",
}


def page_subscription(hub: LiveHub, patterns: Iterable[str]) -> Subscription:
    """Live events for the page being built, for as long as its browser tab stays open."""
    sub = hub.subscribe(patterns)
    client = ui.context.client
    client.on_delete(lambda: hub.unsubscribe(sub))
    client.on_disconnect(lambda: hub.unsubscribe(sub))
    return sub


def card() -> ui.card:
    """A card in the dashboard's style."""
    return ui.card().classes("et-card")


def section(title: str, note: str = "") -> None:
    """A section heading, with an optional muted note on its right."""
    with ui.row().classes("w-full items-baseline gap-3 mt-1"):
        ui.label(title).classes("et-section")
        if note:
            ui.label(note).classes("et-sub")


class StatCard:
    """A caption, a big value with its unit, and a muted line under it."""

    def __init__(self, caption: str, unit: str = "", *, testid: str, icon: str = "") -> None:
        with card().classes("p-4 gap-1 min-w-0").props(f'data-testid="{testid}"'):
            with ui.row().classes("w-full items-center justify-between no-wrap"):
                ui.label(caption).classes("et-caption")
                if icon:
                    ui.icon(icon, size="18px").style(f"color: {theme.MUTED}")
            with ui.row().classes("items-baseline gap-0 no-wrap"):
                self.value = ui.label("–").classes("et-value").props('data-role="value"')
                ui.label(unit).classes("et-unit")
            self.sub = ui.label("").classes("et-sub")

    def set(self, value: str, sub: str | None = None) -> None:
        self.value.set_text(value)
        if sub is not None:
            self.sub.set_text(sub)


class StatusBadge:
    """A coloured badge whose ``data-state`` attribute carries the raw state (for tests)."""

    def __init__(self, text: str = "", color: str = "grey-7", *, testid: str = "") -> None:
        self.badge = ui.badge(text, color=color)
        if testid:
            self.badge.props(f'data-testid="{testid}"')
        self._state: tuple[str, str, str] | None = None

    def set(self, text: str, color: str, state: str = "") -> None:
        if self._state == (text, color, state):
            return
        self._state = (text, color, state)
        self.badge.set_text(text)
        self.badge.set_background_color(color)
        self.badge.props(f'data-state="{state or text}"')


class LiveIndicator:
    """ "live · 12:00:01" after each successful refresh, or the reason the last one failed."""

    def __init__(self, testid: str = "live") -> None:
        with ui.row().classes("items-center gap-2 no-wrap").props(f'data-testid="{testid}"'):
            self.dot = ui.icon("circle", size="10px").style(f"color: {theme.MUTED}")
            self.label = ui.label("connecting…").classes("et-sub")

    def ok(self) -> None:
        self.dot.style(replace="color: #22c55e")
        self.label.set_text(f"live · updated {datetime.now():%H:%M:%S}")

    def failed(self, reason: str) -> None:
        self.dot.style(replace="color: #f97316")
        self.label.set_text(f"not updated: {reason}")


class ReportedSwitch:
    """A switch that sends a command and shows the state the devices report.

    The switch follows the reported state, so a command sent from elsewhere (another tab, the
    REST API, ``mosquitto_pub``) moves it too. While a command of ours is not yet confirmed it
    shows the requested position and "sending…"; after ``confirm_timeout_s`` without
    confirmation it falls back to the reported state and says so.

    ``send(value)`` answers True (sent), False (the broker is not reachable) or None (refused;
    the user was told why). Without ``send`` (a viewer's page) there is no switch: only the
    name and the reported state.
    """

    def __init__(
        self,
        label: str,
        description: str,
        send: Callable[[bool], bool | None] | None,
        *,
        testid: str,
        confirm_timeout_s: float = 10.0,
    ) -> None:
        self._label = label
        self._send = send or (lambda _: None)
        self._timeout = confirm_timeout_s
        self._reported: bool | None = None
        self._pending: tuple[bool, float] | None = None  # (requested value, when)
        self._syncing = False
        with card().classes("p-4 gap-2 min-w-0").props(f'data-testid="{testid}"'):
            with ui.row().classes("w-full items-center justify-between no-wrap"):
                self.switch: ui.switch | None = None
                if send is None:
                    ui.label(label).classes("font-medium py-2")
                else:
                    self.switch = ui.switch(label, on_change=self._on_change).props(
                        f'color="negative" data-testid="{testid}-switch"'
                    )
                self.badge = StatusBadge("no report", testid=f"{testid}-state")
            ui.label(description).classes("et-sub")
        self._show()

    def update(self, reported: bool | None) -> None:
        """Take the state the devices report now (``None``: nothing reported yet)."""
        self._reported = reported
        if self._pending is not None:
            wanted, since = self._pending
            if reported == wanted:
                self._pending = None
            elif time.monotonic() - since > self._timeout:
                self._pending = None
                ui.notify(f"{self._label}: the devices did not confirm the command", type="warning")
        self._show()

    def _on_change(self, e: events.ValueChangeEventArguments[bool | None]) -> None:
        if self._syncing:
            return
        wanted = bool(e.value)
        sent = self._send(wanted)
        if sent:
            self._pending = (wanted, time.monotonic())
        elif sent is not None:
            ui.notify("the plant's MQTT broker is not reachable; command not sent", type="negative")
        self._show()

    def _show(self) -> None:
        if self._pending is not None:
            position, text, color, state = self._pending[0], "sending…", "info", "pending"
        elif self._reported is None:
            position, text, color, state = False, "no report", "grey-7", "unknown"
        elif self._reported:
            position, text, color, state = True, "ACTIVE", "negative", "on"
        else:
            position, text, color, state = False, "OFF", "blue-grey-8", "off"
        self.badge.set(text, color, state)
        if self.switch is not None and self.switch.value != position:
            self._syncing = True
            try:
                self.switch.set_value(position)
            finally:
                self._syncing = False

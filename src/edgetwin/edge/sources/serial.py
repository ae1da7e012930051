"""Serial source: a device on a serial line (USB-UART, or the motor simulator's pty) that writes
one JSON object per line. Readings become Points for the edge's buffer; acknowledgements, boot
banners and heartbeats go to the command router.

The port is opened by path with pyserial, as a USB board would be. When the port disappears
(cable pulled, simulator restarted) the source keeps retrying every half second and resumes
when it returns. A line that is not a valid reading is counted by reason and logged at most once
a second; it never stops the source.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import orjson
import serial  # type: ignore[import-untyped]

from edgetwin.core.point import Point
from edgetwin.core.topics import valid_segment
from edgetwin.edge.rejects import Rejects

log = logging.getLogger("edgetwin.edge.serial")

RETRY_S: Final = 0.5
READ_TIMEOUT_S: Final = 0.2
MAX_LINE: Final = 4096
STATUS_CODES: Final = {"RUNNING": 0, "ANOMALY": 1}
# metric -> (field in the device's line, unit)
METRICS: Final = {
    "temperature": ("temperature", "°C"),
    "vibration": ("vibration", "g"),
    "status": ("status", "enum"),
    "uptime": ("uptime", "s"),
    "seq": ("seq", "count"),
}


class SerialLinkError(Exception):
    """The serial port is not open (device unplugged), so a command cannot be written."""


class SerialSource:
    """Reads one serial device; ``run()`` until cancelled, ``send()`` writes a command line."""

    def __init__(
        self,
        path: str,
        baud: int,
        *,
        tenant: str,
        plant: str,
        line: str,
        on_points: Callable[[list[Point]], None],
        on_event: Callable[[str, dict[str, Any]], None],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.path = path
        self.baud = baud
        self.tenant, self.plant, self.line = tenant, plant, line
        self.on_points = on_points
        self.on_event = on_event
        self.clock = clock
        self.connected = asyncio.Event()
        self.machine: str | None = None  # learnt from the first line naming a device_id
        self.lines = 0
        self.readings = 0
        self.connects = 0
        self.invalid = Rejects(log, "invalid serial line")
        self.last_error: str | None = None
        self._port: serial.Serial | None = None
        self._last_uptime: float | None = None
        self._booted: dict[str, Any] | None = None

    async def run(self) -> None:
        while True:
            try:
                port = await asyncio.to_thread(_open, self.path, self.baud)
            except (serial.SerialException, OSError) as exc:
                self._down(f"cannot open {self.path}: {exc}")
                await asyncio.sleep(RETRY_S)
                continue
            self._port = port
            self.connects += 1
            self.last_error = None
            self.connected.set()
            log.info("serial port %s open at %d baud", self.path, self.baud)
            try:
                await self._read(port)
            except (serial.SerialException, OSError) as exc:
                self._down(f"serial port {self.path} lost: {exc}")
            finally:
                self.connected.clear()
                self._port = None
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(port.close)
            await asyncio.sleep(RETRY_S)

    async def send(self, text: str) -> None:
        port = self._port
        if port is None:
            raise SerialLinkError(f"serial port {self.path} is not open")
        try:
            await asyncio.to_thread(port.write, text.encode() + b"\n")
        except (serial.SerialException, OSError) as exc:
            raise SerialLinkError(f"write to {self.path} failed: {exc}") from exc

    def _down(self, message: str) -> None:
        if message != self.last_error:  # log each new reason once, not every half second
            log.warning("%s; retrying every %.1f s", message, RETRY_S)
        self.last_error = message

    async def _read(self, port: serial.Serial) -> None:
        while True:
            raw = await asyncio.to_thread(port.readline, MAX_LINE)
            if raw:
                self.handle_line(raw)

    def handle_line(self, raw: bytes) -> None:
        """Turn one line into Points or an event; count and log what is neither."""
        self.lines += 1
        if not raw.endswith(b"\n"):
            self._invalid("partial_line", raw)  # the device reset mid-line, or a line too long
            return
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self._invalid("not_json", raw)
            return
        if not isinstance(body, dict):
            self._invalid("not_object", raw)
            return
        device = body.get("device_id")
        if isinstance(device, str) and device:
            self.machine = device.lower()
        kind = body.get("type")
        if kind is not None:
            if kind == "boot":
                self._booted = body
            if self.machine is not None:
                self.on_event(self.machine, body)
            return
        points = self.to_points(body)
        if points:
            self.readings += 1
            self.on_points(points)

    def to_points(self, body: dict[str, Any]) -> list[Point]:
        device = body.get("device_id")
        if not isinstance(device, str) or not device:
            self._invalid("no_device_id", body)
            return []
        values: dict[str, float] = {}
        for metric, (field, _unit) in METRICS.items():
            value = body.get(field)
            if metric == "status":
                value = STATUS_CODES.get(value) if isinstance(value, str) else None
            if isinstance(value, bool) or not isinstance(value, int | float):
                self._invalid(f"bad_{metric}", body)
                return []
            if not math.isfinite(value):
                self._invalid(f"bad_{metric}", body)
                return []
            values[metric] = float(value)
        machine = device.lower()
        uptime = values["uptime"]
        if self._booted is not None or (
            self._last_uptime is not None and uptime + 0.5 < self._last_uptime
        ):
            # The first reading after a reset proves it: uptime restarted.
            self.on_event(
                machine,
                {
                    "type": "restarted",
                    "uptime": uptime,
                    "uptime_before": self._last_uptime,
                    "id": (self._booted or {}).get("id"),
                },
            )
            self._booted = None
        self._last_uptime = uptime
        ts = datetime.fromtimestamp(self.clock(), UTC)
        if not valid_segment(machine):
            self._invalid("bad_device_id", body)
            return []
        return [
            Point.make(
                ts=ts,
                tenant=self.tenant,
                plant=self.plant,
                line=self.line,
                machine=machine,
                metric=metric,
                value=values[metric],
                unit=unit,
            )
            for metric, (_f, unit) in METRICS.items()
        ]

    def _invalid(self, reason: str, what: object) -> None:
        self.invalid.add(reason, repr(what))

    def stats(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "connected": self.connected.is_set(),
            "connects": self.connects,
            "lines": self.lines,
            "readings": self.readings,
            "invalid": dict(self.invalid),
            "error": self.last_error,
        }


def _open(path: str, baud: int) -> serial.Serial:
    return serial.Serial(path, baud, timeout=READ_TIMEOUT_S, write_timeout=1.0)

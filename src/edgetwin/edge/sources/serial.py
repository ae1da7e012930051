"""The ``serial`` source: a device on a serial line (USB-UART, or the motor simulator's pty) that
writes one JSON object per line, and a device link that writes its commands back down the line.

What the fields mean comes from the device's type (:class:`~edgetwin.core.device.DeviceType`,
declared by its pack): each metric's field name, its unit, and for an enumeration the label of
each code (``"status": "ANOMALY"`` becomes 1). A line with ``"type"`` is an event (an ack, a
boot banner, a heartbeat) and goes to the command router; the device type's ``uptime_metric``
going backwards proves a restart. The device names itself with ``device_id`` (lower-cased).

The port is opened by path with pyserial, as a USB board would be. When the port disappears
(cable pulled, simulator restarted) the source keeps retrying every half second and resumes
when it returns. A port that is missing for a moment is normal (the simulator starts after the
edge, stops before it): that is logged at INFO, and a WARNING comes only when the port is still
missing after ``GRACE_S``. A field that is not a valid value is counted by reason (``bad_<metric>``) and the
line's other fields are kept; a line that is no reading at all is counted too. Nothing stops the
source. Serial sources have no acknowledgement to give: a reading exists once it is buffered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Final

import orjson
import serial  # type: ignore[import-untyped]
from pydantic import BaseModel, ConfigDict, Field

from edgetwin.core.device import CommandSpec, DeviceType
from edgetwin.core.errors import DeviceLinkError, PipelineConfigError
from edgetwin.core.ids import Segment, valid_segment
from edgetwin.core.plugins import Delivery, PluginContext
from edgetwin.core.point import Point, valid_value
from edgetwin.edge.rejects import Rejects

log = logging.getLogger("edgetwin.edge.serial")

RETRY_S: Final = 0.5
GRACE_S: Final = 10.0  # a port missing this long is something to act on: a WARNING
READ_TIMEOUT_S: Final = 0.2
MAX_LINE: Final = 4096


class SerialSourceConfig(BaseModel):
    """``[[sources]] type = "serial"``.

    Attributes:
        path: the port (``/dev/ttyUSB0``, or the simulator's link ``{data_dir}/dev/motor0``).
        baud: line speed in bit/s.
        line: the production line the device's readings belong to.
        device_type: the name of its device type (e.g. ``motor.stm32``).
    """

    model_config = ConfigDict(extra="forbid")

    path: Annotated[str, Field(min_length=1)]
    baud: Annotated[int, Field(ge=300, le=4_000_000)] = 115200
    line: Segment
    device_type: str


class SerialSource:
    """Reads one serial device; yields its readings, ``send()`` writes a command line."""

    def __init__(
        self,
        name: str,
        path: str,
        baud: int,
        *,
        tenant: str,
        plant: str,
        line: str,
        device_type: DeviceType,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self.path = path
        self.baud = baud
        self.tenant, self.plant, self.line = tenant, plant, line
        self.device_type = device_type
        self.on_event: Callable[[str, str, dict[str, Any]], None] | None = None
        self.fallback = False
        self.clock = clock
        self.queue: asyncio.Queue[list[Point]] = asyncio.Queue(maxsize=1000)
        self.connected = asyncio.Event()
        self.machine: str | None = None  # learnt from the first line naming a device_id
        self.lines = 0
        self.readings = 0
        self.connects = 0
        self.invalid = Rejects(log, "invalid serial line")
        self.last_error: str | None = None
        self._down_since: float | None = None  # monotonic; None while the port is open
        self._warned = False
        self._port: serial.Serial | None = None
        self._last_uptime: float | None = None
        self._booted: dict[str, Any] | None = None
        self._task: asyncio.Task[None] | None = None
        self._pending = b""

    @classmethod
    def from_config(cls, name: str, config: SerialSourceConfig, ctx: PluginContext) -> SerialSource:
        """Raises:
        PipelineConfigError: the device type is not declared by any enabled pack."""
        device_type = ctx.device_types.get(config.device_type)
        if device_type is None:
            known = ", ".join(sorted(ctx.device_types)) or "none"
            raise PipelineConfigError(
                f"device_type {config.device_type!r} is not declared by an enabled pack"
                f" (known: {known})"
            )
        return cls(
            name,
            config.path,
            config.baud,
            tenant=ctx.tenant,
            plant=ctx.plant,
            line=config.line,
            device_type=device_type,
        )

    async def __aenter__(self) -> SerialSource:
        self._task = asyncio.create_task(self.run(), name=f"serial-{self.name}")
        return self

    async def __aexit__(self, *_exc: object) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def deliveries(self) -> AsyncIterator[Delivery]:
        while True:
            points = await self.queue.get()
            yield Delivery(points=points)

    # -- device link --
    def owns(self, line: str, machine: str) -> bool:
        """Every device of this source's line is reached through it (there is one per port)."""
        return line == self.line

    def command_spec(self, line: str, machine: str, name: str) -> CommandSpec | None:
        return self.device_type.command(name)

    async def send(self, line: str, machine: str, command: dict[str, Any]) -> None:
        if self.machine is None:
            raise DeviceLinkError(f"the device on {self.path} has not named itself yet")
        if machine != self.machine:
            raise DeviceLinkError(f"no device {line}/{machine} on {self.path} ({self.machine})")
        await self.write(orjson.dumps(command).decode())

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
            self._down_since, self._warned = None, False
            self.connected.set()
            log.info("serial port %s open at %d baud", self.path, self.baud)
            try:
                await self._read(port)
            except (serial.SerialException, OSError) as exc:
                self._down(f"serial port {self.path} lost: {exc}")
            finally:
                self.connected.clear()
                self._port = None
                with contextlib.suppress(serial.SerialException, OSError):  # already gone
                    await asyncio.to_thread(port.close)
            await asyncio.sleep(RETRY_S)

    async def write(self, text: str) -> None:
        """Write one command line.

        Raises:
            DeviceLinkError: the port is not open, or the write failed.
        """
        port = self._port
        if port is None:
            raise DeviceLinkError(f"serial port {self.path} is not open")
        try:
            await asyncio.to_thread(port.write, text.encode() + b"\n")
        except (serial.SerialException, OSError) as exc:
            raise DeviceLinkError(f"write to {self.path} failed: {exc}") from exc

    def _down(self, message: str) -> None:
        """Log each new reason once at INFO (not every half second), and one WARNING when the
        port is still down after ``GRACE_S``."""
        now = time.monotonic()
        if self._down_since is None:
            self._down_since = now
        if message != self.last_error:
            log.info("%s; retrying every %.1f s", message, RETRY_S)
        elif not self._warned and now - self._down_since >= GRACE_S:
            self._warned = True
            log.warning(
                "%s for %.0f s; retrying every %.1f s", message, now - self._down_since, RETRY_S
            )
        self.last_error = message

    async def _read(self, port: serial.Serial) -> None:
        while True:
            raw = await asyncio.to_thread(port.readline, MAX_LINE)
            if raw:
                self.feed(raw)

    def feed(self, chunk: bytes) -> None:
        """Bytes as the port gave them (a read can end mid-line): complete lines are handled,
        the rest waits for the next read. A line longer than ``MAX_LINE`` is dropped, counted."""
        self._pending += chunk
        while True:
            end = self._pending.find(b"\n")
            if end < 0:
                break
            line, self._pending = self._pending[: end + 1], self._pending[end + 1 :]
            self.handle_line(line)
        if len(self._pending) > MAX_LINE:
            self._invalid("line_too_long", self._pending[:200])
            self._pending = b""

    def handle_line(self, raw: bytes) -> None:
        """Turn one complete line into readings or an event; count what is neither.

        Bytes before the JSON object (line noise, the tail of a line cut by a reset) cost only
        themselves: counted as ``noise``, the object after them is still read.
        """
        self.lines += 1
        body = _json_object(raw.strip())
        if body is None:
            self._invalid("not_json", raw)
            return
        obj, skipped = body
        if skipped:
            self._invalid("noise", raw[:skipped])
        if not isinstance(obj, dict):
            self._invalid("not_object", raw)
            return
        device = obj.get("device_id")
        if isinstance(device, str) and device:
            self.machine = device.lower()
        kind = obj.get("type")
        if kind is not None:
            if kind == "boot":
                self._booted = obj
            if self.machine is not None:
                self._event(self.machine, obj)
            return
        points = self.to_points(obj)
        if points:
            self.readings += 1
            try:
                self.queue.put_nowait(points)
            except asyncio.QueueFull:
                self._invalid("queue_full", obj)  # the buffer stalled; counted, not hidden

    def _event(self, machine: str, event: dict[str, Any]) -> None:
        if self.on_event is not None:
            self.on_event(self.line, machine, event)

    def to_points(self, body: dict[str, Any]) -> list[Point]:
        """The readings in one line; a bad field is counted as ``bad_<metric>`` and skipped."""
        device = body.get("device_id")
        if not isinstance(device, str) or not device:
            self._invalid("no_device_id", body)
            return []
        machine = device.lower()
        if not valid_segment(machine):
            self._invalid("bad_device_id", body)
            return []
        values: dict[str, float] = {}
        for spec in self.device_type.metrics:
            value = body.get(spec.source_field)
            if spec.kind == "enum" and isinstance(value, str):
                value = spec.code_of(value)
            if not isinstance(value, int | float) or not valid_value(value):
                self._invalid(f"bad_{spec.name}", body)
                continue
            values[spec.name] = float(value)
        uptime_metric = self.device_type.uptime_metric
        uptime = values.get(uptime_metric) if uptime_metric else None
        if uptime is not None:
            if self._booted is not None or (
                self._last_uptime is not None and uptime + 0.5 < self._last_uptime
            ):
                # The first reading after a reset proves it: uptime restarted.
                self._event(
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
        return [
            Point.make(
                ts=ts,
                tenant=self.tenant,
                plant=self.plant,
                line=self.line,
                machine=machine,
                metric=spec.name,
                value=values[spec.name],
                unit=spec.unit,
            )
            for spec in self.device_type.metrics
            if spec.name in values
        ]

    def _invalid(self, reason: str, what: object) -> None:
        self.invalid.add(reason, repr(what))

    def stats(self) -> dict[str, Any]:
        return {
            "type": "serial",
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


def _json_object(line: bytes) -> tuple[Any, int] | None:
    """The JSON value that starts at the first ``{`` from which the rest of ``line`` parses,
    and how many bytes were skipped before it; None if there is none."""
    start = 0
    for _ in range(16):  # a line has few braces before its object; bound the work anyway
        try:
            return orjson.loads(line[start:]), start
        except orjson.JSONDecodeError:
            start = line.find(b"{", start + 1)
            if start < 0:
                return None
    return None

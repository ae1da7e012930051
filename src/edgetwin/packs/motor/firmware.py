"""The motor controller's firmware, as a pure model: sampling, status, commands, reset, watchdog.

The reference ran this on an STM32 under FreeRTOS. Here it is a deterministic state machine
driven by an injected clock (``now`` in seconds) and random generator, so tests move time
instead of sleeping; ``device.py`` puts it behind a real pseudo-terminal.

Lines it writes (JSON, one per line, ``\\n``-terminated):

- a reading at 10 Hz: ``{"device_id", "seq", "uptime", "temperature", "vibration", "status"}``
- a heartbeat every second: ``{"type": "heartbeat", "device_id", "uptime", "seq"}``
- an acknowledgement per command line: ``{"type": "ack", "cmd": ..., "id": ..., "ok": ...}``
- a boot banner after every reset: ``{"type": "boot", "device_id", "fw", "reset_cause", "id"}``

Commands it reads: ``REBOOT`` (as the reference), or JSON ``{"id", "name", "args"}`` with names
``REBOOT``, ``PING`` and ``STALL`` (stops sampling for ``args.seconds``: the watchdog's test).
"""

from __future__ import annotations

import math
import random
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

FW_VERSION: Final = "1.0.0"
SAMPLE_PERIOD_S: Final = 0.1  # 10 Hz
HEARTBEAT_PERIOD_S: Final = 1.0
BOOT_SILENCE_S: Final = 1.0  # the reset takes about a second, with nothing on the line
WATCHDOG_S: Final = 2.0  # sampling stalled this long resets the device
WINDOW: Final = 50
Z_LIMIT: Final = 3.0
STD_FLOOR: Final = 0.01
TEMP_LIMIT: Final = 50.0
COMMANDS: Final = ("REBOOT", "PING", "STALL")


def line(obj: dict[str, Any]) -> bytes:
    return orjson.dumps(obj) + b"\n"


@dataclass
class Firmware:
    """One device. Call ``tick(now)`` often (faster than 10 Hz) and ``command(raw, now)`` for each
    line received; both return the bytes the device writes on its serial line."""

    device_id: str = "STM32-MOTOR-01"
    rng: random.Random = field(default_factory=random.Random)
    boot_at: float = 0.0
    seq: int = 0
    resets: int = 0
    stalled_until: float = 0.0
    _silent_until: float = 0.0
    _pending_boot: dict[str, Any] | None = None
    _next_sample: float = 0.0
    _next_heartbeat: float = 0.0
    _last_sample: float = 0.0
    _window: deque[float] = field(default_factory=lambda: deque(maxlen=WINDOW))

    def power_on(self, now: float) -> bytes:
        """The first boot: banner at once, sampling from now."""
        return self._reset(now, cause="power_on", cmd_id=None, silent=False)

    def uptime(self, now: float) -> float:
        return max(0.0, now - self.boot_at)

    def tick(self, now: float) -> bytes:
        out = b""
        if now < self._silent_until:
            return out
        if self._pending_boot is not None:
            out += line(self._pending_boot)
            self._pending_boot = None
            self._next_sample = self._next_heartbeat = self._last_sample = now
        if now < self.stalled_until:
            if now - self._last_sample > WATCHDOG_S:  # the watchdog bites
                self.stalled_until = 0.0
                return out + self._reset(now, cause="watchdog", cmd_id=None, silent=False)
            return out
        while now >= self._next_sample:
            out += line(self.sample(now))
            self._next_sample += SAMPLE_PERIOD_S
            if now - self._next_sample > 1.0:  # long pause (host suspended): do not catch up
                self._next_sample = now + SAMPLE_PERIOD_S
        if now >= self._next_heartbeat:
            out += line(
                {
                    "type": "heartbeat",
                    "device_id": self.device_id,
                    "uptime": round(self.uptime(now), 3),
                    "seq": self.seq,
                }
            )
            self._next_heartbeat = now + HEARTBEAT_PERIOD_S
        return out

    def sample(self, now: float) -> dict[str, Any]:
        """One reading: temperature 45 + 5·sin(t) + noise, vibration U(0, 0.5) g, +1.5 in ~10%."""
        self._last_sample = now
        t = self.uptime(now)
        temperature = 45.0 + 5.0 * math.sin(t) + self.rng.gauss(0.0, 0.2)
        vibration = self.rng.uniform(0.0, 0.5)
        if self.rng.random() < 0.10:
            vibration += 1.5
        status = status_of(self._window, vibration, temperature)
        self._window.append(vibration)
        self.seq += 1
        return {
            "device_id": self.device_id,
            "seq": self.seq,
            "uptime": round(t, 3),
            "temperature": round(temperature, 3),
            "vibration": round(vibration, 4),
            "status": status,
        }

    def command(self, raw: bytes, now: float) -> bytes:
        """Answer one command line; every line gets an acknowledgement, bad ones ``ok: false``."""
        text = raw.decode("utf-8", "replace").strip()
        if not text:
            return b""
        cmd_id: str | None = None
        args: dict[str, Any] = {}
        if text.startswith("{"):
            try:
                body = orjson.loads(text)
                name = str(body["name"]).upper()
                cmd_id = body.get("id")
                args = body.get("args") or {}
            except (orjson.JSONDecodeError, KeyError, TypeError, AttributeError):
                return line({"type": "ack", "ok": False, "error": "bad command line"})
        else:
            name = text.upper()
        ack: dict[str, Any] = {"type": "ack", "cmd": name, "id": cmd_id, "ok": True}
        if now < self._silent_until:  # mid-reset: the UART is not listening
            return b""
        if name == "REBOOT":
            return line(ack) + self._reset(now, cause="command", cmd_id=cmd_id, silent=True)
        if name == "PING":
            return line({**ack, "uptime": round(self.uptime(now), 3), "seq": self.seq})
        if name == "STALL":
            seconds = float(args.get("seconds", 5.0))
            self.stalled_until = now + seconds
            return line({**ack, "seconds": seconds})
        return line({**ack, "ok": False, "error": f"unknown command {name!r}"})

    def _reset(self, now: float, *, cause: str, cmd_id: str | None, silent: bool) -> bytes:
        """A real reset: uptime and sequence restart, the statistics window is lost."""
        self.resets += 1
        self.seq = 0
        self._window.clear()
        self.stalled_until = 0.0
        self._silent_until = now + (BOOT_SILENCE_S if silent else 0.0)
        self.boot_at = self._silent_until
        banner = {
            "type": "boot",
            "device_id": self.device_id,
            "fw": FW_VERSION,
            "reset_cause": cause,
            "id": cmd_id,
        }
        if silent:
            self._pending_boot = banner
            return b""
        self._next_sample = self._next_heartbeat = self._last_sample = now
        return line(banner)


def status_of(window: deque[float] | list[float], vibration: float, temperature: float) -> str:
    """RUNNING or ANOMALY: z-score of the vibration against the previous 50 samples (std floor
    0.01), ANOMALY when z > 3 or temperature > 50 °C, as the reference firmware decides."""
    if temperature > TEMP_LIMIT:
        return "ANOMALY"
    if len(window) >= 2:
        mean = statistics.fmean(window)
        std = max(statistics.pstdev(window), STD_FLOOR)
        if (vibration - mean) / std > Z_LIMIT:
            return "ANOMALY"
    return "RUNNING"

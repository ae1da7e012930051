"""The simulated motor controller behind a real pseudo-terminal.

The gateway opens the pty's slave end exactly as it would open a USB serial adapter
(``serial.Serial(path, 115200)``). A stable symlink (``<data-dir>/dev/motor0``) names the
current slave, because ``/dev/pts/N`` changes every time the device is plugged in again.
SIGUSR1 unplugs the device for two seconds (the pty is closed and a new one created), which is
how tests and operators check that the gateway reconnects by itself.

One simulator owns the link at a time: it holds an exclusive lock on ``motor0.pid`` beside the
link (with its pid inside) for as long as it runs. A second simulator on the same data dir is
refused with a clear message (exit code 2) instead of re-pointing the link; a link left by one
that died (the kernel dropped its lock) is replaced; on exit a simulator removes the link only
if it still points to its own pty.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import random
import signal
import sys
import time
import tty
from pathlib import Path

from edgetwin.core.settings import Settings
from edgetwin.packs.motor.firmware import Firmware
from edgetwin.process import stop_event

log = logging.getLogger("edgetwin.sim.motor")

DEVICE_ID = "STM32-MOTOR-01"
TICK_S = 0.02
UNPLUG_S = 2.0


def default_link(settings: Settings) -> Path:
    """Where the simulator publishes its port and where the edge looks for it by default."""
    return settings.data_dir / "dev" / "motor0"


class LinkBusyError(RuntimeError):
    """Another running simulator owns the device link."""


class LinkOwner:
    """An exclusive lock on ``<link>.pid``, held while this process owns the link.

    A lock (not just a pid) so that a simulator killed with ``kill -9`` leaves nothing that looks
    alive, and two simulators starting at the same moment cannot both win.
    """

    def __init__(self, link: Path) -> None:
        self.path = link.with_name(f"{link.name}.pid")
        self._fd: int | None = None

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise LinkBusyError(owner) from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:  # the previous owner removed it while we waited
                same = False
            if same:
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()  # while still holding the lock: see the inode check above
        os.close(self._fd)
        self._fd = None


class PtyDevice:
    """One firmware instance on one pty. ``async with`` creates the pty; ``run()`` serves it."""

    def __init__(self, firmware: Firmware, link: Path) -> None:
        self.firmware = firmware
        self.link = link
        self.written = 0
        self.dropped = 0  # bytes the "UART" could not send because nobody drained the line
        self._master: int | None = None
        self._slave: int | None = None
        self._inbox = b""
        self._unplug = asyncio.Event()
        self._owner = LinkOwner(link)

    @property
    def path(self) -> str:
        if self._slave is None:
            raise RuntimeError("device is not plugged in")
        return os.ttyname(self._slave)

    async def __aenter__(self) -> PtyDevice:
        """Take the link (``LinkBusyError`` if another simulator holds it) and plug in."""
        self._owner.acquire()
        try:
            self._plug()
        except BaseException:
            self._owner.release()
            raise
        return self

    async def __aexit__(self, *_exc: object) -> None:
        self._unplug_now()
        self._owner.release()

    def _plug(self) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)  # no echo, no line editing: a UART passes bytes through
        os.set_blocking(master, False)
        self._master, self._slave = master, slave
        self.link.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.link.with_name(f".{self.link.name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(os.ttyname(slave))
        os.replace(tmp, self.link)  # atomic: the edge never sees a missing link mid-swap
        asyncio.get_running_loop().add_reader(master, self._on_readable)
        log.info("%s on %s (link %s), 115200 baud", self.firmware.device_id, self.path, self.link)
        print(f"serial port: {self.link} -> {self.path}", flush=True)

    def _unplug_now(self) -> None:
        if self._master is None:
            return
        with contextlib.suppress(FileNotFoundError, OSError):
            if self.link.is_symlink() and os.readlink(self.link) == self.path:
                self.link.unlink()
        asyncio.get_running_loop().remove_reader(self._master)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)  # type: ignore[arg-type]
        self._master = self._slave = None

    def unplug(self) -> None:
        """Pull the cable for a moment (SIGUSR1)."""
        self._unplug.set()

    def _on_readable(self) -> None:
        assert self._master is not None
        try:
            chunk = os.read(self._master, 4096)
        except BlockingIOError:
            return
        except OSError:  # EIO: nobody has the other end open right now
            return
        self._inbox += chunk
        while b"\n" in self._inbox:
            raw, self._inbox = self._inbox.split(b"\n", 1)
            self._write(self.firmware.command(raw, time.monotonic()))
        self._inbox = self._inbox[-4096:]  # a line without an end is garbage, not a memory leak

    def _write(self, data: bytes) -> None:
        if not data or self._master is None:
            return
        try:
            self.written += os.write(self._master, data)
        except (BlockingIOError, OSError):
            self.dropped += len(data)

    async def run(self) -> None:
        self._write(self.firmware.power_on(time.monotonic()))
        while True:
            if self._unplug.is_set():
                self._unplug.clear()
                log.warning("unplugged for %.0f s", UNPLUG_S)
                self._unplug_now()
                await asyncio.sleep(UNPLUG_S)
                self._plug()
                self._write(self.firmware.power_on(time.monotonic()))
            self._write(self.firmware.tick(time.monotonic()))
            await asyncio.sleep(TICK_S)


async def simulate(settings: Settings) -> None:
    """``edgetwin sim motor``: one motor controller on a pty; prints the serial port's path."""
    firmware = Firmware(device_id=DEVICE_ID, rng=random.Random())
    link = default_link(settings)
    try:
        async with PtyDevice(firmware, link) as device:
            await _serve(device)
    except LinkBusyError as exc:
        print(
            f"error: {link} belongs to the motor simulator running as pid {exc.args[0]}; "
            "stop that one first, or give this one another --data-dir (EDGETWIN_DATA_DIR).",
            file=sys.stderr,
            flush=True,
        )
        raise SystemExit(2) from exc


async def _serve(device: PtyDevice) -> None:
    """Serve the device until a stop signal; SIGUSR1 unplugs it for a moment."""
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError):
        loop.add_signal_handler(signal.SIGUSR1, device.unplug)
    stop = stop_event()
    runner = asyncio.create_task(device.run(), name="motor-device")
    await stop.wait()
    runner.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await runner

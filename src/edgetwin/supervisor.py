"""``edgetwin up``: runs broker, cloud, edge and simulators as separate processes.

Each part is its own process, so one can be killed and restarted without the others. Output is
prefixed with the part's name; a part that exits unexpectedly is restarted with backoff; Ctrl+C,
SIGTERM or SIGHUP (a closed terminal) stops everything cleanly, also while the parts are still
starting. PID files in ``<data-dir>/run`` name each part's process.

The parts never outlive the supervisor: each runs as ``python -m edgetwin --supervisor-pid PID``
(see :mod:`edgetwin.process`), which has the kernel send it SIGTERM when the supervisor dies, even
by ``kill -9``. If the supervisor's
own output goes away (``edgetwin up | head``), it goes on running and stops writing.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from edgetwin.core.settings import Settings
from edgetwin.process import part_command, stop_event

COLORS = {"broker": "35", "cloud": "34", "edge": "32", "nats": "33", "enrich": "33"}


@dataclass
class Part:
    name: str
    args: list[str]
    proc: asyncio.subprocess.Process | None = None
    restarts: int = 0
    started_at: float = 0.0
    pump: asyncio.Task[None] | None = field(default=None, repr=False)


class Supervisor:
    def __init__(
        self, settings: Settings, env: dict[str, str], *, login_code: str | None = None
    ) -> None:
        self.settings = settings
        self.env = env
        # The first start's one-time admin login: printed once to the terminal, never logged.
        self.login_code = login_code
        self.run_dir = settings.data_dir / "run"
        self.stopping = False
        self.quiet = False  # our stdout is gone: keep running, stop writing
        self.stop = asyncio.Event()  # replaced by the signal-driven one in run()
        self.parts: list[Part] = []
        if settings.embedded_broker:
            self.parts.append(Part("broker", ["broker"]))
        # The stream backbone, when an enabled pack sends to it: the embedded NATS server
        # (unless --nats-url names one), and the enricher.
        self.streams = uses_streams(settings.packs)
        if self.streams and settings.nats_url is None:
            self.parts.append(Part("nats", ["nats"]))
        self.parts.append(Part("cloud", ["cloud"]))
        if self.streams:
            self.parts.append(Part("enrich", ["enrich"]))
        self.parts.append(Part("edge", ["edge"]))
        for pack in settings.packs:
            self.parts.append(Part(f"sim-{pack}", ["sim", pack]))
            # parts a pack simulates besides its devices (the cmm pack's MES)
            for name, _ref in _pack(pack).simulators:
                self.parts.append(Part(f"sim-{name}", ["sim", name]))

    def say(self, name: str, line: str) -> None:
        """Write one line, prefixed with the part's name; once stdout is gone, write nothing."""
        if self.quiet:
            return
        color = COLORS.get(name, "36")
        try:
            tty = sys.stdout.isatty()
            prefix = f"\x1b[{color}m{name:>12}\x1b[0m" if tty else f"{name:>12}"
            sys.stdout.write(f"{prefix} | {line}\n")
            sys.stdout.flush()
        except (OSError, ValueError):  # a closed pipe (EPIPE), a hung-up terminal (EIO)
            self._lose_stdout()

    def _lose_stdout(self) -> None:
        self.quiet = True
        # Point fd 1 at /dev/null, so what is still buffered (and Python's flush at exit) goes
        # nowhere instead of raising again.
        with contextlib.suppress(OSError, ValueError):
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.close(devnull)

    async def _while_running(self, waiting: Any) -> bool:
        """Await ``waiting`` unless a stop signal comes first; True when it finished and said yes."""
        task = asyncio.ensure_future(waiting)
        stopped = asyncio.ensure_future(self.stop.wait())
        await asyncio.wait({task, stopped}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if task.done():
            return bool(task.result())
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        return False

    async def _spawn(self, part: Part) -> None:
        if part.name == "edge":
            (self.run_dir / f"{self.settings.edge_id}.ready").unlink(missing_ok=True)
        part.proc = await asyncio.create_subprocess_exec(
            *part_command(os.getpid(), *part.args),
            env=self.env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,  # Ctrl+C reaches us only; we stop the parts in order
        )
        part.started_at = time.monotonic()
        (self.run_dir / f"{part.name}.pid").write_text(str(part.proc.pid))
        part.pump = asyncio.create_task(self._pump(part, part.proc))

    async def _pump(self, part: Part, proc: asyncio.subprocess.Process) -> None:
        assert proc.stdout is not None
        async for raw in proc.stdout:
            self.say(part.name, raw.decode("utf-8", "replace").rstrip())

    async def _watch(self, part: Part) -> None:
        """Restart the part whenever it exits, unless we are stopping."""
        backoff = 1.0
        while not self.stopping:
            assert part.proc is not None
            code = await part.proc.wait()
            if part.pump is not None:
                await part.pump
            if self.stopping:
                return
            ran = time.monotonic() - part.started_at
            backoff = 1.0 if ran > 30 else min(backoff * 2, 15.0)
            part.restarts += 1
            self.say(
                "up",
                f"{part.name} exited with code {code}; restart #{part.restarts} in {backoff:.0f} s",
            )
            await asyncio.sleep(backoff)
            if not self.stopping:
                await self._spawn(part)

    async def _wait_broker(self, within_s: float = 20.0) -> bool:
        """Wait for the broker to complete an MQTT handshake (a bare TCP probe makes it log errors)."""
        from edgetwin.security.mqtt_acl import probe_part
        from edgetwin.transport.mqtt import make_client, resolve_target

        def probe() -> bool:
            target = resolve_target(self.settings, probe_part())
            client = make_client(target, f"edgetwin-up-probe-{os.getpid()}")
            try:
                client.connect(
                    self.settings.mqtt_target().host, self.settings.mqtt_port, keepalive=5
                )
                client.disconnect()
                return True
            except OSError:
                return False

        end = time.monotonic() + within_s
        while time.monotonic() < end:
            if await asyncio.to_thread(probe):
                return True
            await asyncio.sleep(0.2)
        return False

    async def _wait_nats(self, within_s: float = 20.0) -> bool:
        """Wait for the embedded NATS server to accept connections."""
        end = time.monotonic() + within_s
        while time.monotonic() < end:
            try:
                _r, w = await asyncio.open_connection("127.0.0.1", self.settings.nats_port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            w.close()
            return True
        return False

    async def _wait_edge(self, within_s: float) -> bool:
        ready = self.run_dir / f"{self.settings.edge_id}.ready"
        end = time.monotonic() + within_s
        while time.monotonic() < end:
            if ready.exists():
                return True
            await asyncio.sleep(0.1)
        return False

    async def _wait_health(self, within_s: float = 60.0) -> bool:
        url = f"{self.settings.cloud_base_url}/health"
        end = time.monotonic() + within_s
        async with httpx.AsyncClient(timeout=2.0) as http:
            while time.monotonic() < end:
                with contextlib.suppress(httpx.HTTPError):
                    if (await http.get(url)).status_code == 200:
                        return True
                await asyncio.sleep(0.2)
        return False

    async def run(self) -> int:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.stop = stop_event()
        watchers: list[asyncio.Task[None]] = []
        await self._start(watchers)
        if self.stop.is_set():
            self.say("up", "stopping before everything had started")
        await self.stop.wait()
        await self.shutdown()
        for w in watchers:
            w.cancel()
        return 0

    async def _start(self, watchers: list[asyncio.Task[None]]) -> None:
        """Start the parts in order, each waiting for the one it needs; a stop signal ends any wait."""
        target = self.settings.mqtt_target()
        where = f"{target.host}:{target.port}"
        for part in self.parts:
            if self.stop.is_set():
                return
            await self._spawn(part)
            watchers.append(asyncio.create_task(self._watch(part)))
            if part.name == "broker":
                self.say(
                    "up",
                    f"waiting for the broker to accept MQTT on {where}",
                )
                if not await self._while_running(self._wait_broker()) and not self.stop.is_set():
                    self.say("up", "the broker did not start listening; see its messages above")
            if part.name == "nats":
                where_nats = f"127.0.0.1:{self.settings.nats_port}"
                self.say("up", f"waiting for the NATS server on {where_nats}")
                if not await self._while_running(self._wait_nats()) and not self.stop.is_set():
                    self.say("up", "the NATS server did not start listening; see its messages")
            if part.name == "edge":
                self.say(
                    "up",
                    f"waiting up to 20 s for the edge to subscribe to the broker at {where} "
                    "(Ctrl+C stops)",
                )
                ready = await self._while_running(self._wait_edge(within_s=20.0))
                if not ready and not self.stop.is_set():
                    self.say(
                        "up", "the edge did not subscribe in time; starting the devices anyway"
                    )
            if part.name == "cloud":
                self.say(
                    "up", f"waiting for the cloud to answer {self.settings.cloud_base_url}/health"
                )
                if await self._while_running(self._wait_health()):
                    self.say(
                        "up",
                        f"dashboard: {self.settings.cloud_base_url}/   API docs: "
                        f"{self.settings.cloud_base_url}/docs   (Ctrl+C stops everything)",
                    )
                    if self.login_code:
                        self.say(
                            "up",
                            "first start: an admin was created; log in once with "
                            f"{self.settings.cloud_base_url}/auth/link?code={self.login_code}"
                            "  (valid 24 h, shown only now; later: edgetwin user link admin)",
                        )
                        self.login_code = None
                    if _serves_opcua(self.settings.packs):
                        self.say("up", f"OPC UA: {self.settings.opcua_url}")
                elif not self.stop.is_set():
                    self.say(
                        "up", "the cloud did not answer /health in time; see its messages above"
                    )

    async def shutdown(self) -> None:
        self.stopping = True
        self.say("up", "stopping...")
        # Producers first, the broker last, so nothing is cut mid-flight.
        for part in reversed(self.parts):
            proc = part.proc
            if proc is None or proc.returncode is not None:
                continue
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 10)
            except TimeoutError:
                self.say("up", f"{part.name} did not stop in 10 s; killing it")
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
            with contextlib.suppress(FileNotFoundError):
                (self.run_dir / f"{part.name}.pid").unlink()
        self.say("up", "stopped")


def child_env(settings: Settings) -> dict[str, str]:
    env = dict(os.environ)
    values = {
        "HTTP_HOST": settings.http_host,
        "HTTP_PORT": str(settings.http_port),
        "MQTT_PORT": str(settings.mqtt_port),
        "DATA_DIR": str(settings.data_dir),
        "TENANT": settings.tenant,
        "PLANT": settings.plant,
        "EDGE_ID": settings.edge_id,
        "LOG_LEVEL": settings.log_level,
        "PACKS": json.dumps(settings.packs),  # the edge reads the motor's port when it is on
    }
    values["NATS_PORT"] = str(settings.nats_port)
    optional = {"MQTT_URL": settings.mqtt_url, "DB": settings.db, "CLOUD_URL": settings.cloud_url,
                "NATS_URL": settings.nats_url}  # fmt: skip
    values.update({k: v for k, v in optional.items() if v})
    for key in ("MQTT_URL", "DB", "CLOUD_URL", "NATS_URL"):
        if not optional[key]:
            env.pop(f"EDGETWIN_{key}", None)
    env.update({f"EDGETWIN_{k}": v for k, v in values.items()})
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _pack(name: str) -> Any:
    from edgetwin.packs import load_pack

    return load_pack(name)


def _serves_opcua(packs: list[str]) -> bool:
    """True when an enabled pack's pipeline snippet has an OPC UA server sink."""
    for name in packs:
        snippet = _pack(name).pipeline
        if snippet is not None and "opcua" in snippet.read_text(encoding="utf-8"):
            return True
    return False


def uses_streams(packs: list[str]) -> bool:
    """See :func:`edgetwin.streams.server.uses_streams`."""
    from edgetwin.streams.server import uses_streams as uses

    return uses(packs)

"""A TCP proxy of our own that misbehaves on command, for putting faults between two parts.

Modes:
- ``pass``: forward both ways;
- ``blackhole``: accept connections and swallow everything, answering nothing;
- ``reset``: reset every connection (RST) as soon as it arrives, and reset open ones;
- ``drop_response``: forward the request, let the upstream answer (so the cloud commits), then
  reset the client's connection instead of relaying the answer — the retry must not duplicate.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct
import threading
from typing import Literal

Mode = Literal["pass", "blackhole", "reset", "drop_response"]


def _rst(writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.close()


class FaultProxy:
    """Runs its own event loop in a thread; ``mode`` can be changed at any time."""

    def __init__(self, upstream_port: int, listen_port: int, *, seed: int = 0) -> None:
        self.upstream_port = upstream_port
        self.port = listen_port
        self.mode: Mode = "pass"
        self.drop_ratio = 0.5  # share of responses dropped in drop_response mode
        self.rng = random.Random(seed)  # which responses: the same draws on every run
        self.connections = 0
        self.dropped_responses = 0
        self._writers: set[asyncio.StreamWriter] = set()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, daemon=True, name="fault-proxy"
        )
        self._server: asyncio.Server | None = None

    def start(self) -> FaultProxy:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()
            for w in list(self._writers):
                _rst(w)

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def set_mode(self, mode: Mode) -> None:
        def apply() -> None:
            self.mode = mode
            if mode in ("reset", "blackhole"):
                for w in list(self._writers):
                    _rst(w)

        self._loop.call_soon_threadsafe(apply)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        mode = self.mode
        if mode == "reset":
            _rst(writer)
            return
        self._writers.add(writer)
        try:
            if mode == "blackhole":
                while await reader.read(65536):
                    pass
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(
                    "127.0.0.1", self.upstream_port
                )
            except OSError:
                _rst(writer)
                return
            self._writers.add(up_writer)
            await asyncio.gather(
                self._pipe(reader, up_writer, upstream=True),
                self._pipe(up_reader, writer, upstream=False),
                return_exceptions=True,
            )
        finally:
            self._writers.discard(writer)
            _rst(writer)

    async def _pipe(
        self, src: asyncio.StreamReader, dst: asyncio.StreamWriter, *, upstream: bool
    ) -> None:
        try:
            while data := await src.read(65536):
                if self.mode == "blackhole":
                    continue
                if self.mode == "reset":
                    break
                if (
                    not upstream
                    and self.mode == "drop_response"
                    and self.rng.random() < self.drop_ratio
                ):
                    self.dropped_responses += 1
                    break
                dst.write(data)
                await dst.drain()
        finally:
            self._writers.discard(dst)
            _rst(dst)

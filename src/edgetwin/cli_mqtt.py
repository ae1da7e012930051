"""``edgetwin mqtt-acl``: a production Mosquitto's ``password_file`` and ``acl_file`` for the
plant's edgetwin parts and devices (the rules of :mod:`edgetwin.security.mqtt_acl`, which the
embedded broker enforces itself).

It writes into ``--out``:

- ``password_file`` (mode 0600): ``user:$7$...`` lines, Mosquitto's PBKDF2-SHA512 hashes;
- ``acl_file``: one ``user`` block per user with its ``topic`` lines, nothing for anonymous;
- ``credentials.json`` (mode 0600): each user's password and scope, to hand to each part
  (``EDGETWIN_MQTT_USERNAME``/``EDGETWIN_MQTT_PASSWORD``) and device; read back by the next run,
  so running it again keeps every password and adds the new users;
- ``mosquitto.conf``: the three lines that turn them on (``allow_anonymous false``,
  ``password_file``, ``acl_file``).
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, Any

import typer

from edgetwin.core.errors import ConfigError
from edgetwin.core.settings import Settings, load_settings
from edgetwin.security.mqtt_acl import (
    Device,
    MqttPart,
    Role,
    acl_file,
    cloud_part,
    device_part,
    edge_part,
    password_file,
    simulator_part,
)

CREDENTIALS = "credentials.json"


def parse_device(text: str) -> Device:
    """``line/machine`` as ``(line, machine)``.

    Raises:
        ValueError: not two names separated by one ``/``.
    """
    parts = text.split("/")
    if len(parts) != 2 or not all(parts):
        raise ValueError(f"--device {text!r}: write LINE/MACHINE, e.g. line-01/cnc-01")
    return parts[0], parts[1]


def pack_devices(pack_names: Iterable[str]) -> dict[str, tuple[Device, ...]]:
    """The devices each enabled pack's simulator plays on MQTT (packs that declare them).

    Raises:
        KeyError: an unknown pack (the message lists the known ones).
    """
    from edgetwin.packs import load_pack

    found: dict[str, tuple[Device, ...]] = {}
    for name in pack_names:
        devices = tuple(getattr(load_pack(name), "devices", ()))
        if devices:
            found[name] = devices
    return found


def plant_parts(
    settings: Settings,
    *,
    edges: Iterable[str] = (),
    devices: Iterable[Device] = (),
    simulators: dict[str, tuple[Device, ...]] | None = None,
) -> list[MqttPart]:
    """Every user of one plant: the cloud, its edges, its simulators and its devices.

    Devices default to the simulators' devices. Raises ``ValueError`` for a bad name."""
    t, p = settings.tenant, settings.plant
    sims = simulators or {}
    parts = [cloud_part()]
    parts += [edge_part(t, p, e) for e in (list(edges) or [settings.edge_id])]
    parts += [simulator_part(name, t, p, devs) for name, devs in sorted(sims.items())]
    wanted = list(devices) or [d for devs in sims.values() for d in devs]
    parts += [device_part(t, p, *d) for d in sorted(set(wanted))]
    return parts


def _old_passwords(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    try:
        users = json.loads(path.read_text(encoding="utf-8"))["users"]
        return {str(u["username"]): str(u["password"]) for u in users}
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path} is not a credentials file of edgetwin mqtt-acl: {exc}") from exc


def _write(path: Path, text: str, mode: int) -> None:
    """Write aside, then rename: a broker reloading the file never reads half of it."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    tmp.chmod(mode)
    os.replace(tmp, path)


def write_broker_files(out: Path, parts: Iterable[MqttPart]) -> dict[str, Path]:
    """Write the files of the module's docstring for ``parts`` into ``out``; name -> path.

    Passwords already in ``out/credentials.json`` are kept; new users get a random one.

    Raises:
        ConfigError: ``out/credentials.json`` exists but is not one this command wrote.
        OSError: ``out`` cannot be written.
    """
    out.mkdir(parents=True, exist_ok=True)
    parts = list({p.username: p for p in parts}.values())
    old = _old_passwords(out / CREDENTIALS)
    passwords = {p.username: old.get(p.username) or secrets.token_urlsafe(24) for p in parts}
    users: list[dict[str, Any]] = [
        {"username": p.username, "password": passwords[p.username], "part": p.to_json()}
        for p in parts
    ]
    paths = {
        "password_file": out / "password_file",
        "acl_file": out / "acl_file",
        CREDENTIALS: out / CREDENTIALS,
        "mosquitto.conf": out / "mosquitto.conf",
    }
    where = out.resolve()
    _write(paths[CREDENTIALS], json.dumps({"users": users}, indent=2) + "\n", 0o600)
    _write(paths["password_file"], password_file(passwords), 0o600)
    _write(paths["acl_file"], acl_file(parts), 0o644)
    _write(
        paths["mosquitto.conf"],
        "# edgetwin: named users only, each held to its topics (edgetwin mqtt-acl)\n"
        "allow_anonymous false\n"
        f"password_file {where / 'password_file'}\n"
        f"acl_file {where / 'acl_file'}\n",
        0o644,
    )
    return paths


def mqtt_acl(
    out: Annotated[
        Path, typer.Option("--out", help="folder for password_file, acl_file, credentials.json")
    ],
    tenant: Annotated[
        str | None, typer.Option("--tenant", help="the plant's tenant (default: the setting)")
    ] = None,
    plant: Annotated[
        str | None, typer.Option("--plant", help="the plant (default: the setting)")
    ] = None,
    device: Annotated[
        list[str] | None,
        typer.Option(
            "--device",
            help="LINE/MACHINE of a device that speaks MQTT; repeat it (default: the devices"
            " of the enabled packs' simulators)",
        ),
    ] = None,
    edge: Annotated[
        list[str] | None,
        typer.Option("--edge", help="an edge id of the plant; repeat it (default: the setting)"),
    ] = None,
) -> None:
    """Write a Mosquitto password_file and acl_file for the plant's parts and devices.

    Each of edgetwin's parts (cloud, edges, simulators) and each device gets a user of its own,
    held to its own topics; anonymous clients get nothing. Passwords go to credentials.json
    (mode 0600) in --out and are kept when the command runs again; none is printed.
    """
    try:
        settings = load_settings(tenant=tenant, plant=plant)
        devices = [parse_device(d) for d in device or ()]
        parts = plant_parts(
            settings, edges=edge or (), devices=devices, simulators=pack_devices(settings.packs)
        )
        paths = write_broker_files(out, parts)
    except (ConfigError, ValueError, KeyError) as exc:
        message = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        typer.secho(f"error: {message}", fg="red", err=True)
        raise typer.Exit(2) from exc
    counts = {r: sum(p.role is r for p in parts) for r in Role}
    summary = ", ".join(f"{n} {r}" for r, n in counts.items() if n)
    typer.echo(f"{len(parts)} MQTT users ({summary}) for {settings.tenant}/{settings.plant}:")
    for name, path in paths.items():
        secret = " (passwords; mode 0600, keep it secret)" if name == CREDENTIALS else ""
        typer.echo(f"  {path}{secret}")
    typer.echo(
        f"Mosquitto: include {paths['mosquitto.conf']} (or copy its lines) and reload the broker;"
        " give each part and device its user from credentials.json."
    )

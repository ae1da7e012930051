"""The embedded broker's users, one file each in ``<data-dir>/broker/users/`` (mode 0600).

Each edgetwin part (the cloud, an edge, a simulator) creates its own on first use with a random
password; the embedded broker reads the file of the user a client names, checks the password
and holds the client to the rules of the part stored with it
(:class:`edgetwin.security.mqtt_acl.MqttPart`). A file is
``{"username": ..., "password": ..., "part": {...}}``.

Several processes may create the same user at once: the file appears whole or not at all
(written aside, then hard-linked into place), and exactly one password wins.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
from pathlib import Path
from typing import Final

from edgetwin.security.mqtt_acl import MqttPart

USERS_DIR: Final = "broker/users"
_USERNAME: Final = re.compile(r"^[A-Za-z0-9_.\-/]{1,400}$")


def users_dir(data_dir: Path) -> Path:
    """``<data-dir>/broker/users``."""
    return data_dir / USERS_DIR


def user_file(data_dir: Path, username: str) -> Path | None:
    """The file of ``username``, or None if no part could have that name (``/`` becomes ``~``,
    a character no name segment holds, so the file is always directly in the folder)."""
    if not _USERNAME.match(username):
        return None
    return users_dir(data_dir) / (username.replace("/", "~") + ".json")


def load_user(data_dir: Path, username: str) -> tuple[MqttPart, str] | None:
    """``(part, password)`` of ``username``; None if there is no such user (or its file is not
    one edgetwin wrote: unreadable, or naming another user than its own)."""
    path = user_file(data_dir, username)
    if path is None:
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        part = MqttPart.from_json(data["part"])
        password = str(data["password"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if part.username != username or data.get("username") != username:
        return None
    return part, password


def ensure_user(data_dir: Path, part: MqttPart) -> str:
    """The password of ``part``'s user, creating the user (or updating its scope, keeping the
    password) as needed.

    Raises:
        OSError: the data dir cannot be written.
    """
    folder = users_dir(data_dir)
    folder.mkdir(parents=True, exist_ok=True)
    for made in (folder.parent, folder):
        made.chmod(0o700)
    path = user_file(data_dir, part.username)
    if path is None:  # names come from MqttPart's checked constructors
        raise ValueError(f"not a valid MQTT user name: {part.username!r}")
    for _ in range(10):
        # Files appear whole, so one that existed before it failed to load is damaged.
        existed = path.exists()
        old = load_user(data_dir, part.username)
        if old is not None and old[0] == part:
            return old[1]
        # A scope update keeps the password, so parts already connected stay valid.
        password = old[1] if old is not None else secrets.token_urlsafe(24)
        record = {"username": part.username, "password": password, "part": part.to_json()}
        tmp = folder / f".{path.stem}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                json.dump(record, fh)
                fh.flush()
                os.fsync(fh.fileno())
            if old is not None:
                os.replace(tmp, path)
                return password
            if existed:  # replace the damaged file, then read back what won
                os.replace(tmp, path)
                continue
            with contextlib.suppress(FileExistsError):  # else another process was first
                os.link(tmp, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    raise OSError(f"cannot settle the MQTT user file {path}")

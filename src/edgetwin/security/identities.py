"""Users, API tokens, login links, sessions and the audit log in one SQLite file of the data dir.

- Passwords are hashed with argon2id (argon2-cffi's defaults, RFC 9106's second recommended
  option); a password is never stored or logged.
- A token is ``etk_<id>_<secret>``: the id is public (lists and the audit log show it), the
  secret has 256 bits from :func:`secrets.token_urlsafe` and only its SHA-256 is stored. A slow
  hash adds nothing for a secret that long, and a token is checked on every request.
- A one-time login link carries a code (also 256 bits, stored as SHA-256) that is valid once,
  for ``LOGIN_LINK_TTL_S``.
- The file and the ``secrets/`` folder beside it are created with mode 0600/0700.

Several cloud workers on one machine share the file (SQLite WAL). Across machines, use one data
dir on shared storage or create the same tokens on each.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import sqlite3
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from edgetwin.core.ids import valid_segment
from edgetwin.core.security import Caller, CallerKind, Role
from edgetwin.sqlite_file import SqliteFile

FILE_NAME: Final = "identities.db"
TOKEN_PREFIX: Final = "etk_"  # noqa: S105 - a prefix, not a secret
LOGIN_LINK_TTL_S: Final = 24 * 3600.0
SESSION_TTL_S: Final = 12 * 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY, password_hash TEXT, role TEXT NOT NULL, tenants TEXT NOT NULL,
    created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS tokens (
    id TEXT PRIMARY KEY, secret_sha256 TEXT NOT NULL, kind TEXT NOT NULL, role TEXT NOT NULL,
    tenants TEXT NOT NULL, plants TEXT NOT NULL DEFAULT '[]',
    device_types TEXT NOT NULL DEFAULT '[]', label TEXT NOT NULL DEFAULT '',
    created REAL NOT NULL, revoked REAL);
CREATE TABLE IF NOT EXISTS login_codes (
    code_sha256 TEXT PRIMARY KEY, user TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS sessions (
    id_sha256 TEXT PRIMARY KEY, user TEXT NOT NULL, csrf TEXT NOT NULL, expires REAL NOT NULL);
CREATE TABLE IF NOT EXISTS audit (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, at REAL NOT NULL, caller TEXT NOT NULL,
    tenant TEXT NOT NULL, action TEXT NOT NULL, target TEXT NOT NULL, outcome TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '');
CREATE INDEX IF NOT EXISTS audit_tenant ON audit (tenant, seq);
"""


def identities_path(data_dir: Path, identities_file: Path | None = None) -> Path:
    """The identity file: ``identities_file`` when set (cloud workers and edges on one machine
    with data dirs of their own share one this way), else ``<data-dir>/identities.db``."""
    return identities_file if identities_file is not None else data_dir / FILE_NAME


def _sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class UserInfo:
    name: str
    role: Role
    tenants: frozenset[str]
    created: float
    has_password: bool


@dataclass(frozen=True)
class TokenInfo:
    """A token as lists show it: never its secret."""

    id: str
    kind: CallerKind
    role: Role
    tenants: frozenset[str]
    plants: frozenset[str]
    device_types: frozenset[str]
    label: str
    created: float
    revoked: float | None


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: float
    caller: str
    tenant: str
    action: str
    target: str
    outcome: str
    detail: str


def _check_tenants(tenants: Iterable[str]) -> frozenset[str]:
    found = frozenset(tenants)
    if not found:
        raise ValueError("give at least one tenant (or '*' for all)")
    bad = [t for t in found if t != "*" and not valid_segment(t)]
    if bad:
        raise ValueError(f"not a tenant name: {', '.join(sorted(bad))}")
    return found


class IdentityStore(SqliteFile):
    """The identity file of one data dir. Thread-safe; every call is one short transaction.

    Raises ``ValueError`` with a message fit for a user on bad input (an unknown role, a
    duplicate user, a bad tenant name).
    """

    schema = _SCHEMA
    check_same_thread = False  # the cloud calls it from its event loop and from threads

    def __init__(self, data_dir: Path, identities_file: Path | None = None) -> None:
        super().__init__(identities_path(data_dir, identities_file))
        self._lock = threading.Lock()
        self._hasher = PasswordHasher()

    def open(self) -> None:
        """Open (creating it with mode 0600 on first use: it holds hashes and the audit log)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        if not self.path.exists():
            os.close(os.open(self.path, os.O_WRONLY | os.O_CREAT, 0o600))
        super().open()
        self.db.execute("PRAGMA busy_timeout=5000")  # several workers and the CLI share it

    # -- users --
    def add_user(
        self, name: str, role: Role, tenants: Iterable[str], password: str | None = None
    ) -> UserInfo:
        if not valid_segment(name):
            raise ValueError(f"not a user name: {name!r} (letters, digits, - and _)")
        scope = _check_tenants(tenants)
        pw_hash = self._hasher.hash(password) if password else None
        with self._lock:
            try:
                self.db.execute(
                    "INSERT INTO users VALUES (?, ?, ?, ?, ?)",
                    (name, pw_hash, role.value, json.dumps(sorted(scope)), time.time()),
                )
            except sqlite3.IntegrityError as exc:
                raise ValueError(f"user {name!r} exists already") from exc
        return self.user(name)  # type: ignore[return-value]

    def set_password(self, name: str, password: str) -> None:
        with self._lock:
            cur = self.db.execute(
                "UPDATE users SET password_hash = ? WHERE name = ?",
                (self._hasher.hash(password), name),
            )
        if cur.rowcount == 0:
            raise ValueError(f"no user {name!r}")

    def remove_user(self, name: str) -> bool:
        with self._lock:
            cur = self.db.execute("DELETE FROM users WHERE name = ?", (name,))
            self.db.execute("DELETE FROM sessions WHERE user = ?", (name,))
            self.db.execute("DELETE FROM login_codes WHERE user = ?", (name,))
        return cur.rowcount > 0

    def user(self, name: str) -> UserInfo | None:
        row = self.db.execute(
            "SELECT name, role, tenants, created, password_hash FROM users WHERE name = ?",
            (name,),
        ).fetchone()
        return _user(row) if row else None

    def users(self) -> list[UserInfo]:
        rows = self.db.execute(
            "SELECT name, role, tenants, created, password_hash FROM users ORDER BY name"
        ).fetchall()
        return [_user(r) for r in rows]

    def check_password(self, name: str, password: str) -> Caller | None:
        """The user's caller when the password is right; None otherwise (same answer for an
        unknown user, after the same work, so a login cannot probe for names)."""
        row = self.db.execute("SELECT password_hash FROM users WHERE name = ?", (name,)).fetchone()
        stored = row[0] if row and row[0] else _DUMMY_HASH
        try:
            self._hasher.verify(stored, password)
        except (VerificationError, InvalidHashError):
            return None
        if not row or not row[0]:
            return None
        return self.user_caller(name)

    def user_caller(self, name: str) -> Caller | None:
        info = self.user(name)
        if info is None:
            return None
        return Caller(name=info.name, role=info.role, tenants=info.tenants, kind=CallerKind.USER)

    # -- tokens --
    def create_token(
        self,
        role: Role,
        tenants: Iterable[str],
        *,
        kind: CallerKind = CallerKind.TOKEN,
        label: str = "",
        plants: Iterable[str] = (),
        device_types: Iterable[str] = (),
    ) -> tuple[TokenInfo, str]:
        """A new token and its secret string (the only time the secret exists in clear)."""
        scope = _check_tenants(tenants)
        token_id = secrets.token_hex(4)
        secret = secrets.token_urlsafe(32)
        with self._lock:
            self.db.execute(
                "INSERT INTO tokens (id, secret_sha256, kind, role, tenants, plants, device_types,"
                " label, created) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    token_id,
                    _sha256(secret),
                    kind.value,
                    role.value,
                    json.dumps(sorted(scope)),
                    json.dumps(sorted(set(plants))),
                    json.dumps(sorted(set(device_types))),
                    label,
                    time.time(),
                ),
            )
        info = self.token(token_id)
        assert info is not None
        return info, f"{TOKEN_PREFIX}{token_id}_{secret}"

    def token(self, token_id: str) -> TokenInfo | None:
        row = self.db.execute(f"SELECT {_KEY_FIELDS} FROM tokens WHERE id = ?", (token_id,))  # noqa: S608
        found = row.fetchone()
        return _token(found) if found else None

    def tokens(self, *, include_revoked: bool = False) -> list[TokenInfo]:
        where = "" if include_revoked else " WHERE revoked IS NULL"
        rows = self.db.execute(f"SELECT {_KEY_FIELDS} FROM tokens{where} ORDER BY created")  # noqa: S608
        return [_token(r) for r in rows.fetchall()]

    def revoke_token(self, token_id: str) -> bool:
        with self._lock:
            cur = self.db.execute(
                "UPDATE tokens SET revoked = ? WHERE id = ? AND revoked IS NULL",
                (time.time(), token_id),
            )
        return cur.rowcount > 0

    def resolve_token(self, presented: str) -> Caller | None:
        """The caller a token string stands for; None for anything else (malformed, unknown,
        revoked, wrong secret)."""
        if not presented.startswith(TOKEN_PREFIX):
            return None
        token_id, sep, secret = presented[len(TOKEN_PREFIX) :].partition("_")
        if not sep or not token_id or not secret:
            return None
        row = self.db.execute(
            f"SELECT secret_sha256, {_KEY_FIELDS} FROM tokens WHERE id = ? AND revoked IS NULL",  # noqa: S608
            (token_id,),
        ).fetchone()
        if row is None or not hmac.compare_digest(row[0], _sha256(secret)):
            return None
        info = _token(row[1:])
        name = f"token:{info.id}"
        if info.kind in (CallerKind.EDGE, CallerKind.APP):
            name = f"{info.kind.value}:{info.label or info.id}"
        return Caller(
            name=name,
            role=info.role,
            tenants=info.tenants,
            kind=info.kind,
            plants=info.plants,
            device_types=info.device_types,
        )

    # -- login links and sessions --
    def create_login_code(self, user: str, ttl_s: float = LOGIN_LINK_TTL_S) -> str:
        if self.user(user) is None:
            raise ValueError(f"no user {user!r}")
        code = secrets.token_urlsafe(32)
        with self._lock:
            self.db.execute(
                "INSERT INTO login_codes VALUES (?, ?, ?)",
                (_sha256(code), user, time.time() + ttl_s),
            )
        return code

    def redeem_login_code(self, code: str) -> Caller | None:
        """The code's user, once: the code is gone after this call whatever it answers."""
        with self._lock:
            row = self.db.execute(
                "DELETE FROM login_codes WHERE code_sha256 = ? RETURNING user, expires",
                (_sha256(code),),
            ).fetchone()
        if row is None or row[1] < time.time():
            return None
        return self.user_caller(row[0])

    def create_session(self, user: str, ttl_s: float = SESSION_TTL_S) -> tuple[str, str]:
        """A new session id (for the cookie) and its CSRF token (for forms and headers)."""
        session_id, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(24)
        now = time.time()
        with self._lock:
            self.db.execute("DELETE FROM sessions WHERE expires < ?", (now,))
            self.db.execute(
                "INSERT INTO sessions VALUES (?, ?, ?, ?)",
                (_sha256(session_id), user, csrf, now + ttl_s),
            )
        return session_id, csrf

    def resolve_session(self, session_id: str) -> tuple[Caller, str] | None:
        """The session's caller and CSRF token; None when unknown or expired."""
        row = self.db.execute(
            "SELECT user, csrf, expires FROM sessions WHERE id_sha256 = ?", (_sha256(session_id),)
        ).fetchone()
        if row is None or row[2] < time.time():
            return None
        caller = self.user_caller(row[0])
        return (caller, row[1]) if caller else None

    def end_session(self, session_id: str) -> None:
        with self._lock:
            self.db.execute("DELETE FROM sessions WHERE id_sha256 = ?", (_sha256(session_id),))

    # -- audit --
    def audit(
        self,
        caller: str,
        action: str,
        target: str,
        outcome: str,
        *,
        tenant: str = "*",
        detail: str = "",
    ) -> None:
        """One audit record. ``detail`` must hold no secret (callers pass ids, never tokens)."""
        with self._lock:
            self.db.execute(
                "INSERT INTO audit (at, caller, tenant, action, target, outcome, detail)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (time.time(), caller, tenant, action, target, outcome, detail),
            )

    def audit_entries(
        self, tenants: frozenset[str], *, limit: int = 100, before: int | None = None
    ) -> list[AuditEntry]:
        """Newest first; only entries of ``tenants`` (``*`` = all; global entries, such as
        logins, belong to tenant ``*`` and show only to admins of every tenant)."""
        args: list[object] = []
        where = []
        if "*" not in tenants:
            where.append(f"tenant IN ({','.join('?' * len(tenants))})")
            args.extend(sorted(tenants))
        if before is not None:
            where.append("seq < ?")
            args.append(before)
        sql = "SELECT seq, at, caller, tenant, action, target, outcome, detail FROM audit"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY seq DESC LIMIT ?"
        args.append(limit)
        return [AuditEntry(*r) for r in self.db.execute(sql, args).fetchall()]

    # -- first start --
    def ensure_admin(self, name: str = "admin") -> str | None:
        """On a store without users: create admin ``name`` (every tenant, no password) and
        answer a one-time login code for it. None when users exist already."""
        with self._lock:
            count = self.db.execute("SELECT count(*) FROM users").fetchone()[0]
        if count:
            return None
        self.add_user(name, Role.ADMIN, ["*"])
        return self.create_login_code(name)

    def edge_token(self, data_dir: Path, edge_id: str, tenant: str, plant: str) -> str:
        """The edge's own credential, kept in ``<data-dir>/secrets/edge-<id>.token`` (0600):
        created on first use, reused after, replaced when revoked or scoped differently."""
        folder = data_dir / "secrets"
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        path = folder / f"edge-{edge_id}.token"
        if path.exists():
            text = path.read_text().strip()
            caller = self.resolve_token(text)
            if (
                caller is not None
                and caller.kind == CallerKind.EDGE
                and caller.tenants == frozenset({tenant})
                and caller.plants == frozenset({plant})
            ):
                return text
        _info, secret = self.create_token(
            Role.OPERATOR, [tenant], kind=CallerKind.EDGE, label=edge_id, plants=[plant]
        )
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secret + "\n")
        os.replace(tmp, path)
        return secret


_KEY_FIELDS: Final = "id, kind, role, tenants, plants, device_types, label, created, revoked"
_DUMMY_HASH: Final = PasswordHasher().hash("edgetwin: no such user")


def _user(row: tuple[object, ...]) -> UserInfo:
    name, role, tenants, created, pw_hash = row
    return UserInfo(
        name=str(name),
        role=Role(str(role)),
        tenants=frozenset(json.loads(str(tenants))),
        created=float(created),  # type: ignore[arg-type]
        has_password=bool(pw_hash),
    )


def _token(row: tuple[object, ...]) -> TokenInfo:
    token_id, kind, role, tenants, plants, types, label, created, revoked = row
    return TokenInfo(
        id=str(token_id),
        kind=CallerKind(str(kind)),
        role=Role(str(role)),
        tenants=frozenset(json.loads(str(tenants))),
        plants=frozenset(json.loads(str(plants))),
        device_types=frozenset(json.loads(str(types))),
        label=str(label),
        created=float(created),  # type: ignore[arg-type]
        revoked=float(revoked) if revoked is not None else None,  # type: ignore[arg-type]
    )

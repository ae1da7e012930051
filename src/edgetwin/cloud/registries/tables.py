"""The registries' tables and their versioned migrations (SQLite and PostgreSQL).

- ``registry_device_types``: one row per device type: the reference's metadata and the
  measurements its messages are expected to carry (``expected``: path -> [min, max]);
- ``registry_applications``: one row per application, with the reference's fields, the tenant
  it belongs to, and the id of its key (an identity of kind APP; the key's hash lives in the
  identity store, never here).

Migrations are numbered steps (:mod:`edgetwin.cloud.store.relational`), recorded in
``registry_migrations``.
"""

from __future__ import annotations

from typing import Final

from sqlalchemy import JSON, BigInteger, Column, Connection, Integer, MetaData, String, Table

from edgetwin.cloud.store import relational

metadata = MetaData()
_LOCK_KEY: Final = 0x6567_7265  # "egre": the registries' advisory lock

migrations_table = Table(
    "registry_migrations",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", String(200), nullable=False),
    Column("applied_ms", BigInteger, nullable=False),
)

device_types = Table(
    "registry_device_types",
    metadata,
    Column("device_type", String(64), primary_key=True),
    Column("device_type_name", String(200), nullable=False),
    Column("device_type_description", String(2000), nullable=False, default=""),
    Column("device_category", String(64), nullable=False, default=""),
    Column("capabilities", JSON, nullable=False),
    Column("data_format", String(32), nullable=False, default="json"),
    Column("update_frequency", String(64), nullable=True),
    Column("retention_policy", String(64), nullable=True),
    Column("expected", JSON, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)

applications = Table(
    "registry_applications",
    metadata,
    Column("id", String(36), primary_key=True),
    Column("tenant", String(64), nullable=False, index=True),
    Column("name", String(200), nullable=False),
    Column("developer", String(200), nullable=False, default=""),
    Column("description", String(2000), nullable=False, default=""),
    Column("platform", String(16), nullable=False),
    Column("category", String(100), nullable=False, default=""),
    Column("device_types", JSON, nullable=False),
    Column("version", String(32), nullable=False, default="1.0.0"),
    Column("contact_email", String(254), nullable=True),
    Column("status", String(16), nullable=False, default="active"),
    Column("token_id", String(64), nullable=True),
    Column("created_ms", BigInteger, nullable=False),
    Column("updated_ms", BigInteger, nullable=False),
)


def _v1(conn: Connection) -> None:
    device_types.create(conn, checkfirst=True)
    applications.create(conn, checkfirst=True)


MIGRATIONS: Final[list[relational.Step]] = [
    (1, "device types and applications", _v1),
]


def migrate(conn: Connection) -> list[int]:
    """Apply the missing steps of :data:`MIGRATIONS`; the versions applied now."""
    return relational.migrate(conn, migrations_table, MIGRATIONS, _LOCK_KEY)

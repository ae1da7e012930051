"""Who may see and do what: roles, callers and the rules between them (no I/O).

The roles table (``docs/security.md`` shows it with every route):

========  =====================================================================================
role      may
========  =====================================================================================
viewer    read readings, series, KPIs, devices, commands, edges, alerts of its tenants
operator  as viewer, and send commands and fault switches to its tenants' devices; ingest
admin     as operator, and manage users, tokens, registries and configuration; read the audit log
========  =====================================================================================

Two more kinds of caller hold a role with a narrower scope:

- an *edge* holds ``operator`` for ingest only, and only for its own tenant and plant;
- an *application* (the grid pack's app registry) holds ``viewer`` for the device types it
  registered for.

A caller never sees an object of a tenant outside its ``tenants``: such an object answers 404,
whatever id is given, so a caller cannot even learn that it exists.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Final


class Role(enum.StrEnum):
    """The three roles, in rising order of what they may do."""

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK: Final = {Role.VIEWER: 0, Role.OPERATOR: 1, Role.ADMIN: 2}


class CallerKind(enum.StrEnum):
    """How a caller proved who it is."""

    USER = "user"  # a person, by password or a one-time login link; then a session cookie
    TOKEN = "token"  # noqa: S105 - a kind of caller; an API token (``edgetwin token create``)
    EDGE = "edge"  # an edge's own credential: ingest for one tenant and plant
    APP = "app"  # an application's key: reads of its device types only


ALL_TENANTS: Final = "*"


@dataclass(frozen=True)
class Caller:
    """An authenticated caller.

    Attributes:
        name: who (a user name, a token's id, ``edge:<id>``, ``app:<id>``); goes to the audit log.
        role: what it may do.
        tenants: the tenants it may see; ``"*"`` is every tenant.
        kind: how it proved who it is.
        plants: an edge's plant(s); empty = no plant restriction.
        device_types: an application's device types; empty = no restriction.
    """

    name: str
    role: Role
    tenants: frozenset[str]
    kind: CallerKind = CallerKind.TOKEN
    plants: frozenset[str] = field(default_factory=frozenset)
    device_types: frozenset[str] = field(default_factory=frozenset)

    def may_see(self, tenant: str) -> bool:
        """Whether objects of ``tenant`` exist for this caller."""
        return ALL_TENANTS in self.tenants or tenant in self.tenants

    def may_see_plant(self, tenant: str, plant: str) -> bool:
        return self.may_see(tenant) and (not self.plants or plant in self.plants)

    def may_see_type(self, device_type: str | None) -> bool:
        """Whether data of ``device_type`` exists for this caller (an app sees only its own
        types; readings of a type no pack declares are outside every app's scope)."""
        if not self.device_types:
            return True
        return device_type is not None and device_type in self.device_types

    def at_least(self, role: Role) -> bool:
        return self.role.rank >= role.rank

    @property
    def scoped(self) -> bool:
        """An edge or an application: a caller held to a narrower scope than its role."""
        return self.kind in (CallerKind.EDGE, CallerKind.APP)


def parse_tenants(values: list[str] | tuple[str, ...]) -> frozenset[str]:
    """``["acme", "beta"]`` or ``["*"]`` as a set; raises ValueError on an empty list."""
    tenants = frozenset(v.strip() for v in values if v.strip())
    if not tenants:
        raise ValueError("give at least one tenant (or '*' for all)")
    return tenants

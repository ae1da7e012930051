"""Who may publish and subscribe where on the plant's MQTT broker (no I/O).

Every MQTT client of edgetwin is one :class:`MqttPart` with a user name of its own; its
:meth:`MqttPart.rules` are Mosquitto ACL lines (``topic read|write|readwrite|deny PATTERN``), read
the way Mosquitto reads them: a ``deny`` that matches refuses whatever else allows, otherwise
access is granted if any rule of the right kind matches. The embedded broker enforces the same
rules (:class:`Acl`) and ``edgetwin mqtt-acl`` writes them as a Mosquitto ``acl_file``.

=========================  ========================================================================
user                       may
=========================  ========================================================================
``edgetwin/cloud``         everything under ``v1/#`` (publishes commands, reads statuses, results)
``edgetwin/edge/T/P/E``    everything under ``v1/T/P/#`` (its tenant T and plant P)
``edgetwin/sim/N/T/P``     what each of its devices may, read ``v1/T/P/cmd`` (plant-wide commands)
                           and write its status ``v1/T/P/status/N-sim``
``device/T/P/L/M``         write its readings ``v1/T/P/L/M/+`` (not ``.../cmd``) and its command
                           replies ``.../cmd/reply``; read its commands ``.../cmd/device``
``edgetwin/pack/K/W/T/P``  pack K's part W whose devices speak topics of their own outside ``v1/``
                           (the grid's ``iot/...``): those only (:func:`foreign_part`)
``edgetwin/probe``         connect only (``edgetwin up`` waiting for the broker)
=========================  ========================================================================
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Final

from edgetwin.core.ids import valid_segment
from edgetwin.core.topics import (
    VERSION,
    command_topic,
    device_command_topic,
    device_reply_topic,
    status_topic,
)

PART_PREFIX: Final = "edgetwin/"
"""User names of edgetwin's own parts start so; a device's never does."""


class Role(StrEnum):
    """What kind of MQTT client a user is."""

    CLOUD = "cloud"
    EDGE = "edge"
    SIMULATOR = "sim"
    DEVICE = "device"
    PROBE = "probe"
    FOREIGN = "pack"


class Access(StrEnum):
    """A Mosquitto ACL access type."""

    READ = "read"
    WRITE = "write"
    READWRITE = "readwrite"
    DENY = "deny"


class Action(StrEnum):
    """What a client does with a topic: publish to it, subscribe to a filter, receive a message."""

    PUBLISH = "publish"
    SUBSCRIBE = "subscribe"
    RECEIVE = "receive"


@dataclass(frozen=True)
class Rule:
    """One ACL line: ``access`` on the topics that ``pattern`` (an MQTT filter) matches."""

    access: Access
    pattern: str

    def line(self) -> str:
        """The rule as a Mosquitto ``acl_file`` line."""
        return f"topic {self.access} {self.pattern}"


Device = tuple[str, str]
"""A device as ``(line, machine)``."""


@dataclass(frozen=True)
class MqttPart:
    """One MQTT user: an edgetwin part or a device, with the scope its rules come from.

    Build one with :func:`cloud_part`, :func:`edge_part`, :func:`simulator_part`,
    :func:`device_part` or :func:`probe_part`; they check the names (``ValueError``).
    """

    role: Role
    tenant: str = ""
    plant: str = ""
    name: str = ""  # the edge's id, the simulator's pack, or pack/part of a foreign part
    devices: tuple[Device, ...] = field(default=())
    topics: tuple[str, ...] = field(default=())  # a foreign part's topic filters

    @property
    def username(self) -> str:
        """The user name, e.g. ``edgetwin/edge/acme/plant-01/edge-01`` or ``device/acme/...``.

        Segments never hold ``/`` (:mod:`edgetwin.core.ids`), so a name means one part only."""
        r, t, p = self.role, self.tenant, self.plant
        if r is Role.CLOUD or r is Role.PROBE:
            return f"{PART_PREFIX}{r}"
        if r is Role.EDGE:
            return f"{PART_PREFIX}edge/{t}/{p}/{self.name}"
        if r is Role.SIMULATOR:
            return f"{PART_PREFIX}sim/{self.name}/{t}/{p}"
        if r is Role.FOREIGN:
            return f"{PART_PREFIX}pack/{self.name}/{t}/{p}"
        line, machine = self.devices[0]
        return f"device/{t}/{p}/{line}/{machine}"

    @property
    def is_part(self) -> bool:
        """True for edgetwin's own parts (they may use ``edgetwin-`` client ids)."""
        return self.role is not Role.DEVICE

    def rules(self) -> tuple[Rule, ...]:
        """The user's ACL, denials first (as Mosquitto applies them)."""
        t, p = self.tenant, self.plant
        if self.role is Role.CLOUD:
            return (Rule(Access.READWRITE, f"{VERSION}/#"),)
        if self.role is Role.EDGE:
            return (Rule(Access.READWRITE, f"{VERSION}/{t}/{p}/#"),)
        if self.role is Role.PROBE:
            return ()
        if self.role is Role.FOREIGN:
            return tuple(Rule(Access.READWRITE, topic) for topic in self.topics)
        denials = [Rule(Access.DENY, command_topic(t, p, *d)) for d in self.devices]
        grants = [rule for d in self.devices for rule in _device_grants(t, p, *d)]
        if self.role is Role.SIMULATOR:
            grants += [
                Rule(Access.READ, command_topic(t, p)),
                Rule(Access.WRITE, status_topic(t, p, f"{self.name}-sim")),
            ]
        return (*denials, *grants)

    def to_json(self) -> dict[str, Any]:
        """The part as JSON (what :meth:`from_json` reads back)."""
        return {
            "role": str(self.role),
            "tenant": self.tenant,
            "plant": self.plant,
            "name": self.name,
            "devices": [list(d) for d in self.devices],
            "topics": list(self.topics),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MqttPart:
        """Read :meth:`to_json`'s output, checking every name.

        Raises:
            ValueError: an unknown role, a name that breaks :mod:`edgetwin.core.ids`' rule.
        """
        try:
            role = Role(data["role"])
            t, p, name = str(data["tenant"]), str(data["plant"]), str(data["name"])
            devices = tuple((str(d[0]), str(d[1])) for d in data["devices"])
            topics = tuple(str(topic) for topic in data.get("topics", ()))
        except (KeyError, TypeError, IndexError) as exc:
            raise ValueError(f"not an MQTT part: {exc!r}") from exc
        if role is Role.CLOUD:
            return cloud_part()
        if role is Role.PROBE:
            return probe_part()
        if role is Role.EDGE:
            return edge_part(t, p, name)
        if role is Role.SIMULATOR:
            return simulator_part(name, t, p, devices)
        if role is Role.FOREIGN:
            pack, _, who = name.partition("/")
            return foreign_part(pack, who, t, p, topics)
        if len(devices) != 1:
            raise ValueError("a device part names exactly one device")
        return device_part(t, p, *devices[0])


def _device_grants(tenant: str, plant: str, line: str, machine: str) -> list[Rule]:
    return [
        Rule(Access.WRITE, f"{VERSION}/{tenant}/{plant}/{line}/{machine}/+"),
        Rule(Access.WRITE, device_reply_topic(tenant, plant, line, machine)),
        Rule(Access.READ, device_command_topic(tenant, plant, line, machine)),
    ]


def _check(*names: str) -> None:
    bad = [n for n in names if not valid_segment(n)]
    if bad:
        raise ValueError(f"{bad[0]!r} is not a valid name (1-64 of letters, digits, '_', '.', '-')")


def cloud_part() -> MqttPart:
    """The cloud (every plant: it publishes commands and reads statuses and command results)."""
    return MqttPart(Role.CLOUD)


def probe_part() -> MqttPart:
    """A client that only checks the broker answers; it may use no topic."""
    return MqttPart(Role.PROBE)


def edge_part(tenant: str, plant: str, edge_id: str) -> MqttPart:
    """The edge ``edge_id`` of one tenant's plant (everything under ``v1/{tenant}/{plant}/#``)."""
    _check(tenant, plant, edge_id)
    return MqttPart(Role.EDGE, tenant, plant, edge_id)


def simulator_part(name: str, tenant: str, plant: str, devices: Iterable[Device]) -> MqttPart:
    """The simulator of pack ``name``, playing ``devices`` (``(line, machine)`` pairs)."""
    devs = tuple(sorted(set(devices)))
    _check(name, tenant, plant, *(s for d in devs for s in d))
    return MqttPart(Role.SIMULATOR, tenant, plant, name, devs)


def device_part(tenant: str, plant: str, line: str, machine: str) -> MqttPart:
    """One device that speaks MQTT itself: its own readings, replies and commands only."""
    _check(tenant, plant, line, machine)
    return MqttPart(Role.DEVICE, tenant, plant, "", ((line, machine),))


def foreign_part(pack: str, who: str, tenant: str, plant: str, topics: Iterable[str]) -> MqttPart:
    """Part ``who`` (``source``, ``sim``) of ``pack``, whose devices speak topics of their own
    outside ``v1/`` (the grid's ``iot/{device}/raw``): read and write on ``topics`` only.

    Such topics name no tenant or plant, so the plant's broker is their boundary.

    Raises:
        ValueError: a bad name, or a filter that is not MQTT's, reaches into ``v1/`` or is
            ``#`` (everything).
    """
    _check(pack, who, tenant, plant)
    filters = tuple(sorted(set(topics)))
    for topic in filters:
        levels = topic.split("/")
        bad_wildcard = any(
            ("#" in lv and (lv != "#" or i != len(levels) - 1)) or ("+" in lv and lv != "+")
            for i, lv in enumerate(levels)
        )
        if not topic or bad_wildcard or levels[0] in (VERSION, "#", "+") or topic.startswith("$"):
            raise ValueError(
                f"{topic!r}: a foreign part's topics are MQTT filters outside {VERSION}/ that"
                " start with a name (iot/+/raw)"
            )
    if not filters:
        raise ValueError("a foreign part needs at least one topic filter")
    return MqttPart(Role.FOREIGN, tenant, plant, f"{pack}/{who}", topics=filters)


def topic_matches(pattern: str, topic: str) -> bool:
    """True if the MQTT filter ``pattern`` matches the topic name ``topic`` (MQTT 3.1.1, 4.7)."""
    pat, top = pattern.split("/"), topic.split("/")
    if topic.startswith("$") and pat[0] in ("+", "#"):  # [MQTT-4.7.2-1]
        return False
    for i, level in enumerate(pat):
        if level == "#":
            return True  # "a/#" also matches "a" [MQTT-4.7.1-2]
        if i >= len(top) or level not in ("+", top[i]):
            return False
    return len(pat) == len(top)


def filters_overlap(a: str, b: str) -> bool:
    """True if some topic name is matched by both MQTT filters ``a`` and ``b``."""
    x, y = a.split("/"), b.split("/")
    for u, v in zip(x, y, strict=False):
        if "#" in (u, v):
            return True
        if u != v and "+" not in (u, v):
            return False
    if len(x) == len(y):
        return True
    longer, shorter = (x, y) if len(x) > len(y) else (y, x)
    return len(longer) == len(shorter) + 1 and longer[-1] == "#"


_READS = (Access.READ, Access.READWRITE)
_WRITES = (Access.WRITE, Access.READWRITE)
_CACHE_MAX = 4096


class Acl:
    """A user's rules, ready to check (with a bounded cache of recent answers per topic)."""

    def __init__(self, rules: Iterable[Rule]) -> None:
        rules = tuple(rules)
        self.denials = tuple(r.pattern for r in rules if r.access is Access.DENY)
        self.reads = tuple(r.pattern for r in rules if r.access in _READS)
        self.writes = tuple(r.pattern for r in rules if r.access in _WRITES)
        self._cache: dict[tuple[Action, str], bool] = {}

    def allows(self, action: Action, topic: str) -> bool:
        """May the user ``action`` on ``topic`` (a filter for SUBSCRIBE, a topic name otherwise)?

        A subscription is granted when its filter can match some topic the user may read; each
        message is then checked again on RECEIVE (Mosquitto grants every subscription and checks
        only the messages; refusing the hopeless ones tells a misconfigured client at once)."""
        key = (action, topic)
        answer = self._cache.get(key)
        if answer is None:
            answer = self._decide(action, topic)
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[key] = answer
        return answer

    def _decide(self, action: Action, topic: str) -> bool:
        if action is Action.SUBSCRIBE:
            return any(filters_overlap(p, topic) for p in self.reads)
        if any(topic_matches(d, topic) for d in self.denials):
            return False
        patterns = self.writes if action is Action.PUBLISH else self.reads
        return any(topic_matches(p, topic) for p in patterns)


def acl_file(parts: Iterable[MqttPart]) -> str:
    """A Mosquitto ``acl_file`` holding every part's rules (no rule for anonymous clients)."""
    blocks = [
        "# Generated by edgetwin mqtt-acl: one block per user; denials first.\n"
        "# No line before the first 'user': anonymous clients may use no topic.\n"
    ]
    for part in parts:
        lines = [f"user {part.username}", *(r.line() for r in part.rules())]
        blocks.append("\n".join(lines) + "\n")
    return "\n".join(blocks)


PBKDF2_ITERATIONS: Final = 101
"""Mosquitto 2.0's ``mosquitto_passwd`` default for ``sha512-pbkdf2`` (``$7$``)."""


def mosquitto_hash(password: str, *, salt: bytes | None = None) -> str:
    """``$7$ITERATIONS$SALT$HASH``: Mosquitto's ``sha512-pbkdf2`` password hash.

    PBKDF2-HMAC-SHA512 over the UTF-8 password with a 12-byte random salt, 101 iterations, a
    64-byte key; salt and key in standard base64 (Mosquitto 2.0 ``mosquitto_passwd``,
    ``src/password_mosq.c``; the format is checked against the real tool by the tests).
    """
    salt = secrets.token_bytes(12) if salt is None else salt
    key = hashlib.pbkdf2_hmac("sha512", password.encode("utf-8"), salt, PBKDF2_ITERATIONS, 64)
    b64 = base64.b64encode
    return f"$7${PBKDF2_ITERATIONS}${b64(salt).decode()}${b64(key).decode()}"


def password_file(passwords: Mapping[str, str]) -> str:
    """A Mosquitto ``password_file``: ``user:$7$...`` per user (user name -> password)."""
    return "".join(f"{user}:{mosquitto_hash(pw)}\n" for user, pw in sorted(passwords.items()))

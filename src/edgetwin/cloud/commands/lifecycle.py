"""A command's lifecycle and its target: the vocabulary every part of ``commands`` shares.

::

    queued -> sent -> delivered -> succeeded | failed
       \\________\\________\\_____-> expired   (ttl passed before the device answered)

States only move forward; a late or repeated report changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

CommandState = Literal["queued", "sent", "delivered", "succeeded", "failed", "expired"]

ORDER: Final = {"queued": 0, "sent": 1, "delivered": 2, "succeeded": 3, "failed": 3, "expired": 3}
TERMINAL: Final = frozenset({"succeeded", "failed", "expired"})


def advance(current: str, new: str) -> bool:
    """Whether ``current -> new`` is a forward move of the lifecycle (both must be states)."""
    if current in TERMINAL:
        return False
    return ORDER[new] > ORDER[current] or (new in TERMINAL and ORDER[new] >= ORDER[current])


@dataclass(frozen=True)
class Target:
    """The device a command is for: its tenant, plant, line and machine (id segments)."""

    tenant: str
    plant: str
    line: str
    machine: str

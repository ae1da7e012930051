"""The one rule for names in topics and ids: tenant, plant, line, machine, metric, edge id.

A segment is 1-64 characters of ASCII letters, digits, ``_``, ``.`` or ``-``: safe in an MQTT
topic (no ``/``, ``+``, ``#``), in a URL path and in a file name.
"""

from __future__ import annotations

import re
from typing import Annotated, Final

from pydantic import Field

SEGMENT_PATTERN: Final = r"^[A-Za-z0-9_.\-]{1,64}$"
_SEGMENT: Final = re.compile(SEGMENT_PATTERN)

Segment = Annotated[str, Field(pattern=SEGMENT_PATTERN)]
"""A pydantic field type that enforces the rule."""


def valid_segment(segment: str) -> bool:
    """True if ``segment`` follows the rule (see the module's docstring)."""
    return bool(_SEGMENT.match(segment))

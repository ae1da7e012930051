"""Which sinks a reading is for: each sink's optional ``readings`` filter, applied at the commit.

A sink's table in the pipeline may say which readings it takes::

    [[sinks]]
    type = "cmm_mes"
    name = "mes"
    readings = { lines = ["metrology"], machines = ["cmm-*"] }

``lines``, ``machines`` and ``metrics`` are lists of glob patterns (``fnmatch``, case-sensitive:
``*``, ``?``, ``[seq]``); a reading matches when each given list has a pattern that matches its
field (an absent list matches everything). A sink without a filter takes every reading. The
buffer writes an outbox row only for the sinks whose filter matches, so a sink's backlog holds
only the readings it is for. A reading that no sink takes is not stored: it is counted as
dropped with the reason ``unrouted`` (in the edge's status and metrics).

:class:`Routing` turns the filters into one integer per reading, a bit mask over the buffer's
sinks (bit ``i`` set: ``sinks[i]`` takes it), memoised per series, so the commit pays one dict
lookup per reading (and nothing when no sink has a filter).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from fnmatch import fnmatchcase
from typing import Annotated

import orjson
from pydantic import BaseModel, ConfigDict, Field

from edgetwin.core.point import Point

__all__ = ["UNROUTED", "ReadingFilter", "Routing"]

UNROUTED = "unrouted"  # the drop reason of a reading no sink takes
_CACHE_MAX = 65_536  # series memoised; a plant with more series only recomputes some

Patterns = Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]


class ReadingFilter(BaseModel):
    """``readings = { lines = [...], machines = [...], metrics = [...] }`` of a ``[[sinks]]``
    table: glob patterns per field; an absent field matches every reading. An empty list is
    refused (it would take nothing: leave the key out to take everything)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    lines: Patterns | None = None
    machines: Patterns | None = None
    metrics: Patterns | None = None

    def matches(self, line: str, machine: str, metric: str) -> bool:
        """True when every given list has a pattern matching the reading's field."""
        return (
            _any(self.lines, line) and _any(self.machines, machine) and _any(self.metrics, metric)
        )


def _any(patterns: list[str] | None, value: str) -> bool:
    return patterns is None or any(fnmatchcase(value, p) for p in patterns)


class Routing:
    """The sinks' filters as bit masks over ``sinks`` (the buffer's order).

    Args:
        sinks: the buffer's sink names, in order.
        filters: sink name -> its filter; a sink absent or mapped to ``None`` takes everything.

    Raises:
        ValueError: a filter names a sink that is not in ``sinks``.
    """

    def __init__(
        self, sinks: Sequence[str], filters: Mapping[str, ReadingFilter | None] | None = None
    ) -> None:
        given = {k: v for k, v in (filters or {}).items() if v is not None}
        unknown = set(given) - set(sinks)
        if unknown:
            raise ValueError(f"a reading filter for no sink: {', '.join(sorted(unknown))}")
        self.sinks = tuple(sinks)
        self.filters: dict[str, ReadingFilter] = given
        self.all = (1 << len(self.sinks)) - 1
        # bits every reading has (sinks without a filter) and the filtered sinks' bits
        self._always = sum(1 << i for i, s in enumerate(self.sinks) if s not in given)
        self._tests = [(1 << i, given[s]) for i, s in enumerate(self.sinks) if s in given]
        self._cache: dict[tuple[str, str, str], int] = {}

    @property
    def everything(self) -> bool:
        """No sink has a filter: every reading goes to every sink (the commit skips routing)."""
        return not self._tests

    def mask(self, line: str, machine: str, metric: str) -> int:
        """The sinks that take a reading of this series, as a bit mask (0: none)."""
        key = (line, machine, metric)
        found = self._cache.get(key)
        if found is None:
            found = self._always
            for bit, f in self._tests:
                if f.matches(line, machine, metric):
                    found |= bit
            if len(self._cache) >= _CACHE_MAX:
                self._cache.clear()
            self._cache[key] = found
        return found

    def masks(self, points: Iterable[Point]) -> list[int]:
        """:meth:`mask` of each point, in order."""
        cache, mask = self._cache, self.mask
        out = []
        for p in points:
            m = cache.get((p.line, p.machine, p.metric))
            out.append(mask(p.line, p.machine, p.metric) if m is None else m)
        return out

    def takes(self, sink: str, payload: bytes) -> bool:
        """Whether ``sink`` takes the buffered reading ``payload`` (wire JSON); for the rare
        pass over a backlog, not the commit path."""
        f = self.filters.get(sink)
        if f is None:
            return True
        r = orjson.loads(payload)
        return f.matches(
            str(r.get("line", "")), str(r.get("machine", "")), str(r.get("metric", ""))
        )

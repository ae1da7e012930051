"""Number and duration formatting for display. Pure functions."""

from __future__ import annotations

from datetime import datetime

DASH = "–"


def integer(value: float | None) -> str:
    """``12345`` -> ``12,345``; ``None`` -> a dash."""
    return DASH if value is None else f"{round(value):,}"


def decimal(value: float | None, digits: int = 1) -> str:
    """A fixed number of decimals; ``None`` -> a dash."""
    return DASH if value is None else f"{value:,.{digits}f}"


def age(seconds: float | None) -> str:
    """A short age: ``0.4 s``, ``42 s``, ``3 min 5 s``, ``2 h 7 min``; ``None`` -> a dash."""
    if seconds is None:
        return DASH
    if seconds < 10:
        return f"{seconds:.1f} s"
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60} s"
    return f"{s // 3600} h {s % 3600 // 60} min"


def instant(iso: str) -> float:
    """A time as the API writes it (ISO 8601 UTC, ``...Z``) as UNIX seconds."""
    return datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()

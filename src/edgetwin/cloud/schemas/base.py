"""The base of every response model."""

from __future__ import annotations

from datetime import UTC, datetime

from pydantic import BaseModel, ConfigDict

from edgetwin.core.point import format_ts


class Public(BaseModel):
    """A response body. Unknown keys are refused rather than silently dropped: a service that
    returns a key its model does not declare fails loudly (in the tests) instead of losing it
    from the API."""

    model_config = ConfigDict(extra="forbid")


def iso_seconds(seconds: float) -> str:
    """UNIX seconds as the API writes every time: ISO 8601, UTC, milliseconds, ``Z``."""
    return format_ts(datetime.fromtimestamp(seconds, UTC))

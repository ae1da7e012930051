"""The base of every response model."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Public(BaseModel):
    """A response body. Unknown keys are refused rather than silently dropped: a service that
    returns a key its model does not declare fails loudly (in the tests) instead of losing it
    from the API."""

    model_config = ConfigDict(extra="forbid")

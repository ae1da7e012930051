"""``POST /api/v1/ingest``."""

from __future__ import annotations

from edgetwin.cloud.schemas.base import Public


class IngestCounts(Public):
    """The store committed the request: ``accepted`` readings were new, ``duplicate`` readings
    had an id it already held (and were ignored). Their sum is the request's reading count."""

    accepted: int
    duplicate: int

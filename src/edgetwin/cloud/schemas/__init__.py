"""The cloud API's response (and request) models, one module per resource, as in the FastAPI
full-stack template. Services may keep returning plain dicts of these shapes; the routes declare
the models (``response_model=``) so that ``/docs`` describes every answer and FastAPI checks it.
"""

from edgetwin.cloud.schemas.base import Public
from edgetwin.cloud.schemas.commands import (
    CommandCreate,
    CommandDevice,
    CommandRecord,
    CommandStep,
)
from edgetwin.cloud.schemas.edges import AlertPublic, EdgeAlert, EdgePublic
from edgetwin.cloud.schemas.ingest import IngestCounts
from edgetwin.cloud.schemas.live import (
    AlertEvent,
    CommandEvent,
    LiveEvent,
    ReadingData,
    ReadingEvent,
)
from edgetwin.cloud.schemas.series import Series, SeriesBucket
from edgetwin.cloud.schemas.status import Device, DeviceMetric, Health, Stats, StoreInfo

__all__ = [
    "AlertEvent",
    "AlertPublic",
    "CommandCreate",
    "CommandDevice",
    "CommandEvent",
    "CommandRecord",
    "CommandStep",
    "Device",
    "DeviceMetric",
    "EdgeAlert",
    "EdgePublic",
    "Health",
    "IngestCounts",
    "LiveEvent",
    "Public",
    "ReadingData",
    "ReadingEvent",
    "Series",
    "SeriesBucket",
    "Stats",
    "StoreInfo",
]

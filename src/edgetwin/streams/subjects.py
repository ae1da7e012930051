"""Subjects, streams and message ids of the stream backbone (no I/O).

==========================  =============  ===================================================
subject                     stream         carries
==========================  =============  ===================================================
``iot.raw``                 IOT_INGEST     each device message as the device sent it
``iot.trends``              IOT_INGEST     each trends message, unchanged
``iot.status``              IOT_INGEST     each status message (online, last will), unchanged
``iot.enriched``            IOT_ENRICHED   every raw message, enriched (all device types)
``iot.{type}.enriched``     IOT_ENRICHED   the same, one subject per device type
==========================  =============  ===================================================
"""

from __future__ import annotations

import re
from typing import Final

RAW: Final = "iot.raw"
TRENDS: Final = "iot.trends"
STATUS: Final = "iot.status"
ENRICHED: Final = "iot.enriched"
INGEST_STREAM: Final = "IOT_INGEST"
ENRICHED_STREAM: Final = "IOT_ENRICHED"
STREAM_SUBJECTS: Final = {
    INGEST_STREAM: [RAW, TRENDS, STATUS],
    ENRICHED_STREAM: [ENRICHED, "iot.*.enriched"],
}
REGISTRY_BUCKET: Final = "edgetwin_registry"
"""The JetStream key-value bucket the cloud mirrors its registries into; enrichers watch it."""
ENRICHER_DURABLE: Final = "enricher"
TOKEN: Final = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


def type_subject(device_type: str) -> str:
    """``iot.{device_type}.enriched``.

    Raises:
        ValueError: the type is not one subject token (letters, digits, ``_``, ``-``).
    """
    if not TOKEN.match(device_type):
        raise ValueError(f"device type {device_type!r} cannot be a subject token")
    return f"iot.{device_type}.enriched"


def enriched_ids(input_id: str) -> tuple[str, str]:
    """The message ids of an input's two enriched copies (``iot.enriched``, the type's)."""
    return f"{input_id}:enriched", f"{input_id}:typed"

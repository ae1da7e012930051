"""The grid twin: smart breakers on MQTT, enriched exactly once on NATS JetStream."""

from pathlib import Path

from edgetwin.packs import Pack
from edgetwin.packs.grid.device_types import DEVICE_TYPES
from edgetwin.packs.grid.sim import simulate

PACK = Pack(
    name="grid",
    title="Smart grid (breakers)",
    simulate=simulate,
    device_types=DEVICE_TYPES,
    pipeline=Path(__file__).with_name("pipeline.toml"),
    plugins="edgetwin.packs.grid.plugins:register_plugins",
    pages="edgetwin.packs.grid.page:pages",
)

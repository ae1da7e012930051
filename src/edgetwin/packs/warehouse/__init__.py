"""The warehouse twin: a tabletop high-bay warehouse (HBW), a conveyor with an oven and light
barriers, and a vacuum gripper robot (VGR), under a PackML controller that takes orders."""

from pathlib import Path

from edgetwin.packs import Pack
from edgetwin.packs.warehouse.device_types import DEVICE_TYPES
from edgetwin.packs.warehouse.sim import simulate

PACK = Pack(
    name="warehouse",
    title="Warehouse",
    simulate=simulate,
    device_types=DEVICE_TYPES,
    pipeline=Path(__file__).with_name("pipeline.toml"),
    plugins="edgetwin.packs.warehouse.link:register_plugins",
    cloud="edgetwin.packs.warehouse.cloud:cloud_part",
    pages="edgetwin.packs.warehouse.page:pages",
)

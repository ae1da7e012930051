"""The smart factory: 3 lines x 3 machines, 6 metrics each every 2 s, with fault injection."""

from edgetwin.packs import Pack
from edgetwin.packs.factory.device_types import DEVICE_TYPES
from edgetwin.packs.factory.model import MACHINES
from edgetwin.packs.factory.sim import simulate

PACK = Pack(
    name="factory",
    title="Smart factory",
    simulate=simulate,
    device_types=DEVICE_TYPES,
    cloud="edgetwin.packs.factory.cloud:cloud_part",
    pages="edgetwin.packs.factory.page:pages",
    devices=MACHINES,
)

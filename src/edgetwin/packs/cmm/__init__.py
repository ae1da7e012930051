"""The CMM twin: a CSV drop folder, thermal compensation at the edge, an MES and OPC UA."""

from pathlib import Path

from edgetwin.packs import Pack
from edgetwin.packs.cmm.device_types import DEVICE_TYPES
from edgetwin.packs.cmm.sim import simulate

PACK = Pack(
    name="cmm",
    title="CMM thermal compensation",
    simulate=simulate,
    device_types=DEVICE_TYPES,
    pipeline=Path(__file__).with_name("pipeline.toml"),
    pages="edgetwin.packs.cmm.page:pages",
    plugins="edgetwin.packs.cmm.plugins:register_plugins",
    simulators=(("mes", "edgetwin.packs.cmm.mes_sim:simulate"),),
)

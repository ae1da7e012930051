"""The smart factory: 3 lines x 3 machines, 6 metrics each every 2 s, with fault injection."""

from edgetwin.packs import Pack
from edgetwin.packs.factory.sim import simulate

PACK = Pack(name="factory", title="Smart factory", simulate=simulate)

"""The motor twin: an STM32-class controller on a serial line, commands down to the hardware,
edge anomaly detection and a 3D page."""

from edgetwin.packs import Pack
from edgetwin.packs.motor.device import simulate

PACK = Pack(name="motor", title="Motor", simulate=simulate)

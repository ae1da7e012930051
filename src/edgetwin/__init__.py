"""edgetwin: Industrial IoT digital twins, edge to cloud."""

__version__ = "0.1.0"

"""Sinks: where buffered readings go (one module each, registered by name in ``registry``)."""

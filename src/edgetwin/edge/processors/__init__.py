"""Processors: readings in, readings out (one module each, registered by name in ``registry``)."""

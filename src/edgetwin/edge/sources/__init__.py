"""Sources: where readings come from (one module each, registered by name in ``registry``)."""

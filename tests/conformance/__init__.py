"""Conformance: every registered source and sink keeps the plugin contracts."""

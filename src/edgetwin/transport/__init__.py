"""Connections shared by the edge, the cloud and the simulators (MQTT clients, credentials)."""

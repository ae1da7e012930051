"""The edge gateway: sources, the durable buffer, the uplink, the embedded broker."""

"""The stream backbone: NATS JetStream (an embedded ``nats-server`` or an existing cluster).

- :mod:`.kept`: the device messages a source keeps, unchanged, for the stream (SQLite, no NATS);
- :mod:`.subjects`: subject names and message ids;
- :mod:`.server`: starting the embedded server (JetStream on ``<data-dir>/nats``);
- :mod:`.setup`: the streams and their retention, the per-application users;
- :mod:`.enrich`: the enrichment service (``edgetwin enrich``);
- :mod:`.bench`: raw JetStream publish/consume and enrichment throughput.
"""

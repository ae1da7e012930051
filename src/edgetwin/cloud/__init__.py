"""The cloud service: ingest, stores, queries, live fan-out, and the dashboard's data."""

-- Schema version 4: the fault rules the rollups' fault counts were made with.
--
-- Which readings are faults is the packs' business (their device types declare, per metric, the
-- codes that count as a fault), not the store's. The store is opened with the enabled packs'
-- rules and counts faults by them at ingest; this table records the rules the counts in
-- rollup_1m/rollup_1h were made with. When the store is opened with other rules (a pack enabled
-- or disabled, a device type changed, or the first start after this upgrade) it recounts the
-- faults of every bucket whose readings are still kept, and records the new rules
-- (edgetwin.cloud.store.pg_faults). Buckets past the readings' retention keep their counts.
CREATE TABLE fault_rules (
    metric text NOT NULL,
    code double precision NOT NULL,
    PRIMARY KEY (metric, code)
);

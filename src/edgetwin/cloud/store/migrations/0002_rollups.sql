-- Schema version 2: 1-minute and 1-hour rollups, maintained in the ingest transaction.
--
-- A rollup row holds count, sum, min and max of one series in one bucket (and the number of
-- readings that are faults by the packs' rules, which the KPIs count), so long-range series and KPI queries read 1/60 or
-- 1/3600 of the rows. The 1-minute rollup also holds the newest reading of its bucket, which is
-- where "the current value" of a series now comes from: the newest bucket's newest reading.
-- That replaces series.last_ts/last_value, whose single row per series every concurrent
-- ingest transaction had to update.
-- Buckets are aligned on the Unix epoch with date_bin, independent of the session time zone.

CREATE TABLE rollup_1m (
    series_id integer NOT NULL,
    bucket timestamptz NOT NULL,
    n bigint NOT NULL,
    total double precision NOT NULL,
    lo double precision NOT NULL,
    hi double precision NOT NULL,
    faults bigint NOT NULL,
    last_ts timestamptz NOT NULL,
    last_value double precision NOT NULL,
    PRIMARY KEY (series_id, bucket)
);

CREATE TABLE rollup_1h (
    series_id integer NOT NULL,
    bucket timestamptz NOT NULL,
    n bigint NOT NULL,
    total double precision NOT NULL,
    lo double precision NOT NULL,
    hi double precision NOT NULL,
    faults bigint NOT NULL,
    PRIMARY KEY (series_id, bucket)
);

-- Retention deletes old buckets by time across all series.
CREATE INDEX rollup_1m_bucket ON rollup_1m (bucket);
CREATE INDEX rollup_1h_bucket ON rollup_1h (bucket);

-- Backfill from the readings a version-1 database already holds.
INSERT INTO rollup_1m (series_id, bucket, n, total, lo, hi, faults, last_ts, last_value)
SELECT r.series_id,
       date_bin('1 minute', r.ts, 'epoch'),
       count(*),
       sum(r.value),
       min(r.value),
       max(r.value),
       0,  -- faults: counted by the packs' rules when the store opens (0004, pg_faults.py)
       max(r.ts),
       (array_agg(r.value ORDER BY r.ts DESC))[1]
FROM readings r
GROUP BY 1, 2;

INSERT INTO rollup_1h (series_id, bucket, n, total, lo, hi, faults)
SELECT series_id, date_bin('1 hour', bucket, 'epoch'), sum(n), sum(total), min(lo), max(hi),
       sum(faults)
FROM rollup_1m
GROUP BY 1, 2;

-- Version 1 kept the current value in series.last_ts/last_value; from now on it is derived from
-- rollup_1m, which the backfill above filled from the very readings those columns came from.
ALTER TABLE series DROP COLUMN last_ts, DROP COLUMN last_value;

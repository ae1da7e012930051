-- Schema version 3: the audit log of device commands, shared by every cloud worker.
--
-- One row per command: the device it is for, what was asked (name, args), who asked and when,
-- its state, and every transition with its time and reporter (history). The JSON columns are
-- `json`, not `jsonb`: the log keeps what was sent as it was sent (key order, any string).
-- Every query names the tenant, except the dispatcher's scan of open commands and the lookup of
-- an edge's report, which names a command by the id the cloud issued.

CREATE TABLE commands (
    id uuid PRIMARY KEY,
    tenant text NOT NULL,
    plant text NOT NULL,
    line text NOT NULL,
    machine text NOT NULL,
    name text NOT NULL,
    args json NOT NULL,
    ttl_s double precision NOT NULL,
    idempotency_key text,
    requested_by text NOT NULL,
    state text NOT NULL
        CHECK (state IN ('queued', 'sent', 'delivered', 'succeeded', 'failed', 'expired')),
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL,
    detail json NOT NULL,
    history json NOT NULL
);

-- The same idempotency key for the same device is the same command.
CREATE UNIQUE INDEX commands_idempotency ON commands (tenant, plant, line, machine, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

-- A device's commands, newest first.
CREATE INDEX commands_device ON commands (tenant, plant, machine, created_at DESC);

-- The dispatcher reads the open commands several times a second; finished ones, the bulk of
-- an old log, stay out of this index.
CREATE INDEX commands_open ON commands (created_at)
    WHERE state IN ('queued', 'sent', 'delivered');

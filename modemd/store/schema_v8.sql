-- modemd state, version 8: the HTTP API's tokens and the answers it gave to idempotent
-- calls, and the webhooks' queue.

-- A token is a random secret shown once; only its SHA-256 is kept (the secret has 256 bits:
-- a fast hash is enough, no guessing can reach it). Revoked tokens stay, for the trail.
CREATE TABLE api_tokens (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    token_hash      TEXT NOT NULL UNIQUE,
    scopes          TEXT NOT NULL,                 -- JSON list
    created_at      REAL NOT NULL,
    created_by      TEXT NOT NULL,
    last_used_at    REAL,
    last_used_from  TEXT,
    revoked_at      REAL
);

-- POST /alerts with an Idempotency-Key (or an `id`): the first answer, given again to every
-- later call with the same key, across restarts.
CREATE TABLE api_answers (
    key             TEXT PRIMARY KEY,
    alert_id        TEXT NOT NULL,
    status          INTEGER NOT NULL,
    body            TEXT NOT NULL,                 -- JSON
    fields_sha256   TEXT NOT NULL,                 -- the alert asked for, to tell a key reused
    created_at      REAL NOT NULL
);

-- Webhooks: events are derived from what is recorded anyway (the audit trail, the inbound
-- log), each webhook reading them from its own cursor, so no send path waits on a webhook
-- and a crash loses none. An event's id comes from the row it was made from: stable.
CREATE TABLE webhook_cursors (
    webhook         TEXT PRIMARY KEY,              -- its URL
    audit_id        INTEGER NOT NULL,
    inbound_id      INTEGER NOT NULL
);

CREATE TABLE webhook_events (
    id              INTEGER PRIMARY KEY,
    webhook         TEXT NOT NULL,
    event_id        TEXT NOT NULL,
    type            TEXT NOT NULL,
    body            TEXT NOT NULL,                 -- the JSON POSTed, byte for byte
    created_at      REAL NOT NULL,
    state           TEXT NOT NULL DEFAULT 'queued'
                    CHECK (state IN ('queued', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL,
    last_error      TEXT,
    finished_at     REAL,
    UNIQUE (webhook, event_id)
);
CREATE INDEX webhook_events_queue ON webhook_events (webhook, state, id);

-- Webhooks an admin added in the console (beside those of the configuration file). The
-- secret is an HMAC key, needed as it is to sign: kept, never shown again nor logged.
CREATE TABLE webhooks (
    url             TEXT PRIMARY KEY,
    secret          TEXT NOT NULL,
    events          TEXT NOT NULL DEFAULT '[]',    -- JSON list; empty: every event
    created_at      REAL NOT NULL,
    created_by      TEXT NOT NULL
);

-- modemd state, version 1. Times are UNIX seconds (UTC).

CREATE TABLE subscribers (
    id              INTEGER PRIMARY KEY,
    phone           TEXT NOT NULL UNIQUE,          -- E.164
    name            TEXT NOT NULL DEFAULT '',
    commune         TEXT NOT NULL DEFAULT '',
    sector          TEXT NOT NULL DEFAULT '',
    commune_key     TEXT NOT NULL DEFAULT '',      -- folded for matching (case, accents, hyphens)
    sector_key      TEXT NOT NULL DEFAULT '',
    status          TEXT NOT NULL CHECK (status IN ('active', 'pending', 'unsubscribed')),
    consent_source  TEXT,                          -- import | sms | approval | cli
    consent_at      REAL,
    unsubscribed_at REAL,
    created_at      REAL NOT NULL,
    updated_at      REAL NOT NULL
);
CREATE INDEX subscribers_status ON subscribers (status);

CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    idempotency_key TEXT UNIQUE,                   -- the file's `id`, if it had one
    category        TEXT NOT NULL,
    message         TEXT NOT NULL,
    advice          TEXT NOT NULL,
    text            TEXT NOT NULL,                 -- the composed SMS
    encoding        TEXT NOT NULL,
    parts           INTEGER NOT NULL,
    priority        INTEGER NOT NULL,              -- 0 urgent, 1 normal
    target          TEXT NOT NULL,                 -- JSON
    issued_by       TEXT,
    source_name     TEXT,
    source_sha256   TEXT,
    done_name       TEXT,
    created_at      REAL NOT NULL,
    expires_at      REAL NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('active', 'done', 'expired', 'cancelled')),
    finished_at     REAL
);
CREATE INDEX alerts_queue ON alerts (state, priority, created_at);
CREATE INDEX alerts_source ON alerts (source_sha256);

CREATE TABLE deliveries (
    id              INTEGER PRIMARY KEY,
    alert_id        TEXT NOT NULL REFERENCES alerts (id),
    subscriber_id   INTEGER REFERENCES subscribers (id),
    phone           TEXT NOT NULL,
    state           TEXT NOT NULL
                    CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'cancelled')),
    concat_ref      INTEGER,                       -- kept so a resumed message reassembles
    parts_sent      INTEGER NOT NULL DEFAULT 0,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at REAL NOT NULL DEFAULT 0,
    last_error      TEXT,
    sent_at         REAL,
    report          TEXT,                          -- delivered | failed | pending (reports)
    UNIQUE (alert_id, phone)
);
CREATE INDEX deliveries_alert ON deliveries (alert_id, state, id);
-- What the dispatcher asks before every SMS: the first unsent delivery of an alert.
CREATE INDEX deliveries_unsent ON deliveries (alert_id, id)
    WHERE state IN ('queued', 'sending');

-- A part is recorded 'inflight' before AT+CMGS and 'sent' with its reference right after.
CREATE TABLE parts (
    delivery_id     INTEGER NOT NULL REFERENCES deliveries (id),
    seq             INTEGER NOT NULL,              -- 1-based
    state           TEXT NOT NULL CHECK (state IN ('inflight', 'sent')),
    modem           TEXT NOT NULL,
    reference       INTEGER,
    at              REAL NOT NULL,
    PRIMARY KEY (delivery_id, seq)
);
CREATE INDEX parts_reference ON parts (modem, reference);

-- What the throttle counts: one row per part handed to a modem (kept about 31 days).
CREATE TABLE send_log (
    id              INTEGER PRIMARY KEY,
    modem           TEXT NOT NULL,
    at              REAL NOT NULL,
    recipient       TEXT NOT NULL
);
CREATE INDEX send_log_at ON send_log (modem, at);

CREATE TABLE audit (
    id              INTEGER PRIMARY KEY,
    at              REAL NOT NULL,
    event           TEXT NOT NULL,
    alert_id        TEXT,
    phone           TEXT,
    detail          TEXT
);
CREATE INDEX audit_alert ON audit (alert_id);

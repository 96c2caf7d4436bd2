-- Alerts by SMS from registered numbers. A sender is a duty desk's phone with a name, a PIN
-- (Argon2id hash, never the PIN) and optionally the communes, trades and categories it may
-- target (JSON lists; empty: any). Wrong PINs and codes are counted per sender; three in an
-- hour lock it for an hour.
CREATE TABLE senders (
    id INTEGER PRIMARY KEY,
    phone TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    pin_hash TEXT NOT NULL,
    communes TEXT NOT NULL DEFAULT '[]',
    sectors TEXT NOT NULL DEFAULT '[]',
    categories TEXT NOT NULL DEFAULT '[]',
    locked_until REAL,          -- automatic lock (failures), until then
    locked INTEGER NOT NULL DEFAULT 0,  -- locked by an administrator, until unlocked
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);

CREATE TABLE sender_failures (
    id INTEGER PRIMARY KEY,
    sender_id INTEGER NOT NULL REFERENCES senders (id) ON DELETE CASCADE,
    at REAL NOT NULL,
    what TEXT NOT NULL          -- pin | code
);
CREATE INDEX sender_failures_at ON sender_failures (sender_id, at);

-- What waits for the sender's "OUI <code>": an alert to send or one to cancel. The code is
-- kept as a salted SHA-256 (it lives minutes and is bound to this row and this number).
CREATE TABLE sms_requests (
    id INTEGER PRIMARY KEY,
    sender_id INTEGER NOT NULL REFERENCES senders (id) ON DELETE CASCADE,
    action TEXT NOT NULL,       -- send | cancel
    fields TEXT NOT NULL,       -- send: the alert's fields (JSON); cancel: {"alert_id": ...}
    recipients INTEGER NOT NULL DEFAULT 0,
    code_salt TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    created_at REAL NOT NULL,
    expires_at REAL NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',  -- pending | done | abandoned | replaced
    alert_id TEXT,              -- the alert sent (send) or cancelled (cancel)
    reported_at REAL            -- send: when the end-of-alert SMS was queued
);
CREATE INDEX sms_requests_pending ON sms_requests (sender_id, state);
CREATE INDEX sms_requests_report ON sms_requests (action, state, reported_at);

-- modemd state, version 2: membership requests, opt-outs, inbound log, message kinds.

-- What a shopkeeper wrote after ADHESION (the shop's details), kept for the CCI.
ALTER TABLE subscribers ADD COLUMN request_text TEXT;
ALTER TABLE subscribers ADD COLUMN requested_at REAL;

-- Alerts and the SMS modemd sends on its own (replies, forwards to operators, notices)
-- share the queue; `kind` tells them apart.
ALTER TABLE alerts ADD COLUMN kind TEXT NOT NULL DEFAULT 'alert';
CREATE INDEX alerts_kind ON alerts (kind, created_at);

-- Delivery reports, per part: delivered | failed | pending.
ALTER TABLE parts ADD COLUMN report TEXT;

-- Every STOP, kept (CNIL practice: about 3 years) even if the member is removed, so an
-- import never re-subscribes a number that withdrew its consent.
CREATE TABLE optouts (
    phone           TEXT PRIMARY KEY,
    at              REAL NOT NULL,
    source          TEXT NOT NULL                  -- sms | cli
);

-- Inbound SMS: what came, what it was taken for, whether it got an automatic reply.
CREATE TABLE inbound (
    id              INTEGER PRIMARY KEY,
    at              REAL NOT NULL,
    phone           TEXT NOT NULL,
    kind            TEXT NOT NULL,                 -- stop | join | help | other | report
    text            TEXT,                          -- purged after retention.inbound_days
    replied         INTEGER NOT NULL DEFAULT 0,
    forwarded       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX inbound_phone ON inbound (phone, at);

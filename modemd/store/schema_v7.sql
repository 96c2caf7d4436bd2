-- modemd state, version 7: the people who use the web console, their sessions, and who
-- handled an inbound reply.

-- One row per console user. The password is an Argon2id hash (never the password); a TOTP
-- secret is kept only while the user has a second factor. Failed logins count up to a lock.
CREATE TABLE users (
    id              INTEGER PRIMARY KEY,
    login           TEXT NOT NULL UNIQUE,
    role            TEXT NOT NULL CHECK (role IN ('operateur', 'cci', 'admin')),
    password_hash   TEXT NOT NULL,
    totp_secret     TEXT,
    disabled        INTEGER NOT NULL DEFAULT 0,
    failed_logins   INTEGER NOT NULL DEFAULT 0,
    locked_until    REAL NOT NULL DEFAULT 0,
    created_at      REAL NOT NULL,
    last_login_at   REAL
);

-- Server-side sessions: the cookie carries a random token, the table only its SHA-256, so a
-- copy of the database opens no session. Closed at logout, at expiry, and when the user is
-- disabled, removed or given a new password.
CREATE TABLE web_sessions (
    token_hash      TEXT PRIMARY KEY,
    user_id         INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    csrf            TEXT NOT NULL,
    created_at      REAL NOT NULL,
    expires_at      REAL NOT NULL,
    client          TEXT
);
CREATE INDEX web_sessions_user ON web_sessions (user_id);

ALTER TABLE inbound ADD COLUMN handled_by TEXT;
ALTER TABLE inbound ADD COLUMN handled_at REAL;

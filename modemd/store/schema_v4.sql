-- Who did what: every change of state names its actor (cli:<user>, web:<login>, api:<token>,
-- sms:<sender>, system) and, where there is one, the client address it came from.
-- The trail is append-only: rows are added, never changed or removed (retention included).
ALTER TABLE audit ADD COLUMN actor TEXT NOT NULL DEFAULT 'system';
ALTER TABLE audit ADD COLUMN client TEXT;
CREATE INDEX audit_at ON audit (at);
CREATE INDEX audit_actor ON audit (actor);

CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only: entries cannot be changed');
END;

CREATE TRIGGER audit_no_delete BEFORE DELETE ON audit
BEGIN
    SELECT RAISE(ABORT, 'the audit trail is append-only: entries cannot be removed');
END;

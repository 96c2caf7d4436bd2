-- modemd state, version 5: channel-neutral parts. A part's message id is the channel's own
-- text (a modem's TP-MR, an SMPP message_id), and a half-sent message keeps the channel's
-- own note to resume it (a modem's concatenation reference), not PDU ideas.

ALTER TABLE parts ADD COLUMN message_id TEXT;
UPDATE parts SET message_id = CAST(reference AS TEXT) WHERE reference IS NOT NULL;
DROP INDEX parts_reference;
ALTER TABLE parts DROP COLUMN reference;
-- Receipts are matched by (channel, message id).
CREATE INDEX parts_message_id ON parts (modem, message_id);

ALTER TABLE deliveries ADD COLUMN resume TEXT;
UPDATE deliveries SET resume = CAST(concat_ref AS TEXT) WHERE concat_ref IS NOT NULL;
ALTER TABLE deliveries DROP COLUMN concat_ref;

-- modemd state, version 3: a pool of modems.

-- The modem a delivery must go through: a reply leaves from the number that was texted.
-- NULL: any modem of the pool.
ALTER TABLE deliveries ADD COLUMN modem TEXT;

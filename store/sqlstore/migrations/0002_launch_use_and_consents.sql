-- Single-use launches and remembered consents.
--
-- Placeholders and conventions as in 0001_init.sql. The previous release
-- keeps working against this schema while a rolling deploy runs both: it
-- inserts launches without used_at, which then reads 0 (unused), and it
-- never reads smart_consents.

-- 0 until ConsumeLaunch sets it; a launch binds one authorization.
ALTER TABLE smart_launches ADD COLUMN used_at BIGINT NOT NULL DEFAULT 0;

-- What a user approved for a client, one row per (subject, client_id);
-- saving again replaces the row.
CREATE TABLE smart_consents (
	subject {{KEY}} NOT NULL,
	client_id {{KEY}} NOT NULL,
	scope {{TEXT}} NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	PRIMARY KEY (subject, client_id)
){{TABLE}};

CREATE INDEX smart_consents_expires ON smart_consents (expires_at);

-- Apps a user revoked, and the lookup of a user's refresh tokens that
-- lists their apps.
--
-- Placeholders and conventions as in 0001_init.sql; {{TEXTKEY}} is the
-- index prefix length a TEXT column needs where the database asks for one
-- (MySQL), and nothing elsewhere. The previous release keeps working
-- against this schema while a rolling deploy runs both; it never reads
-- smart_app_revocations, so until it is replaced it does not refuse the
-- access tokens of a revoked app (their refresh tokens it does refuse:
-- RevokeApp revokes their families).

-- One row per (subject, client_id): the access tokens of the pair issued
-- before not_before are revoked until expires_at.
CREATE TABLE smart_app_revocations (
	subject {{KEY}} NOT NULL,
	client_id {{KEY}} NOT NULL,
	not_before BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	PRIMARY KEY (subject, client_id)
){{TABLE}};

CREATE INDEX smart_app_revocations_expires ON smart_app_revocations (expires_at);

CREATE INDEX smart_refresh_tokens_subject ON smart_refresh_tokens (subject{{TEXTKEY}}, client_id);

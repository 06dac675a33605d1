-- The first schema of the SMART store.
--
-- Types in {{...}} are filled in per dialect (see dialect.go): {{KEY}} is a
-- key of at most 255 bytes compared byte for byte, {{TEXT}} unbounded
-- text, {{BYTES}} a short binary value (SHA-256 hashes), {{TABLE}} the
-- table options (MySQL: InnoDB, utf8mb4).
--
-- Times are BIGINT microseconds since the Unix epoch, UTC; 0 is the zero
-- time (never set). String lists are JSON arrays and launch contexts JSON
-- objects, kept as text so they read back byte for byte. Nullable columns
-- tell "absent" (NULL) from "present but empty".

CREATE TABLE smart_clients (
	id {{KEY}} NOT NULL PRIMARY KEY,
	name {{TEXT}} NOT NULL,
	auth_method {{KEY}} NOT NULL,
	redirect_uris {{TEXT}} NOT NULL,
	grant_types {{TEXT}} NOT NULL,
	scope {{TEXT}} NOT NULL,
	secret_hash {{BYTES}},
	jwks {{TEXT}},
	jwks_uri {{TEXT}} NOT NULL,
	launch_uri {{TEXT}} NOT NULL,
	registration_token_hash {{BYTES}},
	owner {{KEY}} NOT NULL,
	metadata {{TEXT}},
	created_at BIGINT NOT NULL,
	updated_at BIGINT NOT NULL
){{TABLE}};

CREATE INDEX smart_clients_owner ON smart_clients (owner, created_at);

CREATE TABLE smart_auth_codes (
	hash {{BYTES}} NOT NULL PRIMARY KEY,
	client_id {{KEY}} NOT NULL,
	redirect_uri {{TEXT}} NOT NULL,
	scope {{TEXT}} NOT NULL,
	subject {{TEXT}} NOT NULL,
	fhir_user {{TEXT}} NOT NULL,
	auth_time BIGINT NOT NULL,
	nonce {{TEXT}} NOT NULL,
	context {{TEXT}} NOT NULL,
	code_challenge {{TEXT}} NOT NULL,
	code_challenge_method {{KEY}} NOT NULL,
	grant_id {{KEY}} NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	used_at BIGINT NOT NULL,
	access_token_jti {{KEY}} NOT NULL
){{TABLE}};

CREATE INDEX smart_auth_codes_expires ON smart_auth_codes (expires_at);

CREATE TABLE smart_launches (
	id {{KEY}} NOT NULL PRIMARY KEY,
	client_id {{KEY}} NOT NULL,
	subject {{TEXT}} NOT NULL,
	context {{TEXT}} NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
){{TABLE}};

CREATE INDEX smart_launches_expires ON smart_launches (expires_at);

CREATE TABLE smart_refresh_tokens (
	hash {{BYTES}} NOT NULL PRIMARY KEY,
	family_id {{KEY}} NOT NULL,
	client_id {{KEY}} NOT NULL,
	scope {{TEXT}} NOT NULL,
	subject {{TEXT}} NOT NULL,
	fhir_user {{TEXT}} NOT NULL,
	auth_time BIGINT NOT NULL,
	context {{TEXT}} NOT NULL,
	created_at BIGINT NOT NULL,
	expires_at BIGINT NOT NULL,
	rotated_at BIGINT NOT NULL
){{TABLE}};

CREATE INDEX smart_refresh_tokens_family ON smart_refresh_tokens (family_id);
CREATE INDEX smart_refresh_tokens_expires ON smart_refresh_tokens (expires_at);

-- A revoked family stays revoked until expires_at, also for tokens saved
-- into it after the revocation; every read of a refresh token checks here.
CREATE TABLE smart_family_revocations (
	family_id {{KEY}} NOT NULL PRIMARY KEY,
	expires_at BIGINT NOT NULL
){{TABLE}};

CREATE INDEX smart_family_revocations_expires ON smart_family_revocations (expires_at);

CREATE TABLE smart_token_revocations (
	jti {{KEY}} NOT NULL PRIMARY KEY,
	expires_at BIGINT NOT NULL
){{TABLE}};

CREATE INDEX smart_token_revocations_expires ON smart_token_revocations (expires_at);

CREATE TABLE smart_jtis (
	client_id {{KEY}} NOT NULL,
	jti {{KEY}} NOT NULL,
	expires_at BIGINT NOT NULL,
	PRIMARY KEY (client_id, jti)
){{TABLE}};

CREATE INDEX smart_jtis_expires ON smart_jtis (expires_at);

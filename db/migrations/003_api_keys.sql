-- API keys (contract §2). Only a SHA-256 of each key is stored: the keys are 256-bit
-- random secrets, so a fast hash suffices (nothing to brute-force) and checks stay cheap.
-- `prefix` is the public, random lookup part of a key (hs_<prefix>_<secret>), so a check
-- finds its row by an index instead of comparing against every hash.
CREATE TABLE api_keys (
    id           bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name         text        NOT NULL DEFAULT '',
    scope        text        NOT NULL CHECK (scope IN ('ingest', 'read', 'admin')),
    prefix       text        NOT NULL UNIQUE,
    key_hash     bytea       NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,              -- coarse: written at most once per cache period
    revoked_at   timestamptz
);

-- API keys for integrations (auth::api_keys): a long-lived credential an
-- admin creates for a machine, presented as `Authorization: Bearer tk_...`.
--
-- Invariants:
-- - only the SHA-256 of the key's 32 random bytes is stored (`key_hash`);
--   the key itself is shown once, in the answer that created it, and a copy
--   of this table holds nothing a client could present;
-- - a key carries one or more scopes from a closed set: `catalog:read` (an
--   authenticated read identity, counted by the rate limiter) and
--   `catalog:write` (the admin catalog writes);
-- - a key is never deleted, only revoked (`revoked_at`): the audit log
--   names keys by id.
create table api_keys (
    key_id       uuid primary key default gen_random_uuid(),
    name         text not null check (char_length(name) between 1 and 100),
    scopes       text[] not null,
    key_hash     bytea not null unique check (octet_length(key_hash) = 32),
    -- The admin who made it; the key works only while they are an enabled
    -- admin.
    created_by   uuid not null references users,
    created_at   timestamptz not null default now(),
    revoked_at   timestamptz,
    -- Written at most about once a minute per key, not on every request.
    last_used_at timestamptz,
    updated_at   timestamptz not null default now(),
    -- One-dimensional, not empty, every scope a known one (a null element
    -- is contained in nothing, so it is refused too).
    constraint api_keys_scopes_check check (array_ndims(scopes) = 1 and cardinality(scopes) > 0 and scopes <@ array['catalog:read', 'catalog:write']::text[])
);
create trigger api_keys_updated_at before update on api_keys
    for each row execute function set_updated_at();
create index api_keys_created_by_idx on api_keys (created_by);

-- A write authenticated by an API key names the key; `actor` is then the
-- admin who created it (whose authority the key carries). No foreign key,
-- like `actor`: the log outlives what it names.
alter table admin_audit add column api_key_id uuid;
create index admin_audit_api_key_idx on admin_audit (api_key_id, at desc)
    where api_key_id is not null;

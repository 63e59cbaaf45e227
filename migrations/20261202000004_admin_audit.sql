-- Every admin catalog write, whatever its outcome: who, what, when, from
-- where, and the answer. `actor` has no foreign key on purpose: the log
-- outlives the accounts it names.
create table admin_audit (
    audit_id       bigint generated always as identity primary key,
    at             timestamptz not null default now(),
    actor          uuid not null,
    method         text not null,
    path           text not null,
    status         smallint not null,
    client_address text not null,
    request_id     text,
    -- Rows are never updated; the column and trigger are what every table
    -- has (tests/tests/e2e/schema.rs).
    updated_at     timestamptz not null default now()
);
create trigger admin_audit_updated_at before update on admin_audit
    for each row execute function set_updated_at();
create index admin_audit_actor_idx on admin_audit (actor, at desc);
create index admin_audit_at_idx on admin_audit (at desc);

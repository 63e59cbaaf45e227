-- Room for the scanner role: door staff who check tickets in. Today a
-- scanner gets no more than a user on every route (auth::Role::Scanner);
-- the tickets issue gives it its check-in routes.
alter table users drop constraint users_role_check;
alter table users add constraint users_role_check
    check (role in ('user', 'admin', 'scanner'));

-- Grants scoped to one event, reserved for the tickets issue: a scanner
-- may check tickets in at event 12 with the grant `checkin:12`. Nothing
-- reads this table yet.
create table user_grants (
    user_id    uuid not null references users on delete cascade,
    grant_name text not null check (grant_name ~ '^checkin:[0-9]+$'),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    primary key (user_id, grant_name)
);
create trigger user_grants_updated_at before update on user_grants
    for each row execute function set_updated_at();

-- Accounts: passwords, verified addresses, sessions with rotating refresh
-- tokens, and the one-time tokens of email links.
--
-- Every token a client holds (refresh tokens, email link tokens) is 32
-- random bytes; only its SHA-256 is stored here, as the primary key.

-- Argon2id PHC strings; null for users who sign in no other way (the demo
-- catalog's users, seeded admins).
alter table users add column password_hash text
    check (password_hash is null or password_hash like '$argon2%');
alter table users add column email_verified_at timestamptz;

-- Addresses are stored lowercased and compared so: one account per address
-- whatever its case, even if a writer forgets to lowercase.
create unique index users_email_lower_key on users (lower(email));

-- A sign-in. Its access tokens carry session_id as `sid` and stop working
-- once it is revoked or expires (auth::Users checks on every request).
create table sessions (
    session_id        uuid primary key default gen_random_uuid(),
    user_id           uuid not null references users on delete cascade,
    created_at        timestamptz not null default now(),
    expires_at        timestamptz not null,
    revoked_at        timestamptz,
    last_refreshed_at timestamptz,
    updated_at        timestamptz not null default now(),
    check (expires_at > created_at)
);
create trigger sessions_updated_at before update on sessions
    for each row execute function set_updated_at();
-- Sign out everywhere (a user's sessions), and the cascade from users.
create index sessions_user_idx on sessions (user_id);

-- Each refresh token is used once; a used one presented again revokes its
-- session (reuse detection: the session is the token family).
create table refresh_tokens (
    token_hash bytea primary key check (length(token_hash) = 32),
    session_id uuid not null references sessions on delete cascade,
    issued_at  timestamptz not null default now(),
    used_at    timestamptz,
    updated_at timestamptz not null default now()
);
create trigger refresh_tokens_updated_at before update on refresh_tokens
    for each row execute function set_updated_at();
create index refresh_tokens_session_idx on refresh_tokens (session_id);

-- The tokens in email links: address verification, and (to come) password
-- reset.
create table email_tokens (
    token_hash bytea primary key check (length(token_hash) = 32),
    user_id    uuid not null references users on delete cascade,
    purpose    text not null check (purpose in ('verify_email', 'reset_password')),
    created_at timestamptz not null default now(),
    expires_at timestamptz not null,
    used_at    timestamptz,
    updated_at timestamptz not null default now()
);
create trigger email_tokens_updated_at before update on email_tokens
    for each row execute function set_updated_at();
create index email_tokens_user_idx on email_tokens (user_id, purpose);

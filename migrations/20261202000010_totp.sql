-- A second factor: TOTP (RFC 6238; 6 digits, 30 s steps, SHA-1, as every
-- authenticator app reads them). `totp_secret` is set when enrolment
-- starts and counts once `totp_enabled_at` is set (the first code
-- confirmed); `totp_last_step` is the last time step a code was accepted
-- for, so no code works twice.
alter table users add column totp_secret bytea
    check (totp_secret is null or length(totp_secret) >= 16);
alter table users add column totp_enabled_at timestamptz;
alter table users add column totp_last_step bigint;
alter table users add constraint users_totp_enabled_has_secret
    check (totp_enabled_at is null or totp_secret is not null);

-- Whether the sign-in that started a session passed the second factor:
-- admin routes may require it (ADMIN_REQUIRE_TOTP).
alter table sessions add column second_factor boolean not null default false;

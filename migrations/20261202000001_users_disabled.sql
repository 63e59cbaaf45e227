-- An admin can disable an account; a disabled user's tokens are refused on
-- every route (auth::Users checks this on each authenticated request).
alter table users add column disabled_at timestamptz;

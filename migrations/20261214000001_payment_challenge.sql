-- Strong customer authentication (3-D Secure style): a charge can wait on
-- the cardholder's bank. The provider answers "requires action" with a
-- challenge; the shopper completes it and the charge is then settled.
--
-- A charge's life: pending (sent to the provider) -> requires_action (a
-- challenge awaits the shopper) -> pending (the answer is with the
-- provider) -> succeeded | declined | failed. A challenge never outlives
-- its booking's hold: the sweeper expires the booking at `expires_at` as
-- usual and declines the waiting charge (`challenge_abandoned`).
alter table payments drop constraint payments_status_check;
alter table payments add constraint payments_status_check
    check (status in ('pending', 'succeeded', 'declined', 'failed', 'requires_action'));

-- The provider's id for the challenge, and where a real gateway would send
-- the shopper to complete it (none for the sandbox: the page asks).
alter table payments add column challenge_id text;
alter table payments add column challenge_url text;
alter table payments add constraint payments_challenge_only_on_charges
    check (challenge_id is null or kind = 'charge');
alter table payments add constraint payments_requires_action_has_a_challenge
    check (status <> 'requires_action' or challenge_id is not null);
alter table payments add constraint payments_challenge_url_has_a_challenge
    check (challenge_url is null or challenge_id is not null);
create unique index payments_challenge_id on payments (challenge_id)
    where challenge_id is not null;

-- One live charge per booking still: a charge waiting on its challenge is
-- live (it may yet move money).
drop index payments_one_live_charge;
create unique index payments_one_live_charge on payments (booking_id)
    where kind = 'charge' and status in ('pending', 'requires_action', 'succeeded');

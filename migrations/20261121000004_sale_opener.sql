-- The api's sale opener looks once a second for events whose sale has just
-- opened (sale_starts_at in a short window), to materialize their seats.
create index events_sale_starts_idx on events (sale_starts_at) where status = 'scheduled';

-- The popular-events list pages by (popularity, event_id), both descending,
-- so a keyset cursor is one row comparison that starts an index scan. It
-- replaces the mixed-direction index the list could not seek into.
drop index events_popularity_idx;
create index events_popular_keyset_idx on events (popularity, event_id)
    where status = 'scheduled';

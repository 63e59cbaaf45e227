-- The indexer renders documents for a set of events; their general-admission
-- counters are found by event. held/sold are not indexed, so the hold path's
-- counter updates stay HOT.
create index ga_inventory_event_idx on ga_inventory (event_id);

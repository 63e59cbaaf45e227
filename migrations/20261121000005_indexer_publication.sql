-- The indexer follows these tables through logical replication (pgoutput).
--
-- The publication covers everything a search document is made of: the
-- catalog (events, venues, performers, event_performers, ticket types) and
-- the inventory that gives availability (event_seats, ga_inventory).
create publication ticketing_catalog for table
    events, venues, performers, event_performers,
    ticket_types, ticket_type_sections, ga_inventory, event_seats;

-- A delete carries only the primary key by default. These tables' keys do
-- not include the event they belong to, so their deletes (and updates) log
-- the whole old row: the indexer needs event_id to know which document to
-- re-render. They are small and rarely written, except ga_inventory, whose
-- rows are a handful of integers.
alter table ticket_types replica identity full;
alter table ticket_type_sections replica identity full;
alter table ga_inventory replica identity full;

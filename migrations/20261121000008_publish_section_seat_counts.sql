-- Documents of events whose seat inventory is not open yet count the seats
-- of their priced sections (venue_sections.seat_count), so a seat-map change
-- must reach the indexer: publish the sections too. Their key does not name
-- the venue, so deletes log the whole old row.
alter publication ticketing_catalog add table venue_sections;
alter table venue_sections replica identity full;

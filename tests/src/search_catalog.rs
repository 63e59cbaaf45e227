//! A small catalog made for search tests: every filter, facet and sort has
//! something to find, and SQL over these rows is the ground truth.
//!
//! 6 venues in 5 cities and 3 countries (real coordinates), 12 performers,
//! 240 events over twelve months in five categories; every 17th event is
//! cancelled (not searchable), every 11th is sold out, and some have tickets
//! held and sold. All tickets are general admission.

use sqlx::PgPool;

/// Events the fixture creates (cancelled ones included).
pub const EVENTS: i64 = 240;

const SQL: &str = r#"
insert into venues (venue_id, name, address, city, country, lat, lon) overriding system value values
    (1, 'Royal Albert Hall', 'Kensington Gore', 'London', 'GB', 51.5009, -0.1774),
    (2, 'O2 Arena', 'Peninsula Square', 'London', 'GB', 51.5030, 0.0032),
    (3, 'Accor Arena', '8 Boulevard de Bercy', 'Paris', 'FR', 48.8386, 2.3786),
    (4, 'Mercedes-Benz Arena', 'Mercedes-Platz 1', 'Berlin', 'DE', 52.5053, 13.4432),
    (5, 'Madison Square Garden', '4 Pennsylvania Plaza', 'New York', 'US', 40.7505, -73.9934),
    (6, 'TD Garden', '100 Legends Way', 'Boston', 'US', 42.3662, -71.0621);

insert into performers (performer_id, name, genre, description) overriding system value values
    (1, 'Metallica', 'metal', 'Heavy metal band'),
    (2, 'Adele', 'pop', 'Singer'),
    (3, 'The Rolling Stones', 'rock', 'Rock band'),
    (4, 'Beyoncé', 'pop', 'Singer'),
    (5, 'London Lions', 'basketball', 'Basketball team'),
    (6, 'Paris Saints', 'basketball', 'Basketball team'),
    (7, 'Hamilton Company', 'musical', 'Theatre company'),
    (8, 'Royal Shakespeare Players', 'drama', 'Theatre company'),
    (9, 'Ali Wong', 'stand-up', 'Comedian'),
    (10, 'Dave Chappelle', 'stand-up', 'Comedian'),
    (11, 'Cirque du Soleil', 'circus', 'Circus'),
    (12, 'Disney on Ice', 'ice show', 'Family show');

insert into events (event_id, venue_id, title, description, category, genre, starts_at, ends_at,
                    status, popularity, sale_starts_at, sale_ends_at) overriding system value
select i,
       1 + i % 6,
       p.name || ' ' || (array['Live', 'World Tour', 'Encore', 'Night', 'Special'])[1 + i % 5] || ' ' || i,
       'An evening at the venue with guests. Event number ' || i ||
           case when i % 40 = 3 then '. Featuring a Metallica tribute.' else '' end,
       case p.genre when 'metal' then 'concert' when 'pop' then 'concert' when 'rock' then 'concert'
                    when 'basketball' then 'sports' when 'musical' then 'theatre' when 'drama' then 'theatre'
                    when 'stand-up' then 'comedy' else 'family' end,
       p.genre,
       timestamptz '2027-01-01 19:00Z' + make_interval(days => (i * 37) % 365, mins => (i % 4) * 30),
       timestamptz '2027-01-01 22:00Z' + make_interval(days => (i * 37) % 365, mins => (i % 4) * 30),
       case when i % 17 = 0 then 'cancelled' else 'scheduled' end,
       ((i * 7919) % 1000) / 10.0,
       timestamptz '2026-10-01 00:00Z',
       timestamptz '2027-01-01 18:00Z' + make_interval(days => (i * 37) % 365)
from generate_series(1, 240) i
join performers p on p.performer_id = 1 + (i * 5) % 12;

insert into event_performers (event_id, performer_id, billing)
select event_id, 1 + (event_id * 5) % 12, 0 from events;
-- A support act on rock and pop concerts.
insert into event_performers (event_id, performer_id, billing)
select event_id, case when (1 + (event_id * 5) % 12) = 3 then 2 else 3 end, 1
from events where genre in ('rock', 'pop') and event_id % 2 = 0;

insert into ticket_types (event_id, name, kind, price_cents, currency, capacity)
select event_id, 'Standard', 'general_admission', 500 + (event_id * 1373) % 30000,
       case venue_id when 3 then 'EUR' when 4 then 'EUR' when 1 then 'GBP' when 2 then 'GBP' else 'USD' end,
       100
from events;
insert into ticket_types (event_id, name, kind, price_cents, currency, capacity)
select event_id, 'VIP', 'general_admission', 2 * (500 + (event_id * 1373) % 30000),
       case venue_id when 3 then 'EUR' when 4 then 'EUR' when 1 then 'GBP' when 2 then 'GBP' else 'USD' end,
       20
from events where event_id % 3 = 0;

update ga_inventory set sold = capacity where event_id % 11 = 0;
update ga_inventory set held = 7, sold = 3 where event_id % 11 = 5 and capacity = 100;

select setval(pg_get_serial_sequence('venues', 'venue_id'), 100);
select setval(pg_get_serial_sequence('performers', 'performer_id'), 100);
select setval(pg_get_serial_sequence('events', 'event_id'), 1000);
"#;

/// Loads the fixture into an empty, migrated database.
pub async fn load(pool: &PgPool) {
    sqlx::raw_sql(SQL)
        .execute(pool)
        .await
        .expect("search fixture catalog loads");
}

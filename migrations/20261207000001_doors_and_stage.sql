-- When the doors open, shown on the event page and (later) on tickets.
-- Optional: an event without it shows its start time only.
alter table events add column doors_at timestamptz;
alter table events add constraint events_doors_before_start
    check (doors_at is null or (doors_at <= starts_at and doors_at >= starts_at - interval '24 hours'));

-- The stage, field or pitch outline in the seats' drawing coordinates, as
-- a JSON array of [x, y] points; drawn on the seat map. Optional.
alter table venues add column stage jsonb
    check (stage is null or (jsonb_typeof(stage) = 'array' and jsonb_array_length(stage) between 3 and 64));

-- Inventory and booking. The invariants that must survive any application
-- bug live here:
--   * a seat belongs to at most one live hold or sale (event_seats has one row
--     per seat per event, and event_seats_guard refuses to hand a live seat to
--     another booking);
--   * general-admission sold + held never exceeds capacity (ga_inventory CHECK);
--   * a booking is charged at most once (payments_one_live_charge).

create table bookings (
    booking_id  uuid primary key default gen_random_uuid(),
    user_id     uuid not null references users,
    event_id    bigint not null references events,
    status      text not null default 'in_process'
        check (status in ('in_process', 'payment_pending', 'confirmed',
                          'rejected', 'cancelled', 'expired')),
    total_cents bigint not null default 0 check (total_cents >= 0),
    currency    text not null check (currency ~ '^[A-Z]{3}$'),
    -- When the hold lapses. Meaningful while in_process/payment_pending.
    expires_at  timestamptz not null,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create trigger bookings_updated_at before update on bookings
    for each row execute function set_updated_at();
-- Serves "my bookings" and the per-buyer limit (a buyer has few bookings, so
-- filtering those by event is cheap); one index fewer to write per hold.
create index bookings_user_idx on bookings (user_id, created_at desc);
-- The expiry sweeper's work queue.
create index bookings_pending_expiry_idx on bookings (expires_at)
    where status in ('in_process', 'payment_pending');

-- One row per seat per seated event, materialized when the event goes on sale.
create table event_seats (
    -- event_id is pinned to events through the ticket type's composite key.
    event_id       bigint not null,
    seat_id        bigint not null references seats,
    ticket_type_id bigint not null,
    status         text not null default 'available'
        check (status in ('available', 'held', 'sold')),
    booking_id     uuid references bookings,
    held_until     timestamptz,
    updated_at     timestamptz not null default now(),
    created_at     timestamptz not null default now(),
    primary key (event_id, seat_id),
    foreign key (ticket_type_id, event_id)
        references ticket_types (ticket_type_id, event_id) on delete cascade,
    constraint event_seats_state_consistent check (
        (status = 'available' and booking_id is null and held_until is null)
        or (status = 'held' and booking_id is not null and held_until is not null)
        or (status = 'sold' and booking_id is not null and held_until is null)
    )
);
-- Deliberately no index on status or booking_id: the hold path updates both,
-- and with only the primary key indexed (plus free space on each page) those
-- updates are HOT, writing no index entries. A booking's seats are found
-- through booking_items, whose (event_id, seat_id) leads to the primary key.
alter table event_seats set (fillfactor = 80);

create trigger event_seats_updated_at before update on event_seats
    for each row execute function set_updated_at();

-- A seat that is sold, or held by a hold that has not lapsed, cannot be given
-- to another booking. Releasing it (booking_id -> null) is always allowed; a
-- lapsed hold may be taken over directly, which is what "an expired hold is
-- free even before the sweeper runs" means.
create function event_seats_guard() returns trigger
language plpgsql as $$
begin
    if new.booking_id is not null
       and new.booking_id is distinct from old.booking_id
       and (old.status = 'sold' or (old.status = 'held' and old.held_until > now()))
    then
        raise exception 'seat % of event % is already %', old.seat_id, old.event_id, old.status
            using errcode = 'exclusion_violation',
                  constraint = 'event_seats_one_live_booking',
                  table = 'event_seats';
    end if;
    return new;
end;
$$;
create trigger event_seats_one_live_booking before update on event_seats
    for each row execute function event_seats_guard();

-- General-admission counters, one row per general-admission ticket type,
-- created and kept in step with ticket_types.capacity by triggers.
create table ga_inventory (
    ticket_type_id bigint primary key,
    event_id       bigint not null,
    capacity       integer not null check (capacity > 0),
    held           integer not null default 0,
    sold           integer not null default 0,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now(),
    foreign key (ticket_type_id, event_id)
        references ticket_types (ticket_type_id, event_id) on delete cascade,
    constraint ga_inventory_held_non_negative check (held >= 0),
    constraint ga_inventory_sold_non_negative check (sold >= 0),
    constraint ga_inventory_within_capacity check (held + sold <= capacity)
);
create trigger ga_inventory_updated_at before update on ga_inventory
    for each row execute function set_updated_at();

create function ticket_types_sync_ga_inventory() returns trigger
language plpgsql as $$
begin
    if tg_op = 'INSERT' then
        if new.kind = 'general_admission' then
            insert into ga_inventory (ticket_type_id, event_id, capacity)
            values (new.ticket_type_id, new.event_id, new.capacity);
        end if;
    elsif new.capacity is distinct from old.capacity and new.kind = 'general_admission' then
        -- Lowering capacity below what is already held + sold fails the
        -- ga_inventory_within_capacity check, rolling back the update.
        update ga_inventory set capacity = new.capacity
         where ticket_type_id = new.ticket_type_id;
    end if;
    return null;
end;
$$;
create trigger ticket_types_ga_inventory after insert or update of capacity on ticket_types
    for each row execute function ticket_types_sync_ga_inventory();

create table booking_items (
    booking_item_id bigint generated by default as identity primary key,
    booking_id      uuid not null references bookings on delete cascade,
    event_id        bigint not null,
    ticket_type_id  bigint not null,
    -- Set for seated items (quantity 1); null for general admission.
    seat_id         bigint,
    quantity        integer not null check (quantity > 0),
    price_cents     bigint not null check (price_cents >= 0),
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    foreign key (ticket_type_id, event_id) references ticket_types (ticket_type_id, event_id),
    foreign key (event_id, seat_id) references event_seats (event_id, seat_id),
    check (seat_id is null or quantity = 1),
    unique (booking_id, seat_id)
);
create trigger booking_items_updated_at before update on booking_items
    for each row execute function set_updated_at();
-- unique (booking_id, seat_id) above also serves lookups by booking.

create table payments (
    payment_id      uuid primary key default gen_random_uuid(),
    booking_id      uuid not null references bookings,
    kind            text not null check (kind in ('charge', 'refund')),
    provider        text not null,
    -- The provider's own reference, once it has answered.
    provider_ref    text,
    -- Sent to the provider so a retried call never charges twice.
    idempotency_key text not null unique,
    amount_cents    bigint not null check (amount_cents >= 0),
    currency        text not null check (currency ~ '^[A-Z]{3}$'),
    status          text not null default 'pending'
        check (status in ('pending', 'succeeded', 'declined', 'failed')),
    failure_code    text,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now()
);
create trigger payments_updated_at before update on payments
    for each row execute function set_updated_at();
create unique index payments_one_live_charge on payments (booking_id)
    where kind = 'charge' and status in ('pending', 'succeeded');
create unique index payments_one_live_refund on payments (booking_id)
    where kind = 'refund' and status in ('pending', 'succeeded');

-- A repeated Idempotency-Key returns the stored response; the same key with
-- another request body (different request_hash) is rejected.
create table idempotency_keys (
    user_id         uuid not null references users,
    idempotency_key text not null check (length(idempotency_key) between 1 and 255),
    request_hash    text not null,
    response_status smallint,
    response_body   jsonb,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    primary key (user_id, idempotency_key),
    check ((response_status is null) = (response_body is null))
) with (fillfactor = 70);
-- The response is written by an update right after the insert; free space
-- on the page lets that update be HOT.
create trigger idempotency_keys_updated_at before update on idempotency_keys
    for each row execute function set_updated_at();

-- Booking state changes, written in the same transaction as the change.
create table outbox (
    outbox_id      bigint generated by default as identity primary key,
    aggregate_type text not null,
    aggregate_id   text not null,
    event_type     text not null,
    payload        jsonb not null,
    published_at   timestamptz,
    created_at     timestamptz not null default now(),
    updated_at     timestamptz not null default now()
);
create trigger outbox_updated_at before update on outbox
    for each row execute function set_updated_at();
create index outbox_unpublished_idx on outbox (outbox_id) where published_at is null;

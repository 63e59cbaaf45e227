-- Notifications: booking events leave the outbox as signed webhooks
-- (Standard Webhooks v1) and as emails to the shopper, each with durable
-- delivery rows, so retries can run for days and a restart loses nothing.
--
-- The dispatcher turns each outbox row into delivery rows once
-- (`outbox.dispatched_at`); it never reads with an `id > last` cursor,
-- because outbox ids are assigned at insert, not at commit.

alter table outbox add column dispatched_at timestamptz;
-- History before this feature existed is not sent to anyone.
update outbox set dispatched_at = coalesce(published_at, now());
create index outbox_undispatched_idx on outbox (outbox_id) where dispatched_at is null;

-- A promoter's receiver. `event_types` empty means every type.
create table webhook_endpoints (
    endpoint_id     uuid primary key default gen_random_uuid(),
    url             text not null check (url ~ '^https?://' and length(url) <= 2000),
    description     text not null default '' check (length(description) <= 500),
    event_types     text[] not null default '{}',
    enabled         boolean not null default true,
    -- Why it was disabled: 'gone' (it answered 410) or 'admin'.
    disabled_reason text check (disabled_reason in ('gone', 'admin')),
    disabled_at     timestamptz,
    created_by      uuid not null,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    constraint disabled_has_reason check (enabled = (disabled_reason is null))
);
create trigger webhook_endpoints_updated_at before update on webhook_endpoints
    for each row execute function set_updated_at();

-- Signing secrets, encrypted (AES-256-GCM) with WEBHOOK_SECRETS_KEY, which
-- never enters the database. An endpoint signs with every secret not yet
-- expired, so a rotation has no downtime.
create table webhook_secrets (
    secret_id   uuid primary key default gen_random_uuid(),
    endpoint_id uuid not null references webhook_endpoints on delete cascade,
    sealed      bytea not null,
    expires_at  timestamptz,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create trigger webhook_secrets_updated_at before update on webhook_secrets
    for each row execute function set_updated_at();
create index webhook_secrets_endpoint_idx on webhook_secrets (endpoint_id);

-- One event to one endpoint. `webhook-id` is the outbox id, so a replay
-- (which sets the row pending again) keeps it, as the specification says.
create table webhook_deliveries (
    delivery_id     bigint generated always as identity primary key,
    endpoint_id     uuid not null references webhook_endpoints on delete cascade,
    outbox_id       bigint not null references outbox,
    -- The booking: its events reach an endpoint in outbox order.
    aggregate_id    text not null,
    status          text not null default 'pending'
                    check (status in ('pending', 'delivered', 'failed')),
    attempts        integer not null default 0 check (attempts >= 0),
    next_attempt_at timestamptz not null default now(),
    -- A worker sending it holds it until then; a worker killed mid-send
    -- leaves it to be sent again when the lease ends.
    leased_until    timestamptz,
    -- The earliest pending event of its booking for this endpoint: only a
    -- ready delivery is sent, so a booking's events arrive in order. The
    -- dispatcher sets it on insert, and finishing one delivery sets it on
    -- the next (booking::notify::deliver).
    ready           boolean not null default false,
    last_status     smallint,
    last_error      text,
    delivered_at    timestamptz,
    -- Retries run for WEBHOOK_RETRY_FOR_SECS from here: when it was
    -- created, became ready (after its booking's earlier event), was
    -- replayed, or its endpoint was enabled again.
    retry_from      timestamptz not null default now(),
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    unique (endpoint_id, outbox_id)
);
create trigger webhook_deliveries_updated_at before update on webhook_deliveries
    for each row execute function set_updated_at();
-- The claim's queue: ready deliveries in the order they are due.
create index webhook_deliveries_ready_idx on webhook_deliveries (next_attempt_at, outbox_id)
    where status = 'pending' and ready;
-- "Which event of this booking is next for this endpoint?"
create index webhook_deliveries_order_idx on webhook_deliveries (endpoint_id, aggregate_id, outbox_id)
    where status = 'pending';

-- The delivery log: every attempt, kept for WEBHOOK_LOG_RETENTION_DAYS.
create table webhook_attempts (
    attempt_id   bigint generated always as identity primary key,
    delivery_id  bigint not null references webhook_deliveries on delete cascade,
    endpoint_id  uuid not null references webhook_endpoints on delete cascade,
    outbox_id    bigint not null,
    attempted_at timestamptz not null default now(),
    latency_ms   integer not null check (latency_ms >= 0),
    status_code  smallint,
    -- 'delivered', 'retry' (will be tried again), 'failed' (given up),
    -- 'gone' (410: the endpoint is disabled).
    outcome      text not null check (outcome in ('delivered', 'retry', 'failed', 'gone')),
    error        text,
    updated_at   timestamptz not null default now()
);
create trigger webhook_attempts_updated_at before update on webhook_attempts
    for each row execute function set_updated_at();
create index webhook_attempts_endpoint_idx on webhook_attempts (endpoint_id, attempt_id desc);
create index webhook_attempts_delivery_idx on webhook_attempts (delivery_id);
create index webhook_attempts_at_idx on webhook_attempts (attempted_at);

-- One email to a shopper about one booking event.
create table email_deliveries (
    email_id        bigint generated always as identity primary key,
    outbox_id       bigint not null references outbox,
    kind            text not null check (kind in ('confirmed', 'cancelled', 'hold_expired')),
    booking_id      uuid not null,
    user_id         uuid not null,
    event_id        bigint not null,
    status          text not null default 'pending'
                    check (status in ('pending', 'sent', 'failed', 'skipped')),
    attempts        integer not null default 0 check (attempts >= 0),
    next_attempt_at timestamptz not null default now(),
    leased_until    timestamptz,
    last_error      text,
    sent_at         timestamptz,
    created_at      timestamptz not null default now(),
    updated_at      timestamptz not null default now(),
    unique (outbox_id, kind)
);
create trigger email_deliveries_updated_at before update on email_deliveries
    for each row execute function set_updated_at();
create index email_deliveries_due_idx on email_deliveries (next_attempt_at, email_id)
    where status = 'pending';
create index email_deliveries_order_idx on email_deliveries (booking_id, outbox_id)
    where status = 'pending';
-- The hold-expired throttle: one such mail per shopper and event per window.
create index email_deliveries_throttle_idx on email_deliveries (user_id, event_id, created_at)
    where kind = 'hold_expired';

-- Exchange rates for comparing prices across currencies (search filters,
-- sorting and price buckets in one display currency). Events keep their
-- own currency; nothing here converts a charge.
--
-- A rate is units of the currency per one US dollar. The table is replaced
-- as a whole by an admin (PUT /v1/admin/currency-rates); every replacement
-- bumps `currency_rates_version`, which names the table in cache keys.

create table currency_rates (
    currency   text primary key check (currency ~ '^[A-Z]{3}$'),
    per_usd    double precision not null check (per_usd > 0 and per_usd < 1e9),
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now(),
    -- The quote currency is worth exactly one of itself.
    constraint usd_is_one check (currency <> 'USD' or per_usd = 1)
);

create table currency_rates_version (
    singleton  boolean primary key default true check (singleton),
    version    bigint not null check (version > 0),
    updated_at timestamptz not null default now()
);

-- Sample rates (mid-market, early December 2026) for the currencies the
-- demo catalog sells in, plus a few display currencies. An admin replaces
-- them; a deployment would feed them from its treasury's daily rates.
create trigger currency_rates_updated_at before update on currency_rates
    for each row execute function set_updated_at();
create trigger currency_rates_version_updated_at before update on currency_rates_version
    for each row execute function set_updated_at();

insert into currency_rates (currency, per_usd) values
    ('USD', 1),
    ('EUR', 0.92),
    ('GBP', 0.79),
    ('CAD', 1.37),
    ('AUD', 1.52),
    ('SEK', 10.60),
    ('DKK', 6.87),
    ('CZK', 23.20),
    ('MXN', 17.90),
    ('BRL', 5.00),
    ('CHF', 0.88),
    ('JPY', 150.00);

insert into currency_rates_version (version) values (1);

-- Peregrine core tables for Supabase Postgres (same shape as the engine's SQLite schema in
-- engine/migrations/sqlite/).
--
-- * Money and size columns are unconstrained `numeric`: exact, never rounded (a
--   `numeric(p,s)` would silently round) and never float.
-- * Times: the engine's nanosecond wall-clock values are kept as `bigint` (`*_ns`, exact,
--   authoritative for ordering); a generated `timestamptz` column (`*_at`, microsecond
--   resolution) next to each is for the frontend and for range queries.
-- * `user_id uuid` is the owner used by RLS. It is nullable with default null for now:
--   the engine does not know accounts yet, and rows with a null owner are visible to no
--   `authenticated` user. It will become `not null references auth.users (id)` and join
--   the natural keys once the engine writes per-user rows.
-- * Only enum CHECKs are declared: the sink never drops a batch, so a row rejected by a
--   business-rule constraint would stall it; validation belongs upstream (risk gate).
-- * RLS is enabled on every table. `authenticated` may only SELECT its own rows; there is
--   no INSERT/UPDATE/DELETE policy (and no grant) for `anon`/`authenticated`, so a browser
--   cannot forge an order or fill. The engine writes as `service_role` (BYPASSRLS).

-- Latest state of each of our orders, upserted on client_order_id.
create table public.orders (
    client_order_id text        primary key,
    user_id         uuid        default null,
    venue_order_id  bigint,
    strategy        text        not null,
    venue           text        not null,
    symbol          text        not null,
    side            text        not null check (side in ('buy', 'sell')),
    order_type      text        not null,
    price           numeric,
    qty             numeric     not null,
    filled_qty      numeric     not null,
    status          text        not null check (status in ('pending', 'acked',
                                    'partially_filled', 'filled', 'cancelled', 'rejected',
                                    'expired')),
    reject_reason   text,
    created_ns      bigint      not null,
    updated_ns      bigint      not null,
    created_at      timestamptz generated always as (to_timestamp(created_ns / 1e9)) stored,
    updated_at      timestamptz generated always as (to_timestamp(updated_ns / 1e9)) stored
);

create index orders_user_id_updated_idx on public.orders (user_id, updated_ns desc);

-- Every fill of our orders, inserted once on the natural key (a retried batch is a no-op).
-- client_order_id is part of the key because one venue trade can fill two of our own
-- orders (a self-match). `id` is the primary key Realtime requires.
create table public.fills (
    id              bigint      generated always as identity primary key,
    user_id         uuid        default null,
    venue           text        not null,
    symbol          text        not null,
    trade_id        bigint      not null,
    client_order_id text        not null,
    strategy        text        not null,
    side            text        not null check (side in ('buy', 'sell')),
    price           numeric     not null,
    qty             numeric     not null,
    fee             numeric     not null,
    fee_asset       text        not null,
    is_maker        boolean     not null,
    exch_ts_ns      bigint      not null,
    exch_ts_at      timestamptz generated always as (to_timestamp(exch_ts_ns / 1e9)) stored,
    constraint fills_natural_key unique (venue, symbol, trade_id, client_order_id)
);

create index fills_user_id_exch_ts_idx on public.fills (user_id, exch_ts_ns desc);
create index fills_client_order_id_idx on public.fills (client_order_id);

-- Latest position per (strategy, venue, symbol), upserted.
create table public.positions (
    strategy     text        not null,
    venue        text        not null,
    symbol       text        not null,
    user_id      uuid        default null,
    qty          numeric     not null,
    avg_price    numeric     not null,
    realized_pnl numeric     not null,
    fees         numeric     not null,
    updated_ns   bigint      not null,
    updated_at   timestamptz generated always as (to_timestamp(updated_ns / 1e9)) stored,
    primary key (strategy, venue, symbol)
);

create index positions_user_id_idx on public.positions (user_id);

-- Risk decisions and safety events, inserted once on id (`<run hex>-<seq>`).
create table public.risk_events (
    id       text        primary key,
    user_id  uuid        default null,
    ts_ns    bigint      not null,
    ts_at    timestamptz generated always as (to_timestamp(ts_ns / 1e9)) stored,
    strategy text,
    symbol   text,
    reason   text        not null,
    message  text        not null
);

create index risk_events_user_id_ts_idx on public.risk_events (user_id, ts_ns desc);

comment on column public.orders.user_id is
    'Owner (auth.users.id) for RLS. Nullable, default null until the engine writes per-user rows; null rows are visible to no authenticated user.';
comment on column public.fills.user_id is
    'Owner (auth.users.id) for RLS. Nullable, default null until the engine writes per-user rows.';
comment on column public.positions.user_id is
    'Owner (auth.users.id) for RLS. Nullable, default null until the engine writes per-user rows.';
comment on column public.risk_events.user_id is
    'Owner (auth.users.id) for RLS. Nullable, default null until the engine writes per-user rows.';
comment on column public.orders.updated_ns is
    'Wall time of this state, ns since the Unix epoch (authoritative; updated_at is derived).';

-- Row Level Security: on for every table; authenticated users read only their own rows.
alter table public.orders enable row level security;
alter table public.fills enable row level security;
alter table public.positions enable row level security;
alter table public.risk_events enable row level security;

create policy orders_select_own on public.orders
    for select to authenticated using ((select auth.uid()) = user_id);
create policy fills_select_own on public.fills
    for select to authenticated using ((select auth.uid()) = user_id);
create policy positions_select_own on public.positions
    for select to authenticated using ((select auth.uid()) = user_id);
create policy risk_events_select_own on public.risk_events
    for select to authenticated using ((select auth.uid()) = user_id);

-- Privileges: explicit, not relying on Supabase's default privileges (plain Postgres has
-- none). The browser roles can read (filtered by RLS) and never write.
revoke all on public.orders, public.fills, public.positions, public.risk_events
    from anon, authenticated;
grant select on public.orders, public.fills, public.positions, public.risk_events
    to authenticated;
grant select, insert, update, delete
    on public.orders, public.fills, public.positions, public.risk_events
    to service_role;

-- Realtime. Supabase always has the `supabase_realtime` publication; plain Postgres (tests,
-- self-hosted without Realtime) does not. We create it when missing, exactly as Supabase
-- does (empty, not FOR ALL TABLES), so this migration runs anywhere and tests can assert
-- membership via pg_publication_tables. On a server with wal_level below `logical`,
-- Postgres creates it with a warning and it simply publishes nothing. If the publication
-- is FOR ALL TABLES, the tables are already in it and adding them would be an error, so
-- we skip. Tables already present are skipped, so re-running is harmless.
-- Default replica identity (the primary key) is kept: payload.new carries the full row.
do $$
declare
    t text;
begin
    if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
        create publication supabase_realtime;
    end if;
    if exists (select 1 from pg_publication
               where pubname = 'supabase_realtime' and puballtables) then
        return;
    end if;
    foreach t in array array['orders', 'fills', 'positions', 'risk_events'] loop
        if not exists (select 1 from pg_publication_tables
                       where pubname = 'supabase_realtime'
                         and schemaname = 'public' and tablename = t) then
            execute format('alter publication supabase_realtime add table public.%I', t);
        end if;
    end loop;
end
$$;

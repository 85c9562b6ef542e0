-- Peregrine tables for Supabase Postgres (same shape as the engine's SQLite schema in
-- engine/migrations/sqlite/, plus the owner column and Supabase's security model).
--
-- Runs under the Supabase CLI (`supabase db push` / `migration up`) and under the engine
-- (`peregrine migrate`); both keep the one history in `supabase_migrations.schema_migrations`,
-- and every statement is safe to run again (`if not exists`, guarded `do` blocks). It expects what every Supabase database has: the roles `anon`, `authenticated`,
-- `service_role`, the table `auth.users` and the function `auth.uid()` (tests on plain
-- PostgreSQL create a small stub of these first).
--
-- * Money and size columns are unconstrained `numeric`: exact, never rounded (a
--   `numeric(p,s)` would silently round) and never float.
-- * Times: the engine's nanosecond wall-clock values are kept as `bigint` (`*_ns`, exact,
--   authoritative for ordering); a generated `timestamptz` column (`*_at`, microsecond
--   resolution) next to each is for the frontend and for range queries.
-- * Every user-data table has `user_id uuid not null references auth.users` and it leads
--   every natural key, so two accounts never collide and a retried batch is a no-op.
-- * `seq` on orders and positions is the engine's event sequence (monotonic across
--   restarts). Upserts only apply `where excluded.seq > t.seq`: a replayed older event never
--   overwrites a newer state.
-- * Only enum CHECKs are declared on engine-written tables: the sink never drops a batch, so
--   a row rejected by a business-rule constraint would stall it; validation belongs upstream
--   (risk gate).
-- * RLS is enabled on every table. `authenticated` may only SELECT its own rows (admins,
--   per `user_roles`, read all); there is no INSERT/UPDATE/DELETE policy and no grant for
--   `anon`/`authenticated`, so a browser cannot forge an order or fill. The engine writes as
--   the table owner (`postgres`) or `service_role` (BYPASSRLS).

-- Roles of users in the wider system (may already exist: created only if missing).
create table if not exists public.user_roles (
    user_id    uuid        not null references auth.users (id) on delete cascade,
    role       text        not null check (role in ('admin', 'trader', 'viewer')),
    created_at timestamptz not null default now(),
    primary key (user_id, role)
);

-- Admin check for policies, outside the exposed schema. SECURITY DEFINER so a policy on
-- user_roles can use it without recursing into its own policy.
create schema if not exists private;
create or replace function private.is_admin() returns boolean
    language sql stable security definer set search_path = '' as $$
    select exists (select 1 from public.user_roles r
                   where r.user_id = (select auth.uid()) and r.role = 'admin')
$$;
revoke all on function private.is_admin() from public;
grant usage on schema private to authenticated;
grant execute on function private.is_admin() to authenticated;

-- Global switches flipped by edge functions (service_role); the engine follows
-- `kill_switch` ({"engaged": bool, "reason": text}).
create table if not exists public.global_settings (
    key        text        primary key,
    value      jsonb       not null,
    updated_at timestamptz not null default now(),
    updated_by uuid
);
insert into public.global_settings (key, value)
    values ('kill_switch', '{"engaged": false, "reason": null}')
    on conflict (key) do nothing;

-- Append-only audit trail: one row per engine batch (written in the batch's transaction)
-- and one per change of global_settings (trigger below).
create table if not exists public.audit_log (
    id         bigint      generated always as identity primary key,
    ts         timestamptz not null default now(),
    user_id    uuid        references auth.users (id) on delete set null,
    actor_kind text        not null check (actor_kind in ('user', 'engine', 'edge_fn', 'system')),
    action     text        not null,
    entity     text        not null,
    entity_id  text        not null,
    detail     jsonb       not null default '{}'
);
-- A replayed engine batch (same event range) is recorded once.
create unique index if not exists audit_log_engine_batch_key on public.audit_log (user_id, action, entity_id)
    where actor_kind = 'engine';
create index if not exists audit_log_user_id_ts_idx on public.audit_log (user_id, ts desc);

-- Latest state of each of our orders, upserted on (user, venue, client order id).
create table if not exists public.orders (
    user_id         uuid        not null references auth.users (id) on delete cascade,
    venue           text        not null,
    client_order_id text        not null,
    venue_order_id  bigint,
    strategy        text        not null,
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
    seq             bigint      not null,
    created_at      timestamptz generated always as (to_timestamp(created_ns / 1e9)) stored,
    updated_at      timestamptz generated always as (to_timestamp(updated_ns / 1e9)) stored,
    primary key (user_id, venue, client_order_id)
);
create index if not exists orders_user_id_updated_idx on public.orders (user_id, updated_ns desc);

-- Every fill of our orders, inserted once on the natural key (user, venue, symbol, venue
-- trade id, client order id). The client order id is part of the key because one venue
-- trade can fill two of our own orders (a self-match); without it the second fill would
-- be dropped as a duplicate. `id` is the primary key Realtime requires.
create table if not exists public.fills (
    id              bigint      generated always as identity primary key,
    user_id         uuid        not null references auth.users (id) on delete cascade,
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
    seq             bigint      not null,
    exch_ts_at      timestamptz generated always as (to_timestamp(exch_ts_ns / 1e9)) stored,
    constraint fills_natural_key unique (user_id, venue, symbol, trade_id, client_order_id)
);
create index if not exists fills_user_id_exch_ts_idx on public.fills (user_id, exch_ts_ns desc);

-- Latest position per (user, strategy, venue, symbol), upserted under the seq guard.
create table if not exists public.positions (
    user_id      uuid        not null references auth.users (id) on delete cascade,
    strategy     text        not null,
    venue        text        not null,
    symbol       text        not null,
    qty          numeric     not null,
    avg_price    numeric     not null,
    realized_pnl numeric     not null,
    fees         numeric     not null,
    updated_ns   bigint      not null,
    seq          bigint      not null,
    updated_at   timestamptz generated always as (to_timestamp(updated_ns / 1e9)) stored,
    primary key (user_id, strategy, venue, symbol)
);

-- Risk decisions and safety events, inserted once on (user, id `<run hex>-<seq>`).
create table if not exists public.risk_events (
    user_id  uuid        not null references auth.users (id) on delete cascade,
    id       text        not null,
    ts_ns    bigint      not null,
    ts_at    timestamptz generated always as (to_timestamp(ts_ns / 1e9)) stored,
    strategy text,
    symbol   text,
    reason   text        not null,
    message  text        not null,
    primary key (user_id, id)
);
create index if not exists risk_events_user_id_ts_idx on public.risk_events (user_id, ts_ns desc);

-- Strategy signals (a statistic, not money: double precision), inserted once.
create table if not exists public.signals (
    user_id  uuid             not null references auth.users (id) on delete cascade,
    id       text             not null,
    ts_ns    bigint           not null,
    strategy text             not null,
    symbol   text,
    name     text             not null,
    value    double precision not null,
    primary key (user_id, id)
);
create index if not exists signals_user_id_ts_idx on public.signals (user_id, ts_ns desc);

-- Per-stage latency windows of an engine run, inserted once.
create table if not exists public.latency_stats (
    user_id         uuid   not null references auth.users (id) on delete cascade,
    run_id          text   not null,
    stage           text   not null,
    window_start_ns bigint not null,
    window_end_ns   bigint not null,
    count           bigint not null,
    p50_ns          bigint not null,
    p99_ns          bigint not null,
    p999_ns         bigint not null,
    max_ns          bigint not null,
    primary key (user_id, run_id, stage, window_end_ns)
);

-- Row Level Security: on for every table; authenticated users read their own rows, admins
-- read everything; no write policy for browser roles anywhere.
alter table public.user_roles enable row level security;
alter table public.global_settings enable row level security;
alter table public.audit_log enable row level security;
alter table public.orders enable row level security;
alter table public.fills enable row level security;
alter table public.positions enable row level security;
alter table public.risk_events enable row level security;
alter table public.signals enable row level security;
alter table public.latency_stats enable row level security;

do $$
declare
    t text;
begin
    foreach t in array array['user_roles', 'audit_log', 'orders', 'fills', 'positions',
                             'risk_events', 'signals', 'latency_stats'] loop
        if not exists (select 1 from pg_policies where schemaname = 'public'
                       and tablename = t and policyname = t || '_select_own') then
            execute format(
                'create policy %I on public.%I for select to authenticated '
                'using ((select auth.uid()) = user_id or (select private.is_admin()))',
                t || '_select_own', t);
        end if;
    end loop;
    if not exists (select 1 from pg_policies where schemaname = 'public'
                   and tablename = 'global_settings'
                   and policyname = 'global_settings_select') then
        create policy global_settings_select on public.global_settings
            for select to authenticated using (true);
    end if;
end
$$;

-- Privileges: explicit, not relying on Supabase's default privileges (plain Postgres has
-- none, and Supabase's would grant `anon` everything). Browsers read (filtered by RLS) and
-- never write; the audit log is append-only even for service_role.
revoke all on public.user_roles, public.global_settings, public.audit_log, public.orders,
    public.fills, public.positions, public.risk_events, public.signals, public.latency_stats
    from anon, authenticated;
grant select on public.user_roles, public.global_settings, public.audit_log, public.orders,
    public.fills, public.positions, public.risk_events, public.signals, public.latency_stats
    to authenticated;
grant select, insert, update on public.orders, public.fills, public.positions,
    public.risk_events, public.signals, public.latency_stats, public.global_settings
    to service_role;
grant select, insert on public.audit_log to service_role;
revoke update, delete, truncate on public.audit_log from service_role;

-- Every change of a global setting is audited and announced on channel `global_settings`
-- (payload: {"key": …, "value": …}); the engine LISTENs there for the kill switch.
create or replace function public.global_settings_changed() returns trigger
    language plpgsql security definer set search_path = '' as $$
begin
    insert into public.audit_log (user_id, actor_kind, action, entity, entity_id, detail)
    values (new.updated_by,
            case when new.updated_by is null then 'edge_fn' else 'user' end,
            lower(tg_op), 'global_settings', new.key,
            jsonb_build_object('value', new.value));
    perform pg_notify('global_settings',
                      jsonb_build_object('key', new.key, 'value', new.value)::text);
    return new;
end
$$;
revoke all on function public.global_settings_changed() from public;
drop trigger if exists global_settings_notify on public.global_settings;
create trigger global_settings_notify
    after insert or update on public.global_settings
    for each row execute function public.global_settings_changed();

-- Realtime. Supabase always has the `supabase_realtime` publication; plain Postgres (tests,
-- self-hosted without Realtime) does not. We create it when missing, exactly as Supabase
-- does (empty, not FOR ALL TABLES). On a server with wal_level below `logical`, Postgres
-- creates it with a warning and it simply publishes nothing. If it is FOR ALL TABLES the
-- tables are already in it. Tables already present are skipped. Signals, latency stats and
-- the audit log are not published (every published row costs an RLS check per subscriber).
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
    foreach t in array array['orders', 'fills', 'positions', 'global_settings'] loop
        if not exists (select 1 from pg_publication_tables
                       where pubname = 'supabase_realtime'
                         and schemaname = 'public' and tablename = t) then
            execute format('alter publication supabase_realtime add table public.%I', t);
        end if;
    end loop;
end
$$;

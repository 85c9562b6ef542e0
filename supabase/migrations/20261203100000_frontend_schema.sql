-- A schema a frontend can trust (supabase-js generated types, PostgREST embedding, RLS that
-- keeps its index). Safe to run again: every step checks what is already there.
--
-- * Enums instead of CHECK-constrained text: the generated TypeScript types become unions.
--   `risk_events.reason` stays the engine's text code (the sink never stalls on a code a
--   migration has not listed yet); `risk_events.kind` is its enum, set by a trigger, with
--   `other` for a code not (yet) in the enum.
-- * JS-safe values: a JavaScript number holds integers exactly only up to 2^53, so every
--   bigint identifier a frontend reads gets a generated text twin (`*_text`), and every
--   nanosecond time a generated `timestamptz` (`*_at`, microseconds).
-- * fills -> orders foreign key (user, venue, client order id): `select('*, fills(*)')`
--   embeds an order's fills. Deferrable (a batch writes orders and fills in one
--   transaction); added NOT VALID and validated only if the existing rows allow it.
-- * Row-level security without OR: each user reads exactly `user_id = (select auth.uid())`,
--   an equality the planner matches to the `(user_id, <time> desc)` indexes, so an
--   unfiltered `order by <time> desc limit 50` reads 50 index entries, not every user's
--   rows (tests/pg_frontend.rs checks the plan over 100k rows of other users). Admins no
--   longer read other users' rows through RLS (an `OR is_admin()` arm turned every such
--   query into a sequential scan): an admin view goes through an edge function with the
--   service role, which checks `user_roles` itself.

-- Enums.
do $$
begin
    if to_regtype('public.order_side') is null then
        create type public.order_side as enum ('buy', 'sell');
    end if;
    if to_regtype('public.order_status') is null then
        create type public.order_status as enum ('pending', 'acked', 'partially_filled',
            'filled', 'cancelled', 'rejected', 'expired');
    end if;
    if to_regtype('public.order_type') is null then
        create type public.order_type as enum ('market', 'limit');
    end if;
    if to_regtype('public.time_in_force') is null then
        create type public.time_in_force as enum ('gtc', 'ioc', 'fok');
    end if;
    if to_regtype('public.risk_reason') is null then
        create type public.risk_reason as enum (
            -- pre-trade refusals (engine::risk::RejectReason)
            'kill_switch', 'invalid_order', 'no_reference_price', 'max_order_notional',
            'max_position', 'tick_size', 'lot_size', 'min_qty', 'max_qty', 'min_notional',
            'max_order_qty', 'max_gross_exposure', 'max_open_orders', 'price_band',
            'rate_limit', 'duplicate_order', 'self_trade', 'stale_market_data',
            -- account guard (engine::risk::account::AccountBreach)
            'daily_loss_limit', 'max_drawdown',
            -- engine events
            'kill_switch_reset', 'flatten', 'cancel_rejected', 'strategy_error',
            'strategy_halted', 'strategy_reload_failed', 'order_adopted',
            'earlier_order_cancel', 'earlier_order_not_adopted',
            -- venue reconciliation and clock
            'clock_skew', 'unknown_trade', 'foreign_trade', 'foreign_open_order',
            'foreign_order_cancelled', 'balance_mismatch',
            -- a code this list does not have yet
            'other');
    end if;
end
$$;

-- Text columns become enums (the CHECKs they replace go first).
alter table public.orders drop constraint if exists orders_side_check;
alter table public.orders drop constraint if exists orders_status_check;
alter table public.fills drop constraint if exists fills_side_check;
do $$
declare
    c record;
begin
    for c in select * from (values
            ('orders', 'side', 'order_side'),
            ('orders', 'status', 'order_status'),
            ('orders', 'order_type', 'order_type'),
            ('fills', 'side', 'order_side')) as t (tbl, col, typ) loop
        if exists (select 1 from information_schema.columns
                   where table_schema = 'public' and table_name = c.tbl
                     and column_name = c.col and data_type = 'text') then
            execute format('alter table public.%I alter column %I type public.%I '
                           'using %I::text::public.%I', c.tbl, c.col, c.typ, c.col, c.typ);
        end if;
    end loop;
end
$$;
alter table public.orders add column if not exists time_in_force public.time_in_force;

-- The risk reason as an enum beside the engine's code.
alter table public.risk_events add column if not exists kind public.risk_reason;
create or replace function private.risk_event_kind() returns trigger
    language plpgsql set search_path = '' as $$
begin
    new.kind := case
        when new.reason = any (enum_range(null::public.risk_reason)::text[])
            then new.reason::public.risk_reason
        else 'other'::public.risk_reason
    end;
    return new;
end
$$;
revoke all on function private.risk_event_kind() from public, anon, authenticated, service_role;
drop trigger if exists risk_events_kind on public.risk_events;
create trigger risk_events_kind
    before insert or update of reason on public.risk_events
    for each row execute function private.risk_event_kind();
update public.risk_events set reason = reason where kind is null;
alter table public.risk_events alter column kind set not null;

-- JS-safe twins of bigint identifiers and nanosecond times.
alter table public.orders
    add column if not exists venue_order_id_text text
        generated always as (venue_order_id::text) stored,
    add column if not exists seq_text text generated always as (seq::text) stored;
alter table public.fills
    add column if not exists id_text text generated always as (id::text) stored,
    add column if not exists trade_id_text text generated always as (trade_id::text) stored,
    add column if not exists seq_text text generated always as (seq::text) stored;
alter table public.positions
    add column if not exists seq_text text generated always as (seq::text) stored;
alter table public.audit_log
    add column if not exists id_text text generated always as (id::text) stored;
alter table public.signals
    add column if not exists ts_at timestamptz
        generated always as (to_timestamp(ts_ns / 1e9)) stored;
alter table public.latency_stats
    add column if not exists window_start_at timestamptz
        generated always as (to_timestamp(window_start_ns / 1e9)) stored,
    add column if not exists window_end_at timestamptz
        generated always as (to_timestamp(window_end_ns / 1e9)) stored;
alter table public.venue_checkpoints
    add column if not exists last_trade_id_text text
        generated always as (last_trade_id::text) stored,
    add column if not exists last_trade_at timestamptz
        generated always as (to_timestamp(last_trade_ns / 1e9)) stored;

-- fills -> orders.
create index if not exists fills_user_id_order_idx
    on public.fills (user_id, venue, client_order_id);
do $$
begin
    if not exists (select 1 from pg_constraint where conname = 'fills_order_fkey'
                   and conrelid = 'public.fills'::regclass) then
        alter table public.fills add constraint fills_order_fkey
            foreign key (user_id, venue, client_order_id)
            references public.orders (user_id, venue, client_order_id)
            on delete cascade deferrable initially deferred not valid;
    end if;
    begin
        alter table public.fills validate constraint fills_order_fkey;
    exception when foreign_key_violation then
        raise warning 'fills_order_fkey left NOT VALID: some existing fills have no order row';
    end;
end
$$;

-- Indexes for a user's newest rows by the times a frontend orders by (replacing the
-- nanosecond ones, which no query of the engine uses).
drop index if exists public.orders_user_id_updated_idx;
drop index if exists public.fills_user_id_exch_ts_idx;
drop index if exists public.risk_events_user_id_ts_idx;
drop index if exists public.signals_user_id_ts_idx;
create index if not exists orders_user_id_updated_at_idx
    on public.orders (user_id, updated_at desc);
create index if not exists orders_user_id_created_at_idx
    on public.orders (user_id, created_at desc);
create index if not exists fills_user_id_exch_ts_at_idx
    on public.fills (user_id, exch_ts_at desc);
create index if not exists positions_user_id_updated_at_idx
    on public.positions (user_id, updated_at desc);
create index if not exists risk_events_user_id_ts_at_idx
    on public.risk_events (user_id, ts_at desc);
create index if not exists signals_user_id_ts_at_idx
    on public.signals (user_id, ts_at desc);
create index if not exists latency_stats_user_id_window_end_at_idx
    on public.latency_stats (user_id, window_end_at desc);

-- Policies: one equality per table, no OR.
do $$
declare
    t text;
begin
    foreach t in array array['user_roles', 'audit_log', 'orders', 'fills', 'positions',
                             'risk_events', 'signals', 'latency_stats',
                             'venue_checkpoints'] loop
        execute format('drop policy if exists %I on public.%I', t || '_select_own', t);
        execute format(
            'create policy %I on public.%I for select to authenticated '
            'using (user_id = (select auth.uid()))', t || '_select_own', t);
    end loop;
end
$$;

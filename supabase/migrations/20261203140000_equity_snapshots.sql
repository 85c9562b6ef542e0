-- Equity/PnL time series for the frontend. Safe to run again.
--
-- Every `[engine] equity_snapshot_interval_s` (and once at the stop) the engine takes its
-- positions and marks (last trade, else mid of the touch) and the sink inserts, once on
-- (user, id `<run hex>-q<snapshot>-<row>`):
-- * scope `strategy`: one row per instrument the strategy has a position in, and its total
--   (symbol null);
-- * scope `account` (strategy null): one row per instrument with every strategy's position
--   summed, and the total (symbol null).
-- realized_pnl is net of fees; equity = realized_pnl + unrealized_pnl (PnL since the
-- positions began, not the account balance). unrealized_pnl and equity are null while a
-- held instrument has no price yet; qty and mark are null on the totals.
-- Append-only: the engine (service_role) may only insert, browsers only read their own rows.
do $$
begin
    if to_regtype('public.equity_scope') is null then
        create type public.equity_scope as enum ('strategy', 'account');
    end if;
end
$$;

create table if not exists public.equity_snapshots (
    user_id        uuid                not null references auth.users (id) on delete cascade,
    id             text                not null,
    run_id         text                not null,
    ts_ns          bigint              not null,
    ts_at          timestamptz generated always as (to_timestamp(ts_ns / 1e9)) stored,
    scope          public.equity_scope not null,
    strategy       text,
    venue          text                not null,
    symbol         text,
    qty            numeric,
    mark           numeric,
    realized_pnl   numeric             not null,
    unrealized_pnl numeric,
    fees           numeric             not null,
    equity         numeric,
    primary key (user_id, id)
);
create index if not exists equity_snapshots_user_id_ts_at_idx
    on public.equity_snapshots (user_id, ts_at desc);

alter table public.equity_snapshots enable row level security;
drop policy if exists equity_snapshots_select_own on public.equity_snapshots;
create policy equity_snapshots_select_own on public.equity_snapshots for select to authenticated
    using (user_id = (select auth.uid()));
revoke all on table public.equity_snapshots from public, anon, authenticated, service_role;
grant select on table public.equity_snapshots to authenticated, service_role;
grant insert on table public.equity_snapshots to service_role;

select private.publish_for_realtime('equity_snapshots');

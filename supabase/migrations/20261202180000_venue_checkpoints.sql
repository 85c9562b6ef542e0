-- How far each symbol's trade history at the venue has been taken into the database, per
-- (user, venue, account, symbol): every trade of the account with a venue trade id at most
-- last_trade_id is a committed fill or was never ours. The sink moves it forward (never
-- back) in the transaction that commits the fills; the engine reads it at start and asks
-- the venue for every trade after it (Binance `myTrades?fromId=last_trade_id+1`).
-- `account` is the configured `[venue] account` label, never a key. Same shape as the
-- SQLite table in engine/migrations/sqlite/, plus the owner column and RLS.
create table if not exists public.venue_checkpoints (
    user_id       uuid        not null references auth.users (id) on delete cascade,
    venue         text        not null,
    account       text        not null,
    symbol        text        not null,
    last_trade_id bigint      not null,
    last_trade_ns bigint      not null,
    updated_ns    bigint      not null,
    updated_at    timestamptz generated always as (to_timestamp(updated_ns / 1e9)) stored,
    primary key (user_id, venue, account, symbol)
);

-- RLS as for every table: the owner (and admins) read, browsers never write.
alter table public.venue_checkpoints enable row level security;
do $$
begin
    if not exists (select 1 from pg_policies where schemaname = 'public'
                   and tablename = 'venue_checkpoints'
                   and policyname = 'venue_checkpoints_select_own') then
        create policy venue_checkpoints_select_own on public.venue_checkpoints
            for select to authenticated
            using ((select auth.uid()) = user_id or (select private.is_admin()));
    end if;
end
$$;
revoke all on public.venue_checkpoints from anon, authenticated;
grant select on public.venue_checkpoints to authenticated;
grant select, insert, update on public.venue_checkpoints to service_role;

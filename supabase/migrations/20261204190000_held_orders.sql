-- Conditional orders the engine holds (stop, take-profit, trailing stop, a bracket's exits),
-- so that they survive a restart. Safe to run again.
--
-- The engine upserts each on (user, venue, client_order_id) to its latest state, a newer
-- event sequence winning: `held` while it waits for its trigger (the engine holds these
-- again at start), `fired` once placed (the order then has its own rows in orders, under
-- the same client_order_id), `dropped` when cancelled before it fired. oco_with names the
-- order it cancels (or is cancelled by). The engine (its own role, peregrine_engine, for the
-- users it serves; or service_role) reads, inserts and updates; browsers read their own rows
-- (realtime).
do $$
begin
    if to_regtype('public.held_order_status') is null then
        create type public.held_order_status as enum ('held', 'fired', 'dropped');
    end if;
    if to_regtype('public.trigger_kind') is null then
        create type public.trigger_kind as enum ('stop', 'take_profit', 'trailing');
    end if;
end
$$;

create table if not exists public.held_orders (
    user_id         uuid                     not null references auth.users (id) on delete cascade,
    client_order_id text                     not null,
    strategy        text                     not null,
    venue           text                     not null,
    symbol          text                     not null,
    side            public.order_side        not null,
    order_type      public.order_type        not null,
    price           numeric,
    qty             numeric                  not null,
    time_in_force   public.time_in_force     not null,
    post_only       boolean                  not null,
    reduce_only     boolean                  not null,
    trigger_kind    public.trigger_kind      not null,
    trigger_price   numeric,
    trail_offset    numeric,
    trail_percent   boolean                  not null,
    trail_extreme   numeric,
    oco_with        text,
    status          public.held_order_status not null,
    created_ns      bigint                   not null,
    created_at      timestamptz generated always as (to_timestamp(created_ns / 1e9)) stored,
    updated_ns      bigint                   not null,
    updated_at      timestamptz generated always as (to_timestamp(updated_ns / 1e9)) stored,
    seq             bigint                   not null,
    seq_text        text generated always as (seq::text) stored,
    primary key (user_id, venue, client_order_id)
);
create index if not exists held_orders_user_id_updated_at_idx
    on public.held_orders (user_id, updated_at desc);

alter table public.held_orders enable row level security;
drop policy if exists held_orders_select_own on public.held_orders;
create policy held_orders_select_own on public.held_orders for select to authenticated
    using (user_id = (select auth.uid()));
revoke all on table public.held_orders from public, anon, authenticated, service_role,
    peregrine_engine;
grant select on table public.held_orders to authenticated, service_role;
grant insert, update on table public.held_orders to service_role;
-- The engine role (20261204090000_engine_role.sql): upserts and reads back the rows of the
-- users it serves, as with orders.
grant select, insert, update on table public.held_orders to peregrine_engine;
drop policy if exists held_orders_engine on public.held_orders;
create policy held_orders_engine on public.held_orders for all to peregrine_engine
    using (user_id = any ((select private.served_users())::uuid[]))
    with check (user_id = any ((select private.served_users())::uuid[]));

select private.publish_for_realtime('held_orders');

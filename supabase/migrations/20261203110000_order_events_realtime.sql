-- Order status history for the frontend, and risk events in the realtime publication.
-- Safe to run again.
--
-- order_events: every state change of each of our orders (orders keeps only the latest),
-- inserted once by the sink on (user, venue, client order id, status, filled quantity), in
-- the batch's transaction: a state reported twice (a replayed batch, an order adopted by a
-- later run) is one row; `seq` orders the rows. Append-only: the engine (service_role) may only insert, browsers
-- only read their own rows. References its order (deferrable: the batch writes the order
-- row in the same transaction).
create table if not exists public.order_events (
    user_id         uuid                not null references auth.users (id) on delete cascade,
    venue           text                not null,
    client_order_id text                not null,
    seq             bigint              not null,
    venue_order_id  bigint,
    status          public.order_status not null,
    filled_qty      numeric             not null,
    reject_reason   text,
    ts_ns           bigint              not null,
    ts_at           timestamptz generated always as (to_timestamp(ts_ns / 1e9)) stored,
    seq_text        text generated always as (seq::text) stored,
    venue_order_id_text text generated always as (venue_order_id::text) stored,
    primary key (user_id, venue, client_order_id, status, filled_qty),
    constraint order_events_order_fkey foreign key (user_id, venue, client_order_id)
        references public.orders (user_id, venue, client_order_id)
        on delete cascade deferrable initially deferred
);
create index if not exists order_events_user_id_ts_at_idx
    on public.order_events (user_id, ts_at desc);

alter table public.order_events enable row level security;
drop policy if exists order_events_select_own on public.order_events;
create policy order_events_select_own on public.order_events for select to authenticated
    using (user_id = (select auth.uid()));
revoke all on table public.order_events from public, anon, authenticated, service_role;
grant select on table public.order_events to authenticated, service_role;
grant insert on table public.order_events to service_role;

-- Realtime. Adds tables to the `supabase_realtime` publication (created when missing, as
-- Supabase has it: empty, not FOR ALL TABLES; nothing to do if it is FOR ALL TABLES; tables
-- already in it are skipped). For this and later migrations.
create or replace function private.publish_for_realtime(variadic tables text[])
    returns void language plpgsql set search_path = '' as $$
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
    foreach t in array tables loop
        if not exists (select 1 from pg_publication_tables
                       where pubname = 'supabase_realtime'
                         and schemaname = 'public' and tablename = t) then
            execute format('alter publication supabase_realtime add table public.%I', t);
        end if;
    end loop;
end
$$;
revoke all on function private.publish_for_realtime(text[])
    from public, anon, authenticated, service_role;

-- A UI watches order history and risk events as they happen.
select private.publish_for_realtime('order_events', 'risk_events');

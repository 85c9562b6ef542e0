-- The engine's own database role. Safe to run again.
--
-- `peregrine_engine` (NOLOGIN, NOBYPASSRLS, not the owner of anything) holds exactly what a
-- running engine needs; an operator gives each engine a login role that is a member of it
-- (`create role peregrine_engine_a login password '...' in role peregrine_engine`) and lists
-- the users that engine serves in `private.engine_users`. The seed's rule "service role for
-- database access, no RLS bypass for user data" holds: the engine is not service_role (which
-- has BYPASSRLS on Supabase) and bypasses nothing; its policies below let it read and write
-- only the rows of the users assigned to its login role (`session_user`), and read their
-- exchange keys only through `private.engine_exchange_keys()` (it has nothing in the vault
-- schema). Edge functions keep service_role; browsers keep `authenticated`.
--
-- | tables                                                         | peregrine_engine      |
-- | -------------------------------------------------------------- | --------------------- |
-- | orders, positions, venue_checkpoints, runs (upserted)          | SELECT, INSERT, UPDATE |
-- | fills (appended, read back at start)                           | SELECT, INSERT        |
-- | order_events, risk_events, signals, latency_stats,             | INSERT, and SELECT on |
-- | equity_snapshots, strategy_reloads, audit_log (appended)       | the conflict keys     |
-- | kill_switches, strategies, user_exchange_keys (followed)       | SELECT                |
-- | global_settings (the global kill switch)                       | SELECT (every row)    |
-- | user_roles, vault.*                                            | nothing               |
--
-- Every user-data policy is `user_id = any ((select private.served_users())::uuid[])`: evaluated
-- once per statement (an initplan), so the `user_id` indexes stay usable.

do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'peregrine_engine') then
        create role peregrine_engine nologin nobypassrls;
    end if;
exception when unique_violation or duplicate_object then
    null; -- created at the same moment by another database's migration (roles are cluster-wide)
end $$;

-- Which users each engine login role serves (managed by the operator, as the owner).
create table if not exists private.engine_users (
    engine_role name not null,
    user_id     uuid not null references auth.users (id) on delete cascade,
    primary key (engine_role, user_id)
);
revoke all on table private.engine_users from public, anon, authenticated, service_role,
    peregrine_engine;

-- The users the session's login role serves (none for a role not listed).
create or replace function private.served_users() returns uuid[]
    language sql stable security definer set search_path = '' as $$
    select coalesce(array_agg(user_id), '{}'::uuid[])
    from private.engine_users where engine_role = session_user
$$;

-- A served user's exchange key for (venue, account), decrypted; nothing for anyone else.
create or replace function private.engine_exchange_keys(p_user uuid, p_venue text,
                                                         p_account text)
    returns table (key_type text, api_key text, api_secret text)
    language sql stable security definer set search_path = '' as $$
    select k.key_type, ak.decrypted_secret, sk.decrypted_secret
    from public.user_exchange_keys k
    join vault.decrypted_secrets ak on ak.id = k.api_key_id
    join vault.decrypted_secrets sk on sk.id = k.api_secret_id
    where k.user_id = p_user and k.venue = p_venue and k.account = p_account
      and p_user = any (private.served_users())
$$;

revoke all on function private.served_users(), private.engine_exchange_keys(uuid, text, text)
    from public, anon, authenticated, service_role;
grant usage on schema public, private to peregrine_engine;
grant execute on function private.served_users(), private.engine_exchange_keys(uuid, text, text)
    to peregrine_engine;

-- Table rights: revoke first (stated, not inherited), then exactly these.
revoke all on table public.user_roles, public.global_settings, public.audit_log,
    public.orders, public.fills, public.positions, public.risk_events, public.signals,
    public.latency_stats, public.venue_checkpoints, public.order_events,
    public.kill_switches, public.runs, public.equity_snapshots, public.strategies,
    public.strategy_reloads, public.user_exchange_keys
    from peregrine_engine;
grant select, insert, update on table public.orders, public.positions,
    public.venue_checkpoints, public.runs to peregrine_engine;
grant select, insert on table public.fills to peregrine_engine;
grant insert on table public.order_events, public.risk_events, public.signals,
    public.latency_stats, public.equity_snapshots, public.strategy_reloads, public.audit_log
    to peregrine_engine;
grant select on table public.kill_switches, public.strategies, public.user_exchange_keys,
    public.global_settings to peregrine_engine;
-- `INSERT ... ON CONFLICT (cols) DO NOTHING` reads its conflict target: SELECT on exactly
-- those columns (and the arbiter index's predicate column) of the appended tables.
grant select (user_id, venue, client_order_id, status, filled_qty) on table public.order_events
    to peregrine_engine;
grant select (user_id, id) on table public.risk_events, public.signals,
    public.equity_snapshots, public.strategy_reloads to peregrine_engine;
grant select (user_id, run_id, stage, window_end_ns) on table public.latency_stats
    to peregrine_engine;
grant select (user_id, action, entity_id, actor_kind) on table public.audit_log
    to peregrine_engine;

-- Policies, one per table and command the engine is granted.
do $$
declare
    t text;
    served constant text := 'user_id = any ((select private.served_users())::uuid[])';
begin
    foreach t in array array['orders', 'positions', 'venue_checkpoints', 'runs'] loop
        execute format('drop policy if exists %I on public.%I', t || '_engine', t);
        execute format('create policy %I on public.%I for all to peregrine_engine '
                       'using (%s) with check (%s)', t || '_engine', t, served, served);
    end loop;
    foreach t in array array['fills', 'order_events', 'risk_events', 'signals',
                             'latency_stats', 'equity_snapshots', 'strategy_reloads',
                             'audit_log'] loop
        execute format('drop policy if exists %I on public.%I', t || '_engine_insert', t);
        execute format('create policy %I on public.%I for insert to peregrine_engine '
                       'with check (%s)', t || '_engine_insert', t, served);
    end loop;
    -- Also the appended tables: an INSERT that reads its conflict target must see the new
    -- row through a SELECT policy (their SELECT grant is the conflict keys only).
    foreach t in array array['fills', 'kill_switches', 'strategies', 'user_exchange_keys',
                             'order_events', 'risk_events', 'signals', 'latency_stats',
                             'equity_snapshots', 'strategy_reloads', 'audit_log'] loop
        execute format('drop policy if exists %I on public.%I', t || '_engine_select', t);
        execute format('create policy %I on public.%I for select to peregrine_engine '
                       'using (%s)', t || '_engine_select', t, served);
    end loop;
end $$;
drop policy if exists global_settings_engine_select on public.global_settings;
create policy global_settings_engine_select on public.global_settings for select
    to peregrine_engine using (true);

-- A changed key row is announced (user, venue, account; never a secret) on the channel
-- `user_exchange_keys`, which the engine LISTENs to and then reloads that account's key.
-- An edge function that rotates a key in place (`vault.update_secret`) touches the row too
-- (`update user_exchange_keys set updated_at = now() ...`); the engine's poll catches a
-- change made without it.
create or replace function private.user_exchange_keys_changed() returns trigger
    language plpgsql security definer set search_path = '' as $$
declare
    r jsonb := case when tg_op = 'DELETE' then to_jsonb(old) else to_jsonb(new) end;
begin
    perform pg_notify('user_exchange_keys',
                      jsonb_build_object('user_id', r ->> 'user_id', 'venue', r ->> 'venue',
                                         'account', r ->> 'account', 'op', lower(tg_op))::text);
    return null;
end
$$;
revoke all on function private.user_exchange_keys_changed()
    from public, anon, authenticated, service_role, peregrine_engine;
drop trigger if exists user_exchange_keys_notify on public.user_exchange_keys;
create trigger user_exchange_keys_notify
    after insert or update or delete on public.user_exchange_keys
    for each row execute function private.user_exchange_keys_changed();

-- Strategies as rows edge functions manage, followed by a running engine, and the outcome
-- of every reload. Safe to run again.
--
-- strategies: one row per (user, strategy name): the script's source, its SHA-256
-- (generated), parameters (jsonb; decimals as strings, as in the config) and a version that
-- a trigger raises on every change of source or parameters. An engine running a strategy
-- of that name for that user (the name in its config) follows the row (LISTEN on channel
-- `strategies` plus a poll): each new version is checked like a hot-reloaded file and
-- swapped in between events, or refused with the old version kept running. Every insert,
-- update and delete is audited. service_role (edge functions) reads and writes; browsers
-- read their own rows.
--
-- strategy_reloads: the engine's record of each new version, inserted once on
-- (user, id `<run hex>-r<seq>`): accepted, or refused with the reasons. Append-only for the
-- engine (service_role); browsers read their own.
create table if not exists public.strategies (
    user_id       uuid        not null references auth.users (id) on delete cascade,
    name          text        not null,
    source        text        not null,
    source_sha256 text        not null default '',
    params        jsonb       not null default '{}'::jsonb,
    version       bigint      not null default 1,
    updated_at    timestamptz not null default now(),
    updated_by    uuid,
    primary key (user_id, name),
    constraint strategies_params_object check (jsonb_typeof(params) = 'object')
);

-- Version 1 on insert, a new version on every change of source or parameters, the
-- source's SHA-256 and updated_at kept by the database, whatever the writer sets.
create or replace function private.strategy_versioned() returns trigger
    language plpgsql set search_path = '' as $$
begin
    if tg_op = 'INSERT' then
        new.version := 1;
    elsif new.source is distinct from old.source or new.params is distinct from old.params then
        new.version := old.version + 1;
    else
        new.version := old.version;
    end if;
    new.source_sha256 := encode(sha256(convert_to(new.source, 'UTF8')), 'hex');
    new.updated_at := now();
    return new;
end
$$;

-- Audit + notify for inserts, updates and deletes.
create or replace function private.strategy_changed() returns trigger
    language plpgsql security definer set search_path = '' as $$
declare
    r     jsonb := case when tg_op = 'DELETE' then to_jsonb(old) else to_jsonb(new) end;
    actor uuid := (r ->> 'updated_by')::uuid;
begin
    insert into public.audit_log (user_id, actor_kind, action, entity, entity_id, detail)
    values (coalesce(actor, (r ->> 'user_id')::uuid),
            case when actor is null then 'edge_fn' else 'user' end,
            lower(tg_op), 'strategies', (r ->> 'user_id') || '/' || (r ->> 'name'),
            jsonb_build_object('version', r -> 'version',
                               'source_sha256', r -> 'source_sha256',
                               'params', r -> 'params'));
    perform pg_notify('strategies',
                      jsonb_build_object('user_id', r ->> 'user_id', 'name', r ->> 'name',
                                         'version', r -> 'version')::text);
    return null;
end
$$;
revoke all on function private.strategy_versioned(), private.strategy_changed()
    from public, anon, authenticated, service_role;

drop trigger if exists strategies_versioned on public.strategies;
create trigger strategies_versioned
    before insert or update on public.strategies
    for each row execute function private.strategy_versioned();
drop trigger if exists strategies_audit on public.strategies;
create trigger strategies_audit
    after insert or update or delete on public.strategies
    for each row execute function private.strategy_changed();

alter table public.strategies enable row level security;
drop policy if exists strategies_select_own on public.strategies;
create policy strategies_select_own on public.strategies for select to authenticated
    using (user_id = (select auth.uid()));
revoke all on table public.strategies from public, anon, authenticated, service_role;
grant select on table public.strategies to authenticated, service_role;
grant insert, update, delete on table public.strategies to service_role;

create table if not exists public.strategy_reloads (
    user_id     uuid    not null references auth.users (id) on delete cascade,
    id          text    not null,
    run_id      text    not null,
    ts_ns       bigint  not null,
    ts_at       timestamptz generated always as (to_timestamp(ts_ns / 1e9)) stored,
    strategy    text    not null,
    origin      text    not null check (origin in ('file', 'database')),
    version     bigint,
    source_hash text    not null,
    accepted    boolean not null,
    message     text    not null,
    primary key (user_id, id)
);
create index if not exists strategy_reloads_user_id_ts_at_idx
    on public.strategy_reloads (user_id, ts_at desc);

alter table public.strategy_reloads enable row level security;
drop policy if exists strategy_reloads_select_own on public.strategy_reloads;
create policy strategy_reloads_select_own on public.strategy_reloads for select to authenticated
    using (user_id = (select auth.uid()));
revoke all on table public.strategy_reloads from public, anon, authenticated, service_role;
grant select on table public.strategy_reloads to authenticated, service_role;
grant insert on table public.strategy_reloads to service_role;

select private.publish_for_realtime('strategies', 'strategy_reloads');

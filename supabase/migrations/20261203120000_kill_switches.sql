-- Kill switches per user and global. Safe to run again.
--
-- * Global: `global_settings` row `kill_switch` ({"engaged": bool, "reason": text}), as
--   before; stops every user's engine.
-- * Per user: `kill_switches` (one row per user): stops only that user's engine.
-- * An engine trades for a user only while both rows exist and neither is engaged: a missing
--   row (never created, or deleted) or an unreadable value fails closed (orders refused,
--   with a message naming the row). Create a user's row (engaged = false) to let them trade.
-- * Every change of either table, delete included, is written to `audit_log` (who: the
--   row's `updated_by`, else the edge function or an operator) and announced with
--   pg_notify (`global_settings` / `kill_switches` channels), which the engine LISTENs to.
-- * `updated_at` is set by a trigger on every update.
-- * service_role (edge functions) may insert, update and delete both; browsers read the
--   global row and their own switch.

create table if not exists public.kill_switches (
    user_id    uuid        primary key references auth.users (id) on delete cascade,
    engaged    boolean     not null default false,
    reason     text,
    updated_at timestamptz not null default now(),
    updated_by uuid
);

alter table public.kill_switches enable row level security;
drop policy if exists kill_switches_select_own on public.kill_switches;
create policy kill_switches_select_own on public.kill_switches for select to authenticated
    using (user_id = (select auth.uid()));
revoke all on table public.kill_switches from public, anon, authenticated, service_role;
grant select on table public.kill_switches to authenticated;
grant select, insert, update, delete on table public.kill_switches to service_role;
grant delete on table public.global_settings to service_role;

-- updated_at on every update, whatever the writer sets.
create or replace function private.touch_updated_at() returns trigger
    language plpgsql set search_path = '' as $$
begin
    new.updated_at := now();
    return new;
end
$$;

-- Audit + notify, for inserts, updates and deletes of either table.
create or replace function private.kill_switch_changed() returns trigger
    language plpgsql security definer set search_path = '' as $$
declare
    r         jsonb := case when tg_op = 'DELETE' then to_jsonb(old) else to_jsonb(new) end;
    actor     uuid := (r ->> 'updated_by')::uuid;
    row_key   text := coalesce(r ->> 'key', r ->> 'user_id');
    new_state jsonb := case when tg_op = 'DELETE' then null
                       else to_jsonb(new) - 'updated_at' - 'updated_by' end;
    old_state jsonb := case when tg_op = 'INSERT' then null
                       else to_jsonb(old) - 'updated_at' - 'updated_by' end;
begin
    insert into public.audit_log (user_id, actor_kind, action, entity, entity_id, detail)
    values (coalesce(actor, (r ->> 'user_id')::uuid),
            case when actor is null then 'edge_fn' else 'user' end,
            lower(tg_op), tg_table_name, row_key,
            jsonb_build_object('old', old_state, 'new', new_state));
    if tg_table_name = 'global_settings' then
        perform pg_notify('global_settings',
                          jsonb_build_object('key', row_key,
                                             'value', new_state -> 'value')::text);
    else
        perform pg_notify('kill_switches', jsonb_build_object('user_id', row_key)::text);
    end if;
    return null;
end
$$;
revoke all on function private.touch_updated_at(), private.kill_switch_changed()
    from public, anon, authenticated, service_role;

drop trigger if exists global_settings_notify on public.global_settings;
drop trigger if exists global_settings_audit on public.global_settings;
create trigger global_settings_audit
    after insert or update or delete on public.global_settings
    for each row execute function private.kill_switch_changed();
drop trigger if exists global_settings_touch on public.global_settings;
create trigger global_settings_touch
    before update on public.global_settings
    for each row execute function private.touch_updated_at();
drop function if exists private.global_settings_changed();

drop trigger if exists kill_switches_audit on public.kill_switches;
create trigger kill_switches_audit
    after insert or update or delete on public.kill_switches
    for each row execute function private.kill_switch_changed();
drop trigger if exists kill_switches_touch on public.kill_switches;
create trigger kill_switches_touch
    before update on public.kill_switches
    for each row execute function private.touch_updated_at();

-- Realtime: a UI shows the user's switch as it changes.
select private.publish_for_realtime('kill_switches');

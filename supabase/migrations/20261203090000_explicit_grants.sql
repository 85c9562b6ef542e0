-- Privileges stated, not inherited. Supabase projects differ in their default privileges:
-- older ones grant ALL on every new table, function and sequence in `public` to `anon`,
-- `authenticated` and `service_role`; newer ones grant nothing. This migration revokes
-- everything from those roles (and from PUBLIC) on our objects and grants exactly what each
-- needs, so both kinds of project end with the same rights (tests/pg_grants.rs checks both).
--
-- | role          | tables                                                              |
-- | ------------- | ------------------------------------------------------------------- |
-- | anon          | nothing                                                             |
-- | authenticated | SELECT (rows filtered by RLS); never writes                         |
-- | service_role  | ledger upserted by the engine (orders, positions, venue_checkpoints): SELECT, INSERT, UPDATE |
-- |               | ledger appended by the engine (fills, risk_events, signals, latency_stats): SELECT, INSERT |
-- |               | audit_log: SELECT, INSERT (append-only for everyone, trigger below)  |
-- |               | user_roles (edge functions manage roles): SELECT, INSERT, UPDATE, DELETE |
-- |               | global_settings: SELECT, INSERT, UPDATE                             |
--
-- No role but the owner has TRUNCATE, REFERENCES or TRIGGER; no sequence is granted (the
-- identity columns need none); no function is executable by anon, and trigger functions by
-- nobody. Safe to run again.

-- Tables.
revoke all on table public.user_roles, public.global_settings, public.audit_log,
    public.orders, public.fills, public.positions, public.risk_events, public.signals,
    public.latency_stats, public.venue_checkpoints
    from public, anon, authenticated, service_role;
grant select on table public.user_roles, public.global_settings, public.audit_log,
    public.orders, public.fills, public.positions, public.risk_events, public.signals,
    public.latency_stats, public.venue_checkpoints
    to authenticated, service_role;
grant insert, update on table public.orders, public.positions, public.venue_checkpoints
    to service_role;
grant insert on table public.fills, public.risk_events, public.signals, public.latency_stats,
    public.audit_log
    to service_role;
grant insert, update, delete on table public.user_roles to service_role;
grant insert, update on table public.global_settings to service_role;

-- Sequences behind the identity columns: nobody but the owner (inserting needs none).
revoke all on sequence public.audit_log_id_seq, public.fills_id_seq
    from public, anon, authenticated, service_role;

-- The audit log is append-only for everyone, the owner included: UPDATE, DELETE and
-- TRUNCATE raise. Its user_id is kept when the user is deleted (an audit trail outlives the
-- account), so it no longer references auth.users (whose `on delete set null` would be an
-- UPDATE).
alter table public.audit_log drop constraint if exists audit_log_user_id_fkey;
create or replace function private.audit_log_append_only() returns trigger
    language plpgsql set search_path = '' as $$
begin
    raise exception 'audit_log is append-only (% refused)', tg_op
        using errcode = 'insufficient_privilege';
end
$$;
drop trigger if exists audit_log_append_only on public.audit_log;
create trigger audit_log_append_only
    before update or delete on public.audit_log
    for each row execute function private.audit_log_append_only();
drop trigger if exists audit_log_no_truncate on public.audit_log;
create trigger audit_log_no_truncate
    before truncate on public.audit_log
    for each statement execute function private.audit_log_append_only();

-- The global_settings trigger function moves out of the exposed schema (PostgREST offers
-- every function in `public` as an RPC; on older projects anon could EXECUTE it).
create or replace function private.global_settings_changed() returns trigger
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
drop trigger if exists global_settings_notify on public.global_settings;
create trigger global_settings_notify
    after insert or update on public.global_settings
    for each row execute function private.global_settings_changed();
drop function if exists public.global_settings_changed();

-- Functions: the admin check is for policies (authenticated) only; trigger functions are
-- run by their triggers and executable by nobody.
revoke all on function private.is_admin() from public, anon, authenticated, service_role;
grant execute on function private.is_admin() to authenticated;
revoke all on function private.audit_log_append_only(), private.global_settings_changed()
    from public, anon, authenticated, service_role;
revoke all on schema private from public, anon, service_role;
grant usage on schema private to authenticated;

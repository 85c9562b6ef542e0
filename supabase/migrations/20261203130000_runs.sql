-- One row per engine run, for the frontend's engine-health view. Safe to run again.
--
-- The sink upserts it on (user, run id) under the event-sequence guard: at the start
-- (status running), every heartbeat, and at an orderly stop (status stopped, stopped_at).
-- A row still `running` whose heartbeat_at is old belongs to a run that died.
-- config_hash is the SHA-256 of the run's parsed configuration (no secrets are in it).
do $$
begin
    if to_regtype('public.run_status') is null then
        create type public.run_status as enum ('running', 'stopped');
    end if;
end
$$;

create table if not exists public.runs (
    user_id      uuid              not null references auth.users (id) on delete cascade,
    run_id       text              not null,
    version      text              not null,
    config_hash  text              not null,
    started_ns   bigint            not null,
    stopped_ns   bigint,
    status       public.run_status not null,
    heartbeat_ns bigint            not null,
    seq          bigint            not null,
    started_at   timestamptz generated always as (to_timestamp(started_ns / 1e9)) stored,
    stopped_at   timestamptz generated always as (to_timestamp(stopped_ns / 1e9)) stored,
    heartbeat_at timestamptz generated always as (to_timestamp(heartbeat_ns / 1e9)) stored,
    primary key (user_id, run_id)
);
create index if not exists runs_user_id_started_at_idx on public.runs (user_id, started_at desc);

alter table public.runs enable row level security;
drop policy if exists runs_select_own on public.runs;
create policy runs_select_own on public.runs for select to authenticated
    using (user_id = (select auth.uid()));
revoke all on table public.runs from public, anon, authenticated, service_role;
grant select on table public.runs to authenticated, service_role;
grant insert, update on table public.runs to service_role;

select private.publish_for_realtime('runs');

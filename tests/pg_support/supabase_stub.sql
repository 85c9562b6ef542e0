-- Test-only stand-in for what a Supabase database provides before any project migration:
-- the API roles, `auth.users`, `auth.uid()`/`auth.role()`/`auth.jwt()` reading the JWT
-- claims the API gateway sets (`request.jwt.claims`, falling back to the older
-- per-claim settings, as Supabase's own definitions do), and the realtime publication.
-- Never part of supabase/migrations: Supabase has the real ones.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'anon') then
        create role anon nologin noinherit;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'authenticated') then
        create role authenticated nologin noinherit;
    end if;
    if not exists (select 1 from pg_roles where rolname = 'service_role') then
        create role service_role nologin noinherit bypassrls;
    end if;
exception when unique_violation or duplicate_object then
    null; -- another test database created them at the same moment (roles are cluster-wide)
end $$;
create schema if not exists auth;
create table if not exists auth.users (
    id    uuid primary key,
    email text
);
create or replace function auth.jwt() returns jsonb language sql stable as $$
    select coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                    nullif(current_setting('request.jwt.claims', true), ''))::jsonb
$$;
create or replace function auth.uid() returns uuid language sql stable as $$
    select coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid
$$;
create or replace function auth.role() returns text language sql stable as $$
    select coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                    (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text
$$;
grant usage on schema auth, public to anon, authenticated, service_role;
do $$
begin
    if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
        create publication supabase_realtime;
    end if;
end $$;

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
-- Supabase Vault's interface (the `supabase_vault` extension; docs: supabase.com/docs/guides/
-- database/vault): `vault.secrets`, the `vault.decrypted_secrets` view with
-- `decrypted_secret`, and `vault.create_secret(secret, name, description)` returning the
-- new id. This stand-in does NOT encrypt (the real one stores authenticated ciphertext);
-- it only gives the engine and the tests the same tables, view, function and owner
-- (nobody but the owner has any right on them, as on a project before grants).
create schema if not exists vault;
create table if not exists vault.secrets (
    id          uuid        primary key default gen_random_uuid(),
    name        text        unique,
    description text        not null default '',
    secret      text        not null,
    key_id      uuid,
    nonce       bytea,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now()
);
create or replace view vault.decrypted_secrets as
    select id, name, description, secret, secret as decrypted_secret, key_id, nonce,
           created_at, updated_at
    from vault.secrets;
create or replace function vault.create_secret(
    new_secret text, new_name text default null, new_description text default '',
    new_key_id uuid default null) returns uuid
    language sql security definer set search_path = '' as $$
    insert into vault.secrets (secret, name, description, key_id)
    values (new_secret, new_name, new_description, new_key_id)
    returning id
$$;
revoke all on schema vault from public;
revoke all on all tables in schema vault from public;
revoke all on function vault.create_secret(text, text, text, uuid) from public;

-- Exchange API keys per user, the secrets in Supabase Vault. Safe to run again.
--
-- user_exchange_keys: one row per (user, venue, account label): the key type and the ids
-- of two `vault.secrets` rows (the API key, and the HMAC secret or the Ed25519 PEM private
-- key), created by an edge function with `vault.create_secret()`. The table holds no secret
-- itself; browsers read their own rows (which venues have keys, when they changed), never a
-- secret. Only service_role (edge functions, the engine) reads `vault.decrypted_secrets`;
-- anon and authenticated have nothing in the vault schema. On a hosted project the vault
-- objects belong to Supabase's admin role: the grants below need the migrating role to
-- hold them with grant option (not verified against a hosted project).
create table if not exists public.user_exchange_keys (
    user_id          uuid        not null references auth.users (id) on delete cascade,
    venue            text        not null,
    account          text        not null default 'default',
    key_type         text        not null check (key_type in ('hmac', 'ed25519')),
    api_key_id       uuid        not null references vault.secrets (id) on delete restrict,
    api_secret_id    uuid        not null references vault.secrets (id) on delete restrict,
    created_at       timestamptz not null default now(),
    updated_at       timestamptz not null default now(),
    primary key (user_id, venue, account)
);
drop trigger if exists user_exchange_keys_touch on public.user_exchange_keys;
create trigger user_exchange_keys_touch
    before update on public.user_exchange_keys
    for each row execute function private.touch_updated_at();

alter table public.user_exchange_keys enable row level security;
drop policy if exists user_exchange_keys_select_own on public.user_exchange_keys;
create policy user_exchange_keys_select_own on public.user_exchange_keys for select
    to authenticated using (user_id = (select auth.uid()));
revoke all on table public.user_exchange_keys from public, anon, authenticated, service_role;
grant select on table public.user_exchange_keys to authenticated, service_role;
grant insert, update, delete on table public.user_exchange_keys to service_role;

-- The vault: service_role only.
revoke all on schema vault from anon, authenticated;
revoke all on all tables in schema vault from anon, authenticated;
revoke all on function vault.create_secret(text, text, text, uuid) from public, anon, authenticated;
grant usage on schema vault to service_role;
grant select on vault.decrypted_secrets to service_role;
grant execute on function vault.create_secret(text, text, text, uuid) to service_role;

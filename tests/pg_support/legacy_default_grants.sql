-- Test-only: the default privileges of older Supabase projects (their initial schema script
-- grants ALL on new tables, functions and sequences in `public` to the API roles), for the
-- objects the migrating role (here the test's superuser) creates.
alter default privileges in schema public
    grant all on tables to anon, authenticated, service_role;
alter default privileges in schema public
    grant all on functions to anon, authenticated, service_role;
alter default privileges in schema public
    grant all on sequences to anon, authenticated, service_role;

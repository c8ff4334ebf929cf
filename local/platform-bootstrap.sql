-- =====================================================================================
-- Local platform bootstrap: the Supabase platform objects our migrations rely on.
--
-- On a Supabase project these exist already and this file is NEVER applied. It is applied
-- only to a plain PostgreSQL (tests, `npm start` with DATABASE_URL) and to the embedded
-- PGlite database, before `supabase/migrations`. It creates nothing of our product.
-- Every statement is idempotent, so applying it twice is harmless.
-- =====================================================================================

-- -------------------------------------------------------------------------------------
-- Roles: what PostgREST and the Supabase API gateway switch to per request.
-- -------------------------------------------------------------------------------------
do $$
begin
  if not exists (select from pg_roles where rolname = 'anon') then
    create role anon nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'authenticated') then
    create role authenticated nologin noinherit;
  end if;
  if not exists (select from pg_roles where rolname = 'service_role') then
    create role service_role nologin noinherit bypassrls;
  end if;
end
$$;

-- The connecting user switches into these roles with `set local role`, as Supabase's
-- `authenticator` and `postgres` users can.
do $$
begin
  execute format('grant anon, authenticated, service_role to %I', current_user);
end
$$;

grant usage on schema public to anon, authenticated, service_role;

-- -------------------------------------------------------------------------------------
-- STAND-IN for the platform: Supabase's default privileges in schema public.
--
-- A Supabase database is initialised (supabase/postgres,
-- migrations/db/init-scripts/00000000000000-initial-schema.sql, run as `postgres`) with
--   grant usage on schema public to postgres, anon, authenticated, service_role;
--   alter default privileges in schema public grant all on tables    to postgres, anon, authenticated, service_role;
--   alter default privileges in schema public grant all on functions to postgres, anon, authenticated, service_role;
--   alter default privileges in schema public grant all on sequences to postgres, anon, authenticated, service_role;
-- and the same `for user supabase_admin`. Migrations (the CLI's `db push`, the dashboard) run
-- as `postgres`, so every table, view, sequence and function they create in public starts
-- with ALL for anon, authenticated and service_role (functions also keep PostgreSQL's EXECUTE
-- for PUBLIC). Our migrations must take away what those roles must not have
-- (20261201000900_api_privileges.sql), and tests/integration/privileges.test.ts checks the
-- result against an allow-list; both are only meaningful if the local database starts from the
-- same defaults, hence this block.
--
-- Here the defaults are set for the role applying this file, which is the role that then runs
-- the migrations (`postgres` in the tests, both for this file and for `supabase db push
-- --db-url`; PGlite's `postgres` or the DATABASE_URL user in `npm start`), and for `postgres`
-- when that is another role we may act for. There is no supabase_admin here (its absence is
-- how local/migrate.ts tells a local database from a Supabase one), so nothing is set for it.
-- Re-granting a default privilege is a no-op: this block is idempotent like the rest.
-- -------------------------------------------------------------------------------------
do $$
declare
  migrator name;
begin
  for migrator in
    select distinct r.rolname
      from pg_roles r
     where r.rolname in (current_user, 'postgres')
       and pg_has_role(current_user, r.oid, 'MEMBER')
  loop
    execute format('alter default privileges for role %I in schema public grant all on tables to anon, authenticated, service_role', migrator);
    execute format('alter default privileges for role %I in schema public grant all on sequences to anon, authenticated, service_role', migrator);
    execute format('alter default privileges for role %I in schema public grant all on functions to anon, authenticated, service_role', migrator);
  end loop;
end
$$;

-- -------------------------------------------------------------------------------------
-- Schema auth: users and the claim helpers that RLS policies call.
-- -------------------------------------------------------------------------------------
create schema if not exists auth;
grant usage on schema auth to anon, authenticated, service_role;

create table if not exists auth.users (
  id uuid primary key,
  email text,
  role text,
  raw_app_meta_data jsonb not null default '{}'::jsonb,
  raw_user_meta_data jsonb not null default '{}'::jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

-- The claims of the current request. `nullif(..., '')` because on a pooled connection the
-- setting reads '' after any earlier transaction set it locally, and ''::jsonb fails.
create or replace function auth.jwt() returns jsonb
language sql stable
as $$
  select coalesce(nullif(current_setting('request.jwt.claims', true), ''), '{}')::jsonb
$$;

create or replace function auth.uid() returns uuid
language sql stable
as $$
  select nullif(auth.jwt() ->> 'sub', '')::uuid
$$;

create or replace function auth.role() returns text
language sql stable
as $$
  select nullif(auth.jwt() ->> 'role', '')
$$;

grant execute on function auth.jwt(), auth.uid(), auth.role() to anon, authenticated, service_role;

-- -------------------------------------------------------------------------------------
-- Schema vault: secrets that triggers and cron jobs read (Supabase Vault stand-in).
-- Locally the secrets are stored in clear: there is nothing to protect them from here.
-- -------------------------------------------------------------------------------------
create schema if not exists vault;

create table if not exists vault.secrets (
  id uuid primary key default gen_random_uuid(),
  name text unique,
  description text not null default '',
  secret text not null,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

create or replace view vault.decrypted_secrets as
  select id, name, description, secret, secret as decrypted_secret, created_at, updated_at
  from vault.secrets;

create or replace function vault.create_secret(new_secret text, new_name text default null, new_description text default '')
returns uuid language sql
as $$
  insert into vault.secrets (secret, name, description) values (new_secret, new_name, new_description) returning id
$$;

create or replace function vault.update_secret(secret_id uuid, new_secret text default null, new_name text default null, new_description text default null)
returns void language sql
as $$
  update vault.secrets
     set secret = coalesce(new_secret, secret),
         name = coalesce(new_name, name),
         description = coalesce(new_description, description),
         updated_at = now()
   where id = secret_id
$$;

-- -------------------------------------------------------------------------------------
-- Schema net: pg_net stand-in. `net.http_post` queues the request and notifies channel
-- `net_http_request` with its id; the local dev server listens, performs the POST after
-- the transaction commits (NOTIFY is delivered only on commit, as pg_net sends only
-- committed requests) and records the response, as pg_net does in net._http_response.
-- Skipped where the real pg_net extension is installed.
-- -------------------------------------------------------------------------------------
do $$
begin
  if exists (select from pg_extension where extname = 'pg_net') then
    return;
  end if;
  create schema if not exists net;

  create table if not exists net.http_request_queue (
    id bigserial primary key,
    method text not null default 'POST',
    url text not null,
    headers jsonb not null default '{}'::jsonb,
    body jsonb,
    timeout_milliseconds integer not null default 5000,
    created_at timestamptz not null default now()
  );

  create table if not exists net._http_response (
    id bigint primary key,
    status_code integer,
    content text,
    error_msg text,
    created timestamptz not null default now()
  );

  create or replace function net.http_post(
    url text,
    body jsonb default '{}'::jsonb,
    params jsonb default '{}'::jsonb,
    headers jsonb default '{"Content-Type": "application/json"}'::jsonb,
    timeout_milliseconds integer default 5000
  ) returns bigint
  language plpgsql
  as $fn$
  declare
    request_id bigint;
  begin
    insert into net.http_request_queue (url, headers, body, timeout_milliseconds)
    values (url, headers, body, timeout_milliseconds)
    returning id into request_id;
    perform pg_notify('net_http_request', request_id::text);
    return request_id;
  end
  $fn$;
end
$$;

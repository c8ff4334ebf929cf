-- =====================================================================================
-- API privileges: what the API roles may do at all, before RLS decides which rows.
--
-- On Supabase every table, view, sequence and function a migration creates in schema public
-- starts with ALL for anon, authenticated and service_role (the platform's default privileges;
-- reproduced locally by local/platform-bootstrap.sql), and every function also has PostgreSQL's
-- EXECUTE for PUBLIC. RLS guards rows for SELECT, INSERT, UPDATE and DELETE only. This
-- migration (the last one: it sorts after every other) takes away what RLS cannot guard:
--
--   1. TRUNCATE, TRIGGER and REFERENCES from anon and authenticated on every table and view of
--      ours. TRUNCATE ignores RLS: one `truncate public.workflow_executions` by any signed-in
--      user would empty every tenant's executions. TRIGGER would let a user attach a trigger
--      (given CREATE somewhere) that runs on everyone's writes; REFERENCES lets a user's
--      foreign key probe and pin other tenants' rows. On PostgreSQL 17 and later also MAINTAIN
--      (LOCK TABLE in any mode, VACUUM, CLUSTER, REINDEX, REFRESH MATERIALIZED VIEW): one
--      `lock table ... in access exclusive mode` would stop every tenant. (Supabase offers 17;
--      the embedded PGlite of `npm start` is 17+ too.) No API client needs any of them.
--   2. Everything from anon. The product has no public data and no anonymous action: every
--      request is a signed-in user (authenticated) or a backend (service_role). The anon key
--      reaches nothing of ours: the functions refuse it, and through the Data API (PostgREST,
--      pg_graphql) the anon role holds no privilege on our tables, views, sequences or
--      functions (only the platform's USAGE on schema public).
--   3. Writes on what users must not write: the stats rollups (kept exact by triggers that run
--      as their owner) and every view (read-only windows; execution_stats_source is even
--      auto-updatable), plus the registry of workflow types (written by the service role).
--      The stop requests and sweeper failures (20261201000300, 000400) revoke their own
--      writes; the loops below and the privilege test hold every later table to the same.
--   4. EXECUTE from PUBLIC, anon and authenticated on every function in schema private
--      (trigger functions need no EXECUTE to fire; the security definer ones such as
--      private.vault_secret would hand out Vault secrets or write the rollups), and on every
--      security definer function of ours elsewhere unless it is listed below as meant for
--      clients (none is). EXECUTE from PUBLIC and anon on our other functions; authenticated
--      keeps the invoker functions its queries, views and triggers call.
--   5. Sequences of ours: nothing for anon or authenticated (none is needed today: ids are
--      uuids). A future serial a user inserts through needs a deliberate USAGE grant.
--
-- "Ours": schema private (the product's internal schema) entirely, and in schema public the
-- product's namespace (`workflow*`, `execution*`, `temporal*`): the migrations may be applied
-- to an app's own project, whose other objects in public (and their anon grants) are not ours
-- to change. Extension members are skipped. Objects are handled by explicit statements where
-- the set is known, and by the loops below so that one added later under those names cannot
-- keep the defaults silently. The real guard is tests/integration/privileges.test.ts: it
-- lists what anon and authenticated can do on every object in our schemas and compares it
-- with an explicit allow-list, so a new object without a deliberate grant fails it.
--
-- service_role is left as it is: it bypasses RLS by design and is the backend's own role.
-- Nothing here grants; what the app needs was granted by the migrations that created it, and
-- column-level grants made there survive (only TRUNCATE/TRIGGER/REFERENCES and anon's
-- privileges are revoked at table level, which also revokes those on columns).
-- =====================================================================================

-- -------------------------------------------------------------------------------------
-- Explicit: the objects that exist now.
-- -------------------------------------------------------------------------------------

-- 1 + 2: tables users read and write under RLS.
revoke truncate, trigger, references on public.workflows, public.workflow_executions from anon, authenticated;
revoke all on public.workflows, public.workflow_executions from anon;

-- 3: rollups, written only by the security definer triggers of 20261125000300.
revoke insert, update, delete, truncate, trigger, references
  on public.execution_stats_rollup, public.execution_duration_bins, public.execution_owner_duration_bins
  from anon, authenticated;
revoke all on public.execution_stats_rollup, public.execution_duration_bins, public.execution_owner_duration_bins from anon;

-- 3: the registry of startable workflow types: the service role writes it, users read it.
revoke insert, update, delete, truncate, trigger, references on public.temporal_workflow_types from anon, authenticated;
revoke all on public.temporal_workflow_types from anon;

-- 3: the stats views are read-only.
revoke insert, update, delete, truncate, trigger, references
  on public.execution_stats, public.execution_duration_histogram,
     public.execution_owner_duration_histogram, public.execution_stats_source
  from anon, authenticated;
revoke all
  on public.execution_stats, public.execution_duration_histogram,
     public.execution_owner_duration_histogram, public.execution_stats_source
  from anon;

-- 4: internal functions. None is meant for a client; the security definer ones
-- (vault_secret, post_to_function, rebuild_execution_rollups, invoke_timeout_sweeper and the
-- trigger functions) would read Vault, send webhooks or rewrite the rollups as their owner.
revoke all on function private.vault_secret(text), private.post_to_function(text, jsonb),
  private.rebuild_execution_rollups(), private.invoke_timeout_sweeper(),
  private.send_execution_webhook(), private.fold_execution_changes(), private.truncate_execution_rollups(),
  private.set_updated_at(), private.enforce_execution_lifecycle()
  from public, anon, authenticated;

-- 4: public functions: nothing for PUBLIC or anon; authenticated keeps what it calls
-- (execution_stats_summary, the status rules its trigger calls, the bins its views call).
revoke all on function public.execution_stats_summary(uuid, timestamptz, timestamptz),
  public.execution_status_is_terminal(public.execution_status),
  public.execution_transition_allowed(public.execution_status, public.execution_status),
  public.execution_duration_bin(bigint), public.execution_duration_bin_value(smallint)
  from public, anon;

-- -------------------------------------------------------------------------------------
-- Guarded loops: every object of ours, whenever it was added.
-- -------------------------------------------------------------------------------------
do $$
declare
  -- Security definer functions meant to be called by API clients: none.
  client_definer_functions constant regprocedure[] := array[]::regprocedure[];
  -- MAINTAIN exists from PostgreSQL 17 on (and is unknown to 15, so it is revoked only here).
  maintain constant text := case when current_setting('server_version_num')::int >= 170000 then ', maintain' else '' end;
  obj record;
begin
  -- Relations: tables, partitioned tables, views, materialized views, foreign tables.
  for obj in
    select c.oid::regclass as name, n.nspname, c.relkind
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
     where c.relkind in ('r', 'p', 'v', 'm', 'f')
       and (n.nspname = 'private'
            or (n.nspname = 'public' and c.relname ~ '^(workflow|execution|temporal)'))
       and not exists (select from pg_depend d
                        where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
  loop
    execute format('revoke truncate, trigger, references%s on %s from anon, authenticated', maintain, obj.name);
    execute format('revoke all on %s from anon', obj.name);
    if obj.relkind in ('v', 'm') then
      execute format('revoke insert, update, delete on %s from authenticated', obj.name);
    end if;
    if obj.nspname = 'private' then
      execute format('revoke all on %s from public, authenticated', obj.name);
    end if;
  end loop;

  -- Sequences.
  for obj in
    select c.oid::regclass as name
      from pg_class c
      join pg_namespace n on n.oid = c.relnamespace
     where c.relkind = 'S'
       and (n.nspname = 'private'
            or (n.nspname = 'public' and c.relname ~ '^(workflow|execution|temporal)'))
       and not exists (select from pg_depend d
                        where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
  loop
    execute format('revoke all on sequence %s from public, anon, authenticated', obj.name);
  end loop;

  -- Functions, procedures, aggregates.
  for obj in
    select p.oid::regprocedure as name, n.nspname, p.prosecdef
      from pg_proc p
      join pg_namespace n on n.oid = p.pronamespace
     where (n.nspname = 'private'
            or (n.nspname = 'public' and p.proname ~ '^(workflow|execution|temporal)'))
       and not exists (select from pg_depend d
                        where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
  loop
    if obj.nspname = 'private' or (obj.prosecdef and obj.name <> all (client_definer_functions)) then
      execute format('revoke all on routine %s from public, anon, authenticated', obj.name);
    else
      execute format('revoke all on routine %s from public, anon', obj.name);
    end if;
  end loop;
end
$$;

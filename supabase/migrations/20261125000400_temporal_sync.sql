-- =====================================================================================
-- Keeping the database and Temporal in agreement: the sweeper's bookkeeping column and the
-- database webhooks that tell the `executions-webhook` function what apps did directly.
-- =====================================================================================

-- -------------------------------------------------------------------------------------
-- Sweeper bookkeeping
-- -------------------------------------------------------------------------------------

-- When the timeout sweeper last claimed this live row (to reconcile it with Temporal or to
-- dispatch it again). Claiming moves it forward, so concurrent sweepers never take the same
-- row, and each run takes the rows checked longest ago.
alter table public.workflow_executions add column temporal_checked_at timestamptz;

comment on column public.workflow_executions.temporal_checked_at is
  'Last time the timeout sweeper compared this live execution with Temporal (sweeper bookkeeping).';

drop index if exists public.idx_workflow_executions_live;
create index idx_workflow_executions_live
  on public.workflow_executions (status, (coalesce(temporal_checked_at, started_at)))
  where status in ('pending', 'running');

-- -------------------------------------------------------------------------------------
-- Database webhooks. The function URL and the shared secret come from Vault:
--   select vault.create_secret('https://<ref>.supabase.co/functions/v1', 'execution_tracker_functions_url');
--   select vault.create_secret('<random secret>', 'execution_tracker_webhook_secret');
-- Nothing is sent while they are not set, and a missing pg_net never breaks a write.
-- -------------------------------------------------------------------------------------
do $$
begin
  if exists (select from pg_available_extensions where name = 'pg_net')
     and not exists (select from pg_extension where extname = 'pg_net') then
    create extension pg_net;
  end if;
end
$$;

-- The configured value of a Vault secret, or null.
create or replace function private.vault_secret(secret_name text) returns text
language sql
stable
security definer
set search_path = ''
as $$
  select decrypted_secret from vault.decrypted_secrets where name = secret_name limit 1
$$;

-- POSTs a Supabase Database Webhook payload ({type, table, schema, record, old_record}) to
-- `<functions url>/<function>` with the shared secret. pg_net sends it after commit.
create or replace function private.post_to_function(function_name text, payload jsonb) returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  base_url text := private.vault_secret('execution_tracker_functions_url');
  secret text := private.vault_secret('execution_tracker_webhook_secret');
begin
  if base_url is null or secret is null
     or to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
    return;
  end if;
  perform net.http_post(
    url := rtrim(base_url, '/') || '/' || function_name,
    body := payload,
    params := '{}'::jsonb,
    headers := jsonb_build_object('Content-Type', 'application/json', 'x-webhook-secret', secret),
    timeout_milliseconds := 10000
  );
end
$$;

create or replace function private.send_execution_webhook() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.post_to_function('executions-webhook', jsonb_build_object(
    'type', tg_op,
    'table', tg_table_name,
    'schema', tg_table_schema,
    'record', case when tg_op = 'DELETE' then null else to_jsonb(new) end,
    'old_record', case when tg_op = 'INSERT' then null else to_jsonb(old) end
  ));
  return null;
end
$$;

-- An app inserted a pending execution (directly, under RLS): dispatch it.
create trigger execution_inserted_pending_webhook
  after insert on public.workflow_executions
  for each row when (new.status = 'pending')
  execute function private.send_execution_webhook();

-- An app cancelled an execution: cancel its Temporal workflow.
create trigger execution_cancelled_webhook
  after update of status on public.workflow_executions
  for each row when (new.status = 'cancelled' and old.status is distinct from new.status)
  execute function private.send_execution_webhook();

-- A live execution was deleted (also by cascade from its workflow or user): terminate its run.
create trigger execution_deleted_live_webhook
  after delete on public.workflow_executions
  for each row when (old.status in ('pending', 'running') and old.temporal_workflow_id is not null)
  execute function private.send_execution_webhook();

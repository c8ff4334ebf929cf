-- =====================================================================================
-- Failure alerts (docs/architecture.md §5.5): endpoints per user, and an outbox of
-- deliveries written by trigger in the same transaction as the status change that causes
-- them, sent by the deliverer (shared/alerts/deliver.ts, function alerts-deliver).
--
--   public.alert_endpoints   a user's receivers: an http(s) URL, an optional workflow filter,
--                            the statuses that alert (a subset of failed, timed_out,
--                            cancelled), enabled, and the signing secret. The secret is
--                            written (by the API, which generates it) but never readable by
--                            users: the API shows it once, at create and at rotate.
--   public.alert_deliveries  the outbox and the delivery log: one row per (status change,
--                            matching enabled endpoint), pending -> delivered | dead. Users
--                            read their own; only the trigger and the service role write it.
--
-- Why an outbox: the row is committed with the status change or not at all (a rolled-back
-- change leaves none), so a receiver that is down, or a deliverer that dies mid-send, loses
-- nothing: a claimed row carries a lease (claimed_until; next_attempt_at moves with it), and a
-- lease that expires makes the row due again. Sending is at-least-once; receivers dedupe on
-- the delivery id (header x-execution-tracker-delivery), which makes it exactly-once for them.
-- =====================================================================================

-- -------------------------------------------------------------------------------------
-- Endpoints
-- -------------------------------------------------------------------------------------
create table public.alert_endpoints (
  id uuid primary key default gen_random_uuid(),
  created_by uuid not null default auth.uid() references auth.users (id) on delete cascade,
  -- https (http only where ALERTS_ALLOW_PRIVATE_URLS allows it; the API checks the address).
  url text not null
    constraint alert_endpoints_url_shape
    check (url ~ '^https?://[^[:space:]]+$' and char_length(url) <= 2048),
  description text constraint alert_endpoints_description_length check (char_length(description) <= 500),
  -- Only executions of this workflow alert; null: every workflow of the owner.
  workflow_id uuid,
  statuses text[] not null default array['failed', 'timed_out']
    constraint alert_endpoints_statuses_known
    check (cardinality(statuses) between 1 and 3 and statuses <@ array['failed', 'timed_out', 'cancelled']),
  enabled boolean not null default true,
  -- HMAC-SHA256 key of the signature. The API generates it (whsec_ + 64 hex); a direct insert
  -- gets this default, which is as random (two v4 uuids: 244 random bits).
  secret text not null default ('whsec_' || replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''))
    constraint alert_endpoints_secret_length check (char_length(secret) between 32 and 256),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- A filter names one of the owner's own workflows; deleting it deletes the endpoint (an
  -- endpoint for a workflow that is gone would otherwise silently widen to every workflow).
  constraint alert_endpoints_workflow_fkey foreign key (workflow_id, created_by)
    references public.workflows (id, created_by) on delete cascade
);

comment on table public.alert_endpoints is
  'Failure-alert receivers per user (docs/architecture.md §5.5). The secret is never readable by users.';

-- The trigger's lookup: the owner's enabled endpoints.
create index idx_alert_endpoints_owner on public.alert_endpoints (created_by) where enabled;
-- The foreign key's cascade from a deleted workflow.
create index idx_alert_endpoints_workflow on public.alert_endpoints (workflow_id) where workflow_id is not null;

create trigger alert_endpoints_set_updated_at
  before update on public.alert_endpoints
  for each row execute function private.set_updated_at();

alter table public.alert_endpoints enable row level security;

create policy "Users can read their own alert endpoints"
  on public.alert_endpoints for select to authenticated
  using (created_by = (select auth.uid()));

create policy "Users can create alert endpoints they own"
  on public.alert_endpoints for insert to authenticated
  with check (created_by = (select auth.uid()));

create policy "Users can update their own alert endpoints"
  on public.alert_endpoints for update to authenticated
  using (created_by = (select auth.uid()))
  with check (created_by = (select auth.uid()));

create policy "Users can delete their own alert endpoints"
  on public.alert_endpoints for delete to authenticated
  using (created_by = (select auth.uid()));

-- Column privileges: users read everything but the secret; they may write it (the API
-- writes the one it generated and shows it once) but never read it back.
revoke all on public.alert_endpoints from public, anon, authenticated;
grant select (id, created_by, url, description, workflow_id, statuses, enabled, created_at, updated_at)
  on public.alert_endpoints to authenticated;
grant insert (created_by, url, description, workflow_id, statuses, enabled, secret) on public.alert_endpoints to authenticated;
grant update (url, description, workflow_id, statuses, enabled, secret) on public.alert_endpoints to authenticated;
grant delete on public.alert_endpoints to authenticated;
grant select, insert, update, delete on public.alert_endpoints to service_role;

-- -------------------------------------------------------------------------------------
-- Deliveries: the outbox and the log
-- -------------------------------------------------------------------------------------
create table public.alert_deliveries (
  id uuid primary key default gen_random_uuid(),
  endpoint_id uuid not null references public.alert_endpoints (id) on delete cascade,
  created_by uuid not null,
  -- No foreign key: the log outlives the execution (retention, a delete).
  execution_id uuid not null,
  -- The status the execution entered.
  event text not null constraint alert_deliveries_event_known check (event in ('failed', 'timed_out', 'cancelled')),
  -- What the receiver gets under "execution" (built once, at the change, so every attempt sends the same body).
  payload jsonb not null,
  status text not null default 'pending' constraint alert_deliveries_status_known check (status in ('pending', 'delivered', 'dead')),
  attempts integer not null default 0 check (attempts >= 0),
  -- Due from then on; a claim moves it to the end of its lease, so an expired lease is due again.
  next_attempt_at timestamptz not null default now(),
  claimed_until timestamptz,
  last_status_code integer,
  last_error text check (char_length(last_error) <= 1000),
  delivered_at timestamptz,
  created_at timestamptz not null default now()
);

comment on table public.alert_deliveries is
  'Failure-alert outbox and delivery log: written by trigger with the status change, sent by alerts-deliver (service role).';

-- The deliverer's claim: per endpoint, its due rows in order (only pending rows are indexed).
create index idx_alert_deliveries_due on public.alert_deliveries (endpoint_id, next_attempt_at) where status = 'pending';
-- The log, newest first: a user's, and one endpoint's.
create index idx_alert_deliveries_owner on public.alert_deliveries (created_by, created_at desc, id desc);
create index idx_alert_deliveries_endpoint on public.alert_deliveries (endpoint_id, created_at desc, id desc);

alter table public.alert_deliveries enable row level security;

create policy "Users can read the deliveries of their alert endpoints"
  on public.alert_deliveries for select to authenticated
  using (created_by = (select auth.uid()));

revoke all on public.alert_deliveries from public, anon, authenticated;
grant select on public.alert_deliveries to authenticated;
grant select, insert, update, delete on public.alert_deliveries to service_role;

-- -------------------------------------------------------------------------------------
-- The outbox trigger: a status change into failed, timed_out or cancelled adds one row per
-- matching enabled endpoint of the row's owner. The WHEN clauses keep every other write
-- free of it (the function is not even called); with no endpoint it is one index probe.
-- Security definer: the writer (a user, the sweeper) cannot write the outbox itself.
-- -------------------------------------------------------------------------------------
create or replace function private.enqueue_execution_alerts() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  insert into public.alert_deliveries (endpoint_id, created_by, execution_id, event, payload)
  select e.id, new.created_by, new.id, new.status,
         jsonb_build_object(
           'id', new.id,
           'workflowId', new.workflow_id,
           'workflowName', (select w.name from public.workflows w where w.id = new.workflow_id),
           'status', new.status,
           'errorMessage', new.error_message,
           'temporalWorkflowId', new.temporal_workflow_id,
           'startedAt', new.started_at,
           'completedAt', new.completed_at,
           'durationMs', new.duration_ms,
           'updatedAt', new.updated_at)
    from public.alert_endpoints e
   where e.created_by = new.created_by
     and e.enabled
     and new.status = any (e.statuses)
     and (e.workflow_id is null or e.workflow_id = new.workflow_id);
  return null;
end
$$;

revoke all on function private.enqueue_execution_alerts() from public, anon, authenticated;

create trigger execution_inserted_alert
  after insert on public.workflow_executions
  for each row when (new.status in ('failed', 'timed_out', 'cancelled'))
  execute function private.enqueue_execution_alerts();

create trigger execution_status_alert
  after update of status on public.workflow_executions
  for each row when (new.status in ('failed', 'timed_out', 'cancelled') and old.status is distinct from new.status)
  execute function private.enqueue_execution_alerts();

-- -------------------------------------------------------------------------------------
-- Schedule: the deliverer every minute with pg_cron + pg_net where pg_cron is loaded (one
-- invocation keeps sending until nothing is due or its time budget ends). Elsewhere nothing
-- is scheduled; the local dev server runs it on an interval (local/plugins/alerts-delivery.ts).
-- -------------------------------------------------------------------------------------
-- pg_net waits 60 s for the answer (like the sweeper's call, 20261201000400): one run lasts up to
-- its 50 s budget, and the default 10 s of post_to_function would record a timeout every minute.
create or replace function private.invoke_alerts_deliverer() returns void
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
    url := rtrim(base_url, '/') || '/alerts-deliver',
    body := '{}'::jsonb,
    params := '{}'::jsonb,
    headers := jsonb_build_object('Content-Type', 'application/json', 'x-webhook-secret', secret),
    timeout_milliseconds := 60000
  );
end
$$;

revoke all on function private.invoke_alerts_deliverer() from public, anon, authenticated;

do $$
begin
  if not exists (select from pg_extension where extname = 'pg_cron') then
    raise notice 'pg_cron is not loaded: alert deliveries are not scheduled in this database';
    return;
  end if;
  perform cron.schedule('execution-tracker-alerts-deliver', '* * * * *', 'select private.invoke_alerts_deliverer()');
end
$$;

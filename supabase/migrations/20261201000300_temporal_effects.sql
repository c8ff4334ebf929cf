-- =====================================================================================
-- Effects in Temporal: every stop is durable until Temporal confirms it, every effect has
-- one owner. Contract: docs/architecture.md §2 and §4.
--
-- 1. A write that ends an acted-on live row (temporal_link <> 'reported') as `cancelled` or
--    `timed_out` without `temporal_closed_at` (which only the tracker sets, when Temporal
--    confirmed the run closed) does not end it: the row stays live with stop_requested_at /
--    stop_reason, and the intent is a row of public.execution_stop_requests, written in the
--    same transaction (trigger convert_stop_into_request, which fires before
--    enforce_execution_lifecycle: triggers of one event fire in name order, "c" < "e").
-- 2. A DELETE of an acted-on live row leaves a stop request behind (a tombstone: the request
--    has no foreign key and outlives the row).
-- 3. Who sends a request: whoever claims it (claimed_by/claimed_until, `for update skip
--    locked`): the API inline right after its commit, the webhook for a direct write, the
--    sweeper for what is due and unclaimed (shared/stops.ts). A transaction that will send
--    its own stops sets `execution_tracker.stop_claim` to a uuid (set_config(..., true)): the
--    requests it creates are claimed by that uuid for 30 s and no webhook is queued for them.
--    Any other non-empty value means "the tracker's own write, its sweeper phase sends it":
--    unclaimed, no webhook. A user setting it only delays their own stop until the sweeper.
-- 4. Dispatch: the API inserts a pending row with a dispatch lease (dispatch_claimed_until),
--    so the INSERT webhook, which fires only for a pending row without one (a direct
--    insert), never races the API's own dispatch; the sweeper takes expired leases.
-- 5. Users write only the columns they may (column-level INSERT/UPDATE grants); never
--    temporal_link, stop_*, temporal_closed_at, the leases or the sweeper's bookkeeping.
-- =====================================================================================

-- -------------------------------------------------------------------------------------
-- Columns
-- -------------------------------------------------------------------------------------
alter table public.workflow_executions
  add column stop_requested_at timestamptz,
  add column stop_reason text
    constraint workflow_executions_stop_reason_known check (stop_reason in ('cancel', 'timeout')),
  add column temporal_closed_at timestamptz,
  add column dispatch_claimed_until timestamptz,
  add constraint workflow_executions_stop_pair check ((stop_requested_at is null) = (stop_reason is null));

comment on column public.workflow_executions.stop_requested_at is
  'When a stop (cancel, deadline) of this acted-on run was requested; the row stays live until Temporal confirms it (public.execution_stop_requests).';
comment on column public.workflow_executions.stop_reason is
  'Why the stop was requested: cancel | timeout.';
comment on column public.workflow_executions.temporal_closed_at is
  'Set only by the tracker: when Temporal confirmed the run closed (its close time), or when the tracker established there is no run to stop.';
comment on column public.workflow_executions.dispatch_claimed_until is
  'Dispatch lease of a pending row: whoever holds it is starting the run; the webhook skips it, the sweeper takes it once expired.';

-- -------------------------------------------------------------------------------------
-- Stop requests
-- -------------------------------------------------------------------------------------
create table public.execution_stop_requests (
  id uuid primary key default gen_random_uuid(),
  -- No foreign key: a delete's request (the tombstone) outlives the execution row.
  execution_id uuid not null,
  created_by uuid not null,
  temporal_workflow_id text not null,
  temporal_run_id text,
  reason text not null constraint execution_stop_requests_reason_known check (reason in ('cancel', 'timeout', 'delete')),
  -- cancel first for a cancel (escalated to terminate after STOP_ESCALATE_AFTER_SECONDS);
  -- terminate for a deadline or a delete, as before.
  action text not null constraint execution_stop_requests_action_known check (action in ('cancel', 'terminate')),
  requested_at timestamptz not null default now(),
  attempts integer not null default 0,
  next_attempt_at timestamptz not null default now(),
  claimed_by uuid,
  claimed_until timestamptz,
  -- When Temporal accepted the current action (reset when the action escalates).
  sent_at timestamptz,
  escalated_at timestamptz,
  confirmed_at timestamptz,
  -- What Temporal said happened: completed | failed | cancelled | terminated | timed_out | not_found | no_temporal.
  outcome text,
  last_error text
);

comment on table public.execution_stop_requests is
  'Durable stop intents (cancel, deadline, delete) of executions the tracker acts on in Temporal; written by trigger, sent and confirmed by shared/stops.ts.';

-- At most one open request per execution.
create unique index execution_stop_requests_open_key
  on public.execution_stop_requests (execution_id) where confirmed_at is null;
-- The due queue.
create index execution_stop_requests_due
  on public.execution_stop_requests (next_attempt_at) where confirmed_at is null;
-- An owner's reads; and the cleanup of old confirmed requests.
create index execution_stop_requests_owner on public.execution_stop_requests (created_by, requested_at desc);
create index execution_stop_requests_confirmed on public.execution_stop_requests (confirmed_at) where confirmed_at is not null;

alter table public.execution_stop_requests enable row level security;

revoke all on public.execution_stop_requests from public, anon, authenticated;
grant select on public.execution_stop_requests to authenticated;
grant all on public.execution_stop_requests to service_role;

create policy "Users can read the stop requests of their executions"
  on public.execution_stop_requests for select to authenticated
  using (created_by = (select auth.uid()));

-- The claim token of this transaction (a uuid), or null.
create or replace function private.stop_claim_token() returns uuid
language sql stable
set search_path = ''
as $$
  select case when v ~* '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' then v::uuid end
    from (select current_setting('execution_tracker.stop_claim', true) as v) s
$$;

-- -------------------------------------------------------------------------------------
-- 1. cancelled / timed_out on an acted-on live row -> a stop request; the row stays live.
-- -------------------------------------------------------------------------------------
create or replace function private.convert_stop_into_request() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  claim uuid := private.stop_claim_token();
begin
  if old.stop_requested_at is null then
    new.stop_requested_at := now();
    new.stop_reason := case when new.status = 'timed_out' then 'timeout' else 'cancel' end;
    insert into public.execution_stop_requests
      (execution_id, created_by, temporal_workflow_id, temporal_run_id, reason, action, claimed_by, claimed_until)
    values (old.id, old.created_by, old.temporal_workflow_id, coalesce(new.temporal_run_id, old.temporal_run_id),
            new.stop_reason, case when new.stop_reason = 'cancel' then 'cancel' else 'terminate' end,
            claim, case when claim is not null then now() + interval '30 seconds' end)
    on conflict (execution_id) where confirmed_at is null do nothing;
  else
    -- Already requested: the first request stands (a deadline after a cancel stays a cancel).
    new.stop_requested_at := old.stop_requested_at;
    new.stop_reason := old.stop_reason;
  end if;
  new.status := old.status;
  return new;
end
$$;

create trigger convert_stop_into_request
  before update of status on public.workflow_executions
  for each row
  when (old.status in ('pending', 'running') and new.status in ('cancelled', 'timed_out')
        and new.temporal_closed_at is null
        and old.temporal_link <> 'reported' and old.temporal_workflow_id is not null)
  execute function private.convert_stop_into_request();

-- -------------------------------------------------------------------------------------
-- 2. A deleted acted-on live row leaves its stop request (terminate) behind.
-- -------------------------------------------------------------------------------------
create or replace function private.record_deleted_execution_stop() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  claim uuid := private.stop_claim_token();
begin
  insert into public.execution_stop_requests
    (execution_id, created_by, temporal_workflow_id, temporal_run_id, reason, action, claimed_by, claimed_until)
  values (old.id, old.created_by, old.temporal_workflow_id, old.temporal_run_id, 'delete', 'terminate',
          claim, case when claim is not null then now() + interval '30 seconds' end)
  on conflict (execution_id) where confirmed_at is null do update
    -- A stop already open (a cancel on its way): the record is gone now, so it terminates.
    set reason = 'delete',
        action = 'terminate',
        sent_at = case when public.execution_stop_requests.action = 'terminate' then public.execution_stop_requests.sent_at end,
        next_attempt_at = now(),
        -- A live claim stays with its holder (a lease changes hands only once it expired).
        claimed_by = case when public.execution_stop_requests.claimed_until > now()
                          then public.execution_stop_requests.claimed_by else excluded.claimed_by end,
        claimed_until = case when public.execution_stop_requests.claimed_until > now()
                             then public.execution_stop_requests.claimed_until else excluded.claimed_until end;
  return null;
end
$$;

create trigger execution_deleted_stop_request
  after delete on public.workflow_executions
  for each row
  when (old.status in ('pending', 'running') and old.temporal_closed_at is null
        and old.temporal_link <> 'reported' and old.temporal_workflow_id is not null)
  execute function private.record_deleted_execution_stop();

-- -------------------------------------------------------------------------------------
-- 4. The dispatch lease a client may set at insert is at most 60 s from now (the API sets
--    30 s), and only a pending row has one.
-- -------------------------------------------------------------------------------------
create or replace function private.clamp_dispatch_lease() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.dispatch_claimed_until := case
    when new.status = 'pending' then least(new.dispatch_claimed_until, now() + interval '60 seconds') end;
  return new;
end
$$;

create trigger clamp_dispatch_lease
  before insert on public.workflow_executions
  for each row when (new.dispatch_claimed_until is not null)
  execute function private.clamp_dispatch_lease();

-- -------------------------------------------------------------------------------------
-- Webhooks: only for what the writer does not handle itself (direct SQL). The payload is the
-- row (Supabase's {type, table, schema, record, old_record}); the handler reads the current
-- state and skips what is done or claimed, so a duplicate or late delivery does nothing.
-- -------------------------------------------------------------------------------------
drop trigger execution_inserted_pending_webhook on public.workflow_executions;
drop trigger execution_cancelled_webhook on public.workflow_executions;
drop trigger execution_deleted_live_webhook on public.workflow_executions;

-- A pending row inserted without a dispatch lease (not by the API): dispatch it.
create trigger execution_inserted_pending_webhook
  after insert on public.workflow_executions
  for each row when (new.status = 'pending' and new.dispatch_claimed_until is null)
  execute function private.send_execution_webhook();

-- A stop was requested by a writer that does not send it itself: send it.
create trigger execution_stop_requested_webhook
  after update of status on public.workflow_executions
  for each row
  when (new.stop_requested_at is not null and old.stop_requested_at is null
        and coalesce(current_setting('execution_tracker.stop_claim', true), '') = '')
  execute function private.send_execution_webhook();

-- An acted-on live row was deleted (also by cascade from its workflow or user) by a writer
-- that does not send the stop itself: terminate its run.
create trigger execution_deleted_live_webhook
  after delete on public.workflow_executions
  for each row
  when (old.status in ('pending', 'running') and old.temporal_closed_at is null
        and old.temporal_link <> 'reported' and old.temporal_workflow_id is not null
        and coalesce(current_setting('execution_tracker.stop_claim', true), '') = '')
  execute function private.send_execution_webhook();

-- -------------------------------------------------------------------------------------
-- 5. What users may write. INSERT: what a client records about a run it reports or asks
--    the tracker to start (temporal_link is set by the database; the dispatch lease is
--    clamped above). UPDATE: the run's progress and result, plus the identity columns the
--    lifecycle trigger guards (a change attempt gets its specific SQLSTATE, ET002, naming
--    the column, rather than a bare permission error). Never: temporal_link, stop_*,
--    temporal_closed_at, dispatch_claimed_until after insert, temporal_checked_at or any
--    later bookkeeping column (only what is listed here is granted).
-- -------------------------------------------------------------------------------------
revoke insert, update on public.workflow_executions from authenticated;
grant insert (id, workflow_id, created_by, temporal_workflow_id, temporal_run_id, status, started_at,
              completed_at, duration_ms, timeout_at, input, output, error_message, activities_executed,
              dispatch_claimed_until)
  on public.workflow_executions to authenticated;
grant update (status, output, error_message, duration_ms, activities_executed, temporal_run_id, timeout_at,
              completed_at, id, workflow_id, created_by, started_at, created_at, temporal_workflow_id)
  on public.workflow_executions to authenticated;

-- The sweeper's queue of stopped-but-unconfirmed live rows is the request table; pending rows
-- whose dispatch lease expired are found through idx_workflow_executions_live.

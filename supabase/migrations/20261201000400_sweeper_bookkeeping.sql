-- =====================================================================================
-- Sweeper bookkeeping: one bad row never stops the timeout sweeper (shared/sweeper.ts).
--
-- Every phase of a sweep handles each row on its own. A row that fails (a value the database
-- holds but cannot compute with, a Temporal result Postgres cannot store, a run Temporal no
-- longer knows, an answer from Temporal that makes no sense) is counted, logged with its id
-- and recorded here: backed off (`retry_at`, exponential), and after a bounded number of
-- attempts parked (`parked_at`): the sweeper no longer tries that phase for that row, and a
-- live row gets an errorMessage saying why. The other rows and phases go on.
--
-- The bookkeeping is a table of its own, not columns of workflow_executions, because the
-- rows it records are exactly the ones that may not be writable: a terminal row cannot change
-- (enforce_execution_lifecycle), and a legacy row that violates a constraint added NOT VALID
-- fails every UPDATE. An insert here always works, never fires the executions' triggers
-- (lifecycle, stats rollups, webhooks, stop requests) and never moves updated_at.
--
-- Only the service role (the sweeper) reads and writes it; users have no privilege on it at
-- all (RLS on, no policy). To retry a parked row: delete its row here.
-- =====================================================================================

create table public.execution_sweep_failures (
  execution_id uuid not null references public.workflow_executions (id) on delete cascade,
  -- The sweeper phase that failed on the row (shared/sweeper.ts SweepPhase).
  phase text not null
    constraint execution_sweep_failures_phase_known
    check (phase in ('deadlines', 'reconcile', 'redispatch', 'retention')),
  attempts integer not null check (attempts >= 1),
  first_failed_at timestamptz not null default now(),
  last_failed_at timestamptz not null default now(),
  -- Not claimed by this phase again before this time.
  retry_at timestamptz not null,
  -- Set after the last allowed attempt: the phase no longer claims the row.
  parked_at timestamptz,
  -- The last failure, as the sweeper logged it (control characters removed, shortened).
  last_error text not null check (char_length(last_error) <= 2000),
  primary key (execution_id, phase)
);

comment on table public.execution_sweep_failures is
  'Rows the timeout sweeper failed on, per phase: attempts, backoff (retry_at) and parking (parked_at). '
  'Written by the sweeper (service role) only; delete a row to have a parked execution retried.';

-- The claims exclude backed-off and parked rows with a primary-key lookup per candidate; this
-- index lists what is parked (operators, and the sweeper's count of what it left).
create index idx_execution_sweep_failures_parked
  on public.execution_sweep_failures (phase, parked_at)
  where parked_at is not null;

alter table public.execution_sweep_failures enable row level security;

revoke all on public.execution_sweep_failures from public, anon, authenticated;
grant select, insert, update, delete on public.execution_sweep_failures to service_role;

-- -------------------------------------------------------------------------------------
-- The reconcile and redispatch claims read only rows the tracker acts on in Temporal
-- (temporal_link <> 'reported', docs/architecture.md §1): a user's reported rows, however
-- many are running, are never in this index, so a claim never walks past them.
-- -------------------------------------------------------------------------------------
drop index if exists public.idx_workflow_executions_live;
create index idx_workflow_executions_live
  on public.workflow_executions (status, (coalesce(temporal_checked_at, started_at)))
  where status in ('pending', 'running') and temporal_link <> 'reported';

-- -------------------------------------------------------------------------------------
-- pg_cron's call of the timeout-sweeper function waits longer than one sweep's time budget
-- (SWEEP_BUDGET_MS, default 25 s; the function stops itself inside it), so pg_net records the
-- sweep's answer rather than a timeout after the 10 s every webhook gets.
-- -------------------------------------------------------------------------------------
create or replace function private.invoke_timeout_sweeper() returns void
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
    url := rtrim(base_url, '/') || '/timeout-sweeper',
    body := '{}'::jsonb,
    params := '{}'::jsonb,
    headers := jsonb_build_object('Content-Type', 'application/json', 'x-webhook-secret', secret),
    timeout_milliseconds := 60000
  );
end
$$;

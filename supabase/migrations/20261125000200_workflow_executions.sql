-- =====================================================================================
-- Workflow executions: one row per run, its lifecycle enforced by the database.
-- =====================================================================================

-- -------------------------------------------------------------------------------------
-- Status
-- -------------------------------------------------------------------------------------
-- A domain over text, not an enum: text equality is LEAKPROOF and enum equality is not, so
-- under RLS (a security barrier) only a text status can be an index condition, and
-- idx_workflow_executions_user_status can serve a user's status-filtered list.
create domain public.execution_status as text
  constraint execution_status_known
  check (value in ('pending', 'running', 'completed', 'failed', 'cancelled', 'timed_out'));

-- -------------------------------------------------------------------------------------
-- Table
-- -------------------------------------------------------------------------------------
create table public.workflow_executions (
  id uuid primary key default gen_random_uuid(),
  workflow_id uuid not null,
  -- Unique when set (NULLs are distinct): one execution per Temporal workflow id.
  temporal_workflow_id text unique check (char_length(temporal_workflow_id) between 1 and 1000),
  temporal_run_id text check (char_length(temporal_run_id) between 1 and 1000),
  status public.execution_status not null default 'running',
  started_at timestamptz not null default now(),
  completed_at timestamptz,
  duration_ms bigint check (duration_ms >= 0),
  -- Deadline: the timeout sweeper ends a run still running past it as timed_out.
  timeout_at timestamptz,
  input jsonb,
  output jsonb,
  error_message text,
  activities_executed integer not null default 0 check (activities_executed >= 0),
  created_by uuid not null default auth.uid() references auth.users (id) on delete cascade,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- The execution belongs to its workflow and to the workflow's owner: a user can never
  -- attach a run to someone else's workflow, whatever the client.
  foreign key (workflow_id, created_by) references public.workflows (id, created_by) on delete cascade
);

comment on table public.workflow_executions is
  'One row per workflow run. Status transitions are enforced by trigger enforce_execution_lifecycle.';
comment on column public.workflow_executions.timeout_at is
  'Deadline; a run still pending or running past it is ended as timed_out by the timeout sweeper.';

-- -------------------------------------------------------------------------------------
-- Indexes. Lists are keyset-paginated on (started_at desc, id desc): each list shape has an
-- index in exactly that order, so a page reads only its own rows at any depth. Plans are
-- checked in tests/integration/query-plans.test.ts.
-- -------------------------------------------------------------------------------------

-- A user's list (and, with INCLUDE, the index-only scan behind time-filtered stats).
create index idx_workflow_executions_created_by
  on public.workflow_executions (created_by, started_at desc, id desc)
  include (status, duration_ms);

-- A user's list filtered by status.
create index idx_workflow_executions_user_status
  on public.workflow_executions (created_by, status, started_at desc, id desc);

-- One workflow's list (and the foreign key's cascade).
create index idx_workflow_executions_workflow
  on public.workflow_executions (workflow_id, started_at desc, id desc)
  include (status, duration_ms);

-- Service-role list over everyone.
create index idx_workflow_executions_started
  on public.workflow_executions (started_at desc, id desc)
  include (status, duration_ms);

-- The sweeper's work queues: small partial indexes over live rows only.
create index idx_workflow_executions_overdue
  on public.workflow_executions (timeout_at)
  where status in ('pending', 'running') and timeout_at is not null;

create index idx_workflow_executions_live
  on public.workflow_executions (status, updated_at)
  where status in ('pending', 'running');

-- -------------------------------------------------------------------------------------
-- Lifecycle
--   pending -> running | failed | cancelled | timed_out
--   running -> completed | failed | cancelled | timed_out
--   completed, failed, cancelled, timed_out are final.
-- Errors carry their own SQLSTATEs, which the service maps to HTTP:
--   ET001 invalid_transition, ET002 immutable column changed.
-- -------------------------------------------------------------------------------------
-- Plain expressions without `set search_path`, so the planner can inline them.
create or replace function public.execution_status_is_terminal(s public.execution_status)
returns boolean
language sql immutable parallel safe
as $$
  select s in ('completed', 'failed', 'cancelled', 'timed_out')
$$;

create or replace function public.execution_transition_allowed(from_status public.execution_status, to_status public.execution_status)
returns boolean
language sql immutable parallel safe
as $$
  select case from_status
    when 'pending' then to_status in ('running', 'failed', 'cancelled', 'timed_out')
    when 'running' then to_status in ('completed', 'failed', 'cancelled', 'timed_out')
    else false
  end
$$;

create or replace function private.enforce_execution_lifecycle() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' then
    if new.id is distinct from old.id
       or new.workflow_id is distinct from old.workflow_id
       or new.created_by is distinct from old.created_by
       or new.started_at is distinct from old.started_at
       or new.created_at is distinct from old.created_at
       or (old.temporal_workflow_id is not null and new.temporal_workflow_id is distinct from old.temporal_workflow_id)
    then
      raise exception 'id, workflow_id, created_by, started_at, created_at and a set temporal_workflow_id cannot change'
        using errcode = 'ET002';
    end if;

    if public.execution_status_is_terminal(old.status) then
      -- A terminal row is final: repeating it unchanged is allowed (idempotent reports),
      -- changing anything is not.
      new.updated_at := old.updated_at;
      if new is distinct from old then
        raise exception 'execution % is % and can no longer change', old.id, old.status
          using errcode = 'ET001', detail = format('from=%s to=%s', old.status, new.status);
      end if;
      return new;
    end if;

    if new.status <> old.status and not public.execution_transition_allowed(old.status, new.status) then
      raise exception 'execution % cannot go from % to %', old.id, old.status, new.status
        using errcode = 'ET001', detail = format('from=%s to=%s', old.status, new.status);
    end if;

    new.updated_at := now();
  end if;

  -- A pending row is one the tracker will start in Temporal: its workflow id is derived from
  -- the row's id, so every retry of the dispatch names the same Temporal workflow.
  if tg_op = 'INSERT' and new.status = 'pending' and new.temporal_workflow_id is null then
    new.temporal_workflow_id := 'execution-' || new.id;
  end if;

  -- Entering a terminal state (or being recorded in one) fixes the end time and duration.
  if public.execution_status_is_terminal(new.status) then
    new.completed_at := coalesce(new.completed_at, now());
    new.duration_ms := coalesce(
      new.duration_ms,
      greatest(0, round(extract(epoch from (new.completed_at - new.started_at)) * 1000))::bigint
    );
  end if;
  return new;
end
$$;

create trigger enforce_execution_lifecycle
  before insert or update on public.workflow_executions
  for each row execute function private.enforce_execution_lifecycle();

-- -------------------------------------------------------------------------------------
-- Access: owners only; service_role bypasses RLS. anon gets nothing.
-- -------------------------------------------------------------------------------------
alter table public.workflow_executions enable row level security;

revoke all on public.workflow_executions from anon;
grant select, insert, update, delete on public.workflow_executions to authenticated;
grant all on public.workflow_executions to service_role;
grant execute on function public.execution_status_is_terminal(public.execution_status),
  public.execution_transition_allowed(public.execution_status, public.execution_status)
  to authenticated, service_role;

create policy "Users can read their own executions"
  on public.workflow_executions for select to authenticated
  using (created_by = (select auth.uid()));

create policy "Users can record executions they own"
  on public.workflow_executions for insert to authenticated
  with check (created_by = (select auth.uid()));

create policy "Users can update their own executions"
  on public.workflow_executions for update to authenticated
  using (created_by = (select auth.uid()))
  with check (created_by = (select auth.uid()));

create policy "Users can delete their own executions"
  on public.workflow_executions for delete to authenticated
  using (created_by = (select auth.uid()));

-- =====================================================================================
-- Execution integrity: what a row can hold, what a user may insert, what a duration means,
-- and one SQLSTATE per condition, so that no tenant's row or write can break the tracker for
-- another (issue 7 §2 first item, §3).
--
-- SQL error contract of workflow_executions (the service maps these by SQLSTATE and by the
-- error's COLUMN / CONSTRAINT fields, never by message or detail text: shared/database-errors.ts):
--
--   SQLSTATE  condition                                   COLUMN field          HTTP
--   ET001     a live execution's status change the        status                409 invalid_transition
--             lifecycle forbids (running -> pending)
--   ET002     a column fixed at insert changed: id,       the column            409 immutable_field
--             workflow_id, created_by, started_at,
--             created_at, running_at, a set
--             temporal_workflow_id
--   ET003     any change to a terminal execution          the first column the  409 terminal_execution
--             (completed, failed, cancelled, timed_out);  change touches
--             repeating it unchanged is allowed           (status first)
--   23514     a bad value: the CHECK constraint's name    (CONSTRAINT field)    400 validation_failed,
--             says which (below; and the ones of the                            details.fields names
--             earlier migrations, e.g.                                          the field
--             workflow_executions_duration_ms_check,
--             execution_status_known)
--   42501     a user's INSERT that is not the start of    -                     404 (RLS: as elsewhere)
--             a run (policy below)
-- ET004-ET009 are free for this lifecycle; ET010+ belong to 20261201000100 (Temporal ownership).
--
-- Time bounds. Every timestamptz column of workflow_executions and workflows holds a finite
-- time from 2000-01-01T00:00:00Z (inclusive) to 2200-01-01T00:00:00Z (exclusive):
-- public.execution_timestamp_in_range, one CHECK per column named `<table>_<column>_in_range`
-- (so `infinity` and `-infinity`, which made every sweep fail, are rejected). Fixed bounds
-- rather than relative to now(): a CHECK must give the same answer for a row whenever it is
-- checked, and an app may record runs that started long ago or deadlines far ahead. Columns
-- added by later migrations take a constraint of their own under the same naming.
--
-- Durations.
--   - A live row (pending, running) has no completed_at and no duration_ms: the trigger keeps
--     both null, so a durationMs reported while the run goes on counts in no statistic.
--   - running_at (new) is when the run started running: set by the database, on insert for a
--     row recorded in any state but pending (= started_at), and on the pending -> running
--     transition (= now()). A pending row's wait for Temporal is not part of its duration.
--   - Entering a terminal state: completed_at = the given one or now(); duration_ms = the given
--     one (a worker's report wins) or completed_at - running_at. A run that never ran (pending
--     -> failed / cancelled / timed_out) has no duration, even if one is given.
--   - started_at stays the list's keyset position and is immutable; running_at too.
--
-- Users (`authenticated`) may only insert executions at the start of their life: pending or
-- running, without output (completed_at and duration_ms are null on live rows anyway). A
-- terminal history can therefore only be written by the lifecycle (or the service role): a
-- user who deletes a finished execution and inserts its id again gets a new live run, never a
-- terminal row of their choosing.
--
-- Existing rows are fixed, not left to fail (one UPDATE, the lifecycle trigger off for it so
-- that the immutable and terminal rows can be corrected; the stats triggers stay on and keep
-- the rollups exact):
--   started_at out of bounds      -> created_at if that is in bounds, else now()
--   created_at out of bounds      -> the (fixed) started_at
--   updated_at out of bounds      -> now()
--   completed_at out of bounds    -> now() on a terminal row (null on a live one)
--   timeout_at too late (infinity)-> null: no deadline, which is what it meant
--   timeout_at too early          -> now() on a live row (the sweeper times it out next,
--                                    as it was overdue), null on a terminal one
--   temporal_checked_at           -> null when out of bounds (sweeper bookkeeping)
--   live rows                     -> completed_at and duration_ms null
--   running rows                  -> running_at = started_at (the best known start)
-- workflows: created_at / updated_at out of bounds -> now(). A NOTICE says how many rows were
-- fixed. Terminal rows keep running_at null: their duration is already recorded.
-- =====================================================================================

-- -------------------------------------------------------------------------------------
-- The status vocabulary, once: which statuses are live (terminal: 20261125000200). Plain SQL
-- without `set search_path`, so the planner inlines it.
-- -------------------------------------------------------------------------------------
create or replace function public.execution_status_is_live(s public.execution_status)
returns boolean
language sql immutable parallel safe
as $$
  select s in ('pending', 'running')
$$;

comment on function public.execution_status_is_live(public.execution_status) is
  'pending and running: the execution is still going and may change. The other statuses are terminal (execution_status_is_terminal).';

-- -------------------------------------------------------------------------------------
-- Time bounds (see the banner). Null is in range: CHECK treats it as passing, and nullable
-- columns mean "not yet" with null.
-- -------------------------------------------------------------------------------------
create or replace function public.execution_timestamp_in_range(t timestamptz)
returns boolean
language sql immutable parallel safe
as $$
  select t >= '2000-01-01 00:00:00+00'::timestamptz and t < '2200-01-01 00:00:00+00'::timestamptz
$$;

comment on function public.execution_timestamp_in_range(timestamptz) is
  'A finite time from 2000-01-01T00:00:00Z to before 2200-01-01T00:00:00Z: what every timestamp column of the tracker holds.';

grant execute on function public.execution_status_is_live(public.execution_status),
  public.execution_timestamp_in_range(timestamptz)
  to authenticated, service_role;

-- -------------------------------------------------------------------------------------
-- running_at
-- -------------------------------------------------------------------------------------
alter table public.workflow_executions add column running_at timestamptz;

comment on column public.workflow_executions.running_at is
  'When the run started running (set by the database: at insert unless pending, or on pending -> running). '
  'A terminal duration is measured from it; null: the run never ran, so it has no duration.';

-- -------------------------------------------------------------------------------------
-- Existing rows (see the banner).
-- -------------------------------------------------------------------------------------
alter table public.workflow_executions disable trigger enforce_execution_lifecycle;

do $$
declare
  fixed bigint;
begin
  with bad as (
    select e.id,
           case
             when public.execution_timestamp_in_range(e.started_at) then e.started_at
             when public.execution_timestamp_in_range(e.created_at) then e.created_at
             else now()
           end as started_at
      from public.workflow_executions e
     where not public.execution_timestamp_in_range(e.started_at)
        or not public.execution_timestamp_in_range(e.created_at)
        or not public.execution_timestamp_in_range(e.updated_at)
        or not coalesce(public.execution_timestamp_in_range(e.completed_at), true)
        or not coalesce(public.execution_timestamp_in_range(e.timeout_at), true)
        or not coalesce(public.execution_timestamp_in_range(e.temporal_checked_at), true)
        or (public.execution_status_is_live(e.status) and (e.completed_at is not null or e.duration_ms is not null))
  ),
  fixed_rows as (
    update public.workflow_executions e set
      started_at = bad.started_at,
      created_at = case when public.execution_timestamp_in_range(e.created_at) then e.created_at else bad.started_at end,
      updated_at = case when public.execution_timestamp_in_range(e.updated_at) then e.updated_at else now() end,
      completed_at = case
        when public.execution_status_is_live(e.status) then null
        when public.execution_timestamp_in_range(e.completed_at) then e.completed_at
        else now() end,
      duration_ms = case when public.execution_status_is_live(e.status) then null else e.duration_ms end,
      timeout_at = case
        when e.timeout_at is null or public.execution_timestamp_in_range(e.timeout_at) then e.timeout_at
        when e.timeout_at < '2000-01-01 00:00:00+00'::timestamptz and public.execution_status_is_live(e.status) then now()
        else null end,
      temporal_checked_at = case when public.execution_timestamp_in_range(e.temporal_checked_at) then e.temporal_checked_at end
      from bad
     where e.id = bad.id
    returning e.id
  )
  select count(*) into fixed from fixed_rows;
  if fixed > 0 then
    raise notice 'execution integrity: % execution(s) with out-of-range times or a live duration were fixed', fixed;
  end if;
end
$$;

-- The runs going on now have been running since they started, as far as anyone knows.
update public.workflow_executions set running_at = started_at where status = 'running';

alter table public.workflow_executions enable trigger enforce_execution_lifecycle;

alter table public.workflows disable trigger user;
update public.workflows set
  created_at = case when public.execution_timestamp_in_range(created_at) then created_at else now() end,
  updated_at = case when public.execution_timestamp_in_range(updated_at) then updated_at else now() end
 where not public.execution_timestamp_in_range(created_at) or not public.execution_timestamp_in_range(updated_at);
alter table public.workflows enable trigger user;

-- -------------------------------------------------------------------------------------
-- The bounds, one named CHECK per column (every existing row passes after the fix above).
-- -------------------------------------------------------------------------------------
alter table public.workflow_executions
  add constraint workflow_executions_started_at_in_range check (public.execution_timestamp_in_range(started_at)),
  add constraint workflow_executions_running_at_in_range check (public.execution_timestamp_in_range(running_at)),
  add constraint workflow_executions_completed_at_in_range check (public.execution_timestamp_in_range(completed_at)),
  add constraint workflow_executions_timeout_at_in_range check (public.execution_timestamp_in_range(timeout_at)),
  add constraint workflow_executions_temporal_checked_at_in_range check (public.execution_timestamp_in_range(temporal_checked_at)),
  add constraint workflow_executions_created_at_in_range check (public.execution_timestamp_in_range(created_at)),
  add constraint workflow_executions_updated_at_in_range check (public.execution_timestamp_in_range(updated_at));

alter table public.workflows
  add constraint workflows_created_at_in_range check (public.execution_timestamp_in_range(created_at)),
  add constraint workflows_updated_at_in_range check (public.execution_timestamp_in_range(updated_at));

-- -------------------------------------------------------------------------------------
-- Lifecycle (replaces the function of 20261125000200; same trigger). See the banner for the
-- SQLSTATEs and the duration rules; everything else is as before.
-- -------------------------------------------------------------------------------------
create or replace function private.enforce_execution_lifecycle() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  col text;
begin
  if tg_op = 'UPDATE' then
    -- Columns fixed at insert (running_at is the database's: see below).
    col := case
      when new.id is distinct from old.id then 'id'
      when new.workflow_id is distinct from old.workflow_id then 'workflow_id'
      when new.created_by is distinct from old.created_by then 'created_by'
      when new.started_at is distinct from old.started_at then 'started_at'
      when new.created_at is distinct from old.created_at then 'created_at'
      when new.running_at is distinct from old.running_at then 'running_at'
      when old.temporal_workflow_id is not null and new.temporal_workflow_id is distinct from old.temporal_workflow_id
        then 'temporal_workflow_id'
    end;
    if col is not null then
      raise exception '% of an execution cannot change', col
        using errcode = 'ET002', column = col, table = tg_table_name, schema = tg_table_schema;
    end if;

    if public.execution_status_is_terminal(old.status) then
      -- A terminal row is final: repeating it unchanged is allowed (idempotent reports),
      -- changing anything is not.
      new.updated_at := old.updated_at;
      if new is distinct from old then
        select n.key into col
          from jsonb_each(to_jsonb(new)) n join jsonb_each(to_jsonb(old)) o using (key)
         where n.value is distinct from o.value
         order by n.key <> 'status', n.key
         limit 1;
        raise exception 'execution % is % and can no longer change', old.id, old.status
          using errcode = 'ET003', column = coalesce(col, 'status'), table = tg_table_name, schema = tg_table_schema;
      end if;
      return new;
    end if;

    if new.status <> old.status and not public.execution_transition_allowed(old.status, new.status) then
      raise exception 'execution % cannot go from % to %', old.id, old.status, new.status
        using errcode = 'ET001', column = 'status', table = tg_table_name, schema = tg_table_schema;
    end if;

    -- The run's clock starts when it starts running, not while it waits for Temporal.
    if old.status = 'pending' and new.status = 'running' then
      new.running_at := now();
    end if;
    new.updated_at := now();
  else
    -- (An out-of-range started_at is left to its own CHECK, which names it.)
    new.running_at := case
      when new.status = 'pending' or not public.execution_timestamp_in_range(new.started_at) then null
      else new.started_at
    end;

    -- A pending row is one the tracker will start in Temporal: its workflow id is derived from
    -- the row's id, so every retry of the dispatch names the same Temporal workflow.
    if new.status = 'pending' and new.temporal_workflow_id is null then
      new.temporal_workflow_id := 'execution-' || new.id;
    end if;
  end if;

  if public.execution_status_is_live(new.status) then
    -- No end yet: a duration reported while the run goes on counts nowhere.
    new.completed_at := null;
    new.duration_ms := null;
  else
    -- Entering a terminal state (or being recorded in one) fixes the end time and duration.
    -- Times out of range get no duration here: their CHECK constraint rejects the row next,
    -- by name.
    new.completed_at := coalesce(new.completed_at, now());
    new.duration_ms := case
      when new.running_at is null then null -- never ran
      when not (public.execution_timestamp_in_range(new.running_at) and public.execution_timestamp_in_range(new.completed_at))
        then new.duration_ms
      else coalesce(
        new.duration_ms,
        greatest(0, round(extract(epoch from (new.completed_at - new.running_at)) * 1000))::bigint)
    end;
  end if;
  return new;
end
$$;

-- -------------------------------------------------------------------------------------
-- What a user may insert: the start of a run they own.
-- -------------------------------------------------------------------------------------
drop policy "Users can record executions they own" on public.workflow_executions;

create policy "Users can record the start of executions they own"
  on public.workflow_executions for insert to authenticated
  with check (
    created_by = (select auth.uid())
    and public.execution_status_is_live(status)
    and output is null
    and completed_at is null
    and duration_ms is null
  );

comment on table public.workflow_executions is
  'One row per workflow run. Status transitions, durations and immutable columns are enforced by trigger enforce_execution_lifecycle (SQLSTATEs: 20261201000200).';

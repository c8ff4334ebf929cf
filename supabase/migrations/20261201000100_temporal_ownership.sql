-- =====================================================================================
-- Temporal ownership: the tracker acts in Temporal (with its own namespace-wide credentials)
-- only on runs that provably belong to the row's owner, and only the service role decides
-- which workflow types and task queues can be started. Contract: docs/architecture.md §1, §4.
--
-- workflow_executions.temporal_link, set by trigger at insert from the row and current_user,
-- never by a client, never changed afterwards:
--   dispatched  a pending row; its Temporal workflow id is `execution-<its own id>` (derived
--               by enforce_execution_lifecycle); the tracker starts the run itself.
--   registered  inserted with a chosen temporal_workflow_id by a role other than a user's
--               (service_role: an app's backend that started the run vouches for it).
--   reported    inserted by a user (`authenticated`/`anon`) with an id of their choice, or
--               without any Temporal id: no proof, so the tracker never describes, adopts
--               from, cancels or terminates it; it is the user's own record.
--
-- Uniqueness: temporal_workflow_id is unique per owner, and globally only among rows the
-- tracker acts on (temporal_link <> 'reported'). A user can therefore never squat another
-- tenant's id, and a user's clash is only ever with their own rows.
--
-- SQLSTATEs raised here (the service maps them by code; ET001-ET009 belong to the lifecycle
-- and integrity migrations):
--   ET010  temporal_link cannot change (it is set by the database at insert)
--   ET011  temporal_workflow_id uses the reserved prefix `execution-` (only a pending row's
--          derived `execution-<its own id>` may)
--   ET012  a pending row's temporal_workflow_id is derived, it cannot be chosen
-- Constraint names the service maps (shared/database-errors.ts):
--   workflow_executions_temporal_workflow_id_shape          23514, the id shape below
--   workflow_executions_owner_temporal_workflow_id_key      23505, per-owner uniqueness
--   workflow_executions_acted_temporal_workflow_id_key      23505, acted-on uniqueness
--   workflows_temporal_workflow_type_registered_fkey        23503, unregistered type/queue
--   workflows_temporal_workflow_type_pair                   23514, only one of the two set
-- =====================================================================================

-- -------------------------------------------------------------------------------------
-- Temporal workflow id shape: what Temporal and both gateways can address. A Temporal
-- workflow id is a path segment of the HTTP API (/namespaces/<ns>/workflows/<id>/...), so
-- no `/`, not `.` or `..`; no control characters (C0, DEL, C1); at most 1000 bytes in UTF-8,
-- Temporal's default limit.maxIDLength. The HTTP edge (shared/schemas.ts temporalId) and the
-- gateways check the same rules.
-- -------------------------------------------------------------------------------------
create or replace function public.temporal_id_is_addressable(value text) returns boolean
language sql immutable parallel safe
as $$
  select value is null or (
    octet_length(value) between 1 and 1000
    and value not in ('.', '..')
    and strpos(value, '/') = 0
    and value !~ '[\x01-\x1f\x7f-\x9f]'
  )
$$;

comment on function public.temporal_id_is_addressable(text) is
  'A Temporal workflow/run id the tracker can address: 1-1000 bytes, no "/", not "." or "..", no control characters.';

grant execute on function public.temporal_id_is_addressable(text) to authenticated, service_role;

-- -------------------------------------------------------------------------------------
-- temporal_link
-- -------------------------------------------------------------------------------------
-- The default is the safe value (the trigger below always sets the column explicitly).
alter table public.workflow_executions
  add column temporal_link text not null default 'reported'
    constraint workflow_executions_temporal_link_known
    check (temporal_link in ('dispatched', 'registered', 'reported'));

-- Backfill. Who inserted an existing row is not recorded, so only a row whose id is derived
-- from its own id (`execution-<id>`, which only the tracker's dispatch gives a row) is proven
-- to be a run the tracker started: dispatched. Every other row, including ones an app's
-- backend registered, stays reported: without proof the tracker must not act on it (the safe
-- side; the run is still recorded and its owner's updates still apply). A row whose id merely
-- starts with `execution-` but names another id is a squat and is reported too.
-- The table's user triggers are off for this one statement: it changes only the new column,
-- which the lifecycle trigger would refuse on terminal rows and the stats triggers need not
-- see (the migration runs as the table's owner, in one transaction).
alter table public.workflow_executions disable trigger user;
update public.workflow_executions
   set temporal_link = 'dispatched'
 where temporal_workflow_id = 'execution-' || id;
alter table public.workflow_executions enable trigger user;

comment on column public.workflow_executions.temporal_link is
  'How the row is tied to its Temporal run, set by the database at insert (dispatched | registered | reported); '
  'the tracker acts in Temporal only on dispatched and registered rows. Immutable (ET010).';

-- Runs after enforce_execution_lifecycle (triggers of one event fire in name order:
-- "enforce_..." < "execution_..."), so a pending row's derived id is already there.
create or replace function private.assign_temporal_link() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  if tg_op = 'UPDATE' then
    if new.temporal_link is distinct from old.temporal_link then
      raise exception 'temporal_link cannot change'
        using errcode = 'ET010', column = 'temporal_link';
    end if;
    -- A temporal_workflow_id set later (from null: the lifecycle trigger keeps a set one
    -- fixed) keeps the row's link, and may not take the reserved prefix.
    if new.temporal_workflow_id is distinct from old.temporal_workflow_id
       and new.temporal_workflow_id like 'execution-%' then
      raise exception 'temporal_workflow_id may not start with "execution-": that prefix is reserved for runs the tracker dispatches'
        using errcode = 'ET011', column = 'temporal_workflow_id';
    end if;
    return new;
  end if;

  -- INSERT: whatever a client sent for temporal_link is replaced.
  if new.status = 'pending' then
    if new.temporal_workflow_id is distinct from ('execution-' || new.id) then
      raise exception 'a pending execution is dispatched by the tracker under a workflow id derived from its own id; it cannot be given a temporal_workflow_id'
        using errcode = 'ET012', column = 'temporal_workflow_id';
    end if;
    new.temporal_link := 'dispatched';
  elsif new.temporal_workflow_id like 'execution-%' then
    raise exception 'temporal_workflow_id may not start with "execution-": that prefix is reserved for runs the tracker dispatches'
      using errcode = 'ET011', column = 'temporal_workflow_id';
  elsif new.temporal_workflow_id is not null and current_user not in ('authenticated', 'anon') then
    new.temporal_link := 'registered';
  else
    new.temporal_link := 'reported';
  end if;
  return new;
end
$$;

create trigger execution_temporal_link
  before insert or update of temporal_link, temporal_workflow_id on public.workflow_executions
  for each row execute function private.assign_temporal_link();

-- -------------------------------------------------------------------------------------
-- Uniqueness
-- -------------------------------------------------------------------------------------
-- Existing rows were globally unique, so both new constraints hold for them.
alter table public.workflow_executions drop constraint workflow_executions_temporal_workflow_id_key;

-- Per owner: a user's clash is with their own rows only; it also serves a user's lookup by
-- temporal_workflow_id (created_by comes first, as RLS filters on it).
alter table public.workflow_executions
  add constraint workflow_executions_owner_temporal_workflow_id_key unique (created_by, temporal_workflow_id);

-- Among the rows the tracker acts on: one row per Temporal run it may touch; it serves the
-- service role's lookup by temporal_workflow_id (temporal_link <> 'reported').
create unique index workflow_executions_acted_temporal_workflow_id_key
  on public.workflow_executions (temporal_workflow_id)
  where temporal_link <> 'reported';

-- -------------------------------------------------------------------------------------
-- Id shape. Added NOT VALID and validated when every existing row passes (always, on a new
-- database). If some legacy row does not, the migration still applies: new rows and changed
-- rows are checked from now on, and the warning says how many rows to fix before running
--   alter table public.workflow_executions validate constraint workflow_executions_temporal_workflow_id_shape;
-- -------------------------------------------------------------------------------------
alter table public.workflow_executions
  add constraint workflow_executions_temporal_workflow_id_shape
    check (public.temporal_id_is_addressable(temporal_workflow_id)) not valid;

do $$
declare
  bad bigint;
begin
  select count(*) into bad from public.workflow_executions
   where not public.temporal_id_is_addressable(temporal_workflow_id);
  if bad = 0 then
    alter table public.workflow_executions validate constraint workflow_executions_temporal_workflow_id_shape;
  else
    raise warning '% execution(s) have a temporal_workflow_id Temporal cannot address; workflow_executions_temporal_workflow_id_shape stays NOT VALID until they are fixed', bad;
  end if;
end
$$;

-- -------------------------------------------------------------------------------------
-- Registry of startable workflow types: which (workflow type, task queue) pairs the tracker
-- may start with its credentials. Written by the service role only; users read it.
-- -------------------------------------------------------------------------------------
create table public.temporal_workflow_types (
  workflow_type text not null check (char_length(workflow_type) between 1 and 255),
  task_queue text not null check (char_length(task_queue) between 1 and 255),
  description text check (char_length(description) <= 2000),
  created_at timestamptz not null default now(),
  primary key (workflow_type, task_queue)
);

comment on table public.temporal_workflow_types is
  'The Temporal workflow types and task queues the tracker may start; managed by the service role, read by users.';

alter table public.temporal_workflow_types enable row level security;

revoke all on public.temporal_workflow_types from public, anon, authenticated;
grant select on public.temporal_workflow_types to authenticated;
grant all on public.temporal_workflow_types to service_role;

create policy "Users can read the registered workflow types"
  on public.temporal_workflow_types for select to authenticated
  using (true);

-- Backfill: every pair an existing workflow names is registered, so no existing workflow
-- stops working. The operator should review the list afterwards: before this migration any
-- user could name any pair. Unregistering a pair (DELETE) clears it from the workflows that
-- use it (on delete set null), so nothing can start it any more.
insert into public.temporal_workflow_types (workflow_type, task_queue, description)
select distinct temporal_workflow_type, task_queue, 'registered by migration 20261201000100 from existing workflows'
  from public.workflows
 where temporal_workflow_type is not null and task_queue is not null
on conflict do nothing;

-- A workflow with only one of the two set could never be started (dispatch needs both) and
-- cannot name a registry row: it becomes a workflow without a Temporal type.
update public.workflows
   set temporal_workflow_type = null, task_queue = null
 where (temporal_workflow_type is null) <> (task_queue is null);

alter table public.workflows
  add constraint workflows_temporal_workflow_type_pair
    check ((temporal_workflow_type is null) = (task_queue is null)),
  add constraint workflows_temporal_workflow_type_registered_fkey
    foreign key (temporal_workflow_type, task_queue)
    references public.temporal_workflow_types (workflow_type, task_queue)
    on delete set null;

create index idx_workflows_temporal_workflow_type on public.workflows (temporal_workflow_type, task_queue)
  where temporal_workflow_type is not null;

-- -------------------------------------------------------------------------------------
-- Workflows over HTTP (supabase/functions/workflows): lists are newest first, keyset-paginated
-- on (created_at desc, id desc), a user's from their own index, the service role's over all.
-- -------------------------------------------------------------------------------------
drop index public.idx_workflows_created_by;
create index idx_workflows_created_by on public.workflows (created_by, created_at desc, id desc);
create index idx_workflows_created on public.workflows (created_at desc, id desc);

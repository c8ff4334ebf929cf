-- =====================================================================================
-- Workflows: the definitions a user's executions belong to.
-- =====================================================================================

-- -------------------------------------------------------------------------------------
-- Shared helpers
-- -------------------------------------------------------------------------------------

-- Internal functions live in a schema no API role can use.
create schema if not exists private;
revoke all on schema private from public;

create or replace function private.set_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
  new.updated_at := now();
  return new;
end
$$;

-- -------------------------------------------------------------------------------------
-- Table
-- -------------------------------------------------------------------------------------
create table public.workflows (
  id uuid primary key default gen_random_uuid(),
  name text not null check (char_length(name) between 1 and 200),
  description text,
  -- How the tracker starts a run of this workflow in Temporal (both null: runs are
  -- started elsewhere and only reported to the tracker).
  temporal_workflow_type text check (char_length(temporal_workflow_type) between 1 and 255),
  task_queue text check (char_length(task_queue) between 1 and 255),
  created_by uuid not null default auth.uid() references auth.users (id) on delete cascade,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  -- Target of workflow_executions' (workflow_id, created_by) foreign key: an execution
  -- always belongs to its workflow's owner.
  unique (id, created_by)
);

comment on table public.workflows is 'Workflow definitions; each execution belongs to one, and to its owner.';

create index idx_workflows_created_by on public.workflows (created_by, created_at desc);

create trigger workflows_set_updated_at
  before update on public.workflows
  for each row execute function private.set_updated_at();

-- -------------------------------------------------------------------------------------
-- Access: owners only; service_role bypasses RLS.
-- -------------------------------------------------------------------------------------
alter table public.workflows enable row level security;

revoke all on public.workflows from anon;
grant select, insert, update, delete on public.workflows to authenticated;
grant all on public.workflows to service_role;

create policy "Users can read their own workflows"
  on public.workflows for select to authenticated
  using (created_by = (select auth.uid()));

create policy "Users can create workflows they own"
  on public.workflows for insert to authenticated
  with check (created_by = (select auth.uid()));

create policy "Users can update their own workflows"
  on public.workflows for update to authenticated
  using (created_by = (select auth.uid()))
  with check (created_by = (select auth.uid()));

create policy "Users can delete their own workflows"
  on public.workflows for delete to authenticated
  using (created_by = (select auth.uid()));

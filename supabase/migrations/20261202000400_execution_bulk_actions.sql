-- =====================================================================================
-- Bulk actions by filter (docs/architecture.md §5.4): cancel, retry or delete every
-- execution of a list filter, in bounded batches, each batch its own short transaction as the
-- action's owner (RLS decides), with a record the owner polls.
--
-- 1. public.execution_bulk_actions: one row per accepted request, unique per
--    (created_by, request_id), so the same request id again is the same action and its work
--    is done once (the unique index serializes concurrent inserts of one key). Owners read
--    their own; only the service role writes (the API accepts and processes as it).
-- 2. public.execution_bulk_action_items: the snapshot of the matched executions' ids, taken
--    in the transaction that accepts the action (at most 100,000; the API refuses more before
--    anything is written). The set is fixed there: rows created later are never acted on. An
--    item is deleted in the same transaction as its effect, so what is left is exactly the
--    work left, and a resumed batch never acts on a row twice. Service role only.
-- 3. One processor per action at a time: a lease (claimed_by, claimed_until) taken with
--    `for update skip locked` and extended per batch; a crashed processor's lease expires and
--    the next one resumes with the items left.
-- 4. Who processes: the POST inline for a short budget, then `POST /executions-bulk/process`
--    (pg_net, through public.execution_bulk_actions_kick), which works for a budget and kicks
--    itself again while work remains; pg_cron every minute as the backstop where it is loaded;
--    locally the dev server's bulk-processor plugin on an interval.
-- =====================================================================================

create table public.execution_bulk_actions (
  id uuid primary key default gen_random_uuid(),
  created_by uuid not null references auth.users (id) on delete cascade,
  request_id text not null
    constraint execution_bulk_actions_request_id_length check (char_length(request_id) between 1 and 200),
  action text not null
    constraint execution_bulk_actions_action_known check (action in ('cancel', 'retry', 'delete')),
  -- The list filter as accepted (ExecutionFilter, camelCase), for the caller to read back.
  filter jsonb not null default '{}'::jsonb,
  status text not null default 'queued'
    constraint execution_bulk_actions_status_known check (status in ('queued', 'running', 'done', 'failed')),
  matched integer not null constraint execution_bulk_actions_matched_bound check (matched between 0 and 100000),
  -- Rows acted on / rows whose effect failed (reasons in errors) / rows with nothing to do
  -- (already terminal or stopping, or gone): matched = done + failed + skipped once done.
  done integer not null default 0,
  failed integer not null default 0,
  skipped integer not null default 0,
  -- At most 100 entries {executionId, reason}: the first failures.
  errors jsonb not null default '[]'::jsonb,
  -- Batch-level failures (the database, not a row): after 5 in a row the action is failed.
  attempts integer not null default 0,
  last_error text,
  claimed_by uuid,
  claimed_until timestamptz,
  created_at timestamptz not null default now(),
  started_at timestamptz,
  finished_at timestamptz,
  updated_at timestamptz not null default now(),
  constraint execution_bulk_actions_owner_request_key unique (created_by, request_id)
);

comment on table public.execution_bulk_actions is
  'Bulk actions (cancel | retry | delete) by list filter: the record its owner polls; written by the service role only (shared/bulk/).';

-- An owner's recent actions (GET /executions-bulk), and the processors' queue of unfinished ones.
create index execution_bulk_actions_owner_recent on public.execution_bulk_actions (created_by, created_at desc, id desc);
create index execution_bulk_actions_unfinished on public.execution_bulk_actions (created_at)
  where status in ('queued', 'running');

create table public.execution_bulk_action_items (
  action_id uuid not null references public.execution_bulk_actions (id) on delete cascade,
  -- No foreign key: the row may be deleted meanwhile (then the item is skipped as gone).
  execution_id uuid not null,
  primary key (action_id, execution_id)
);

comment on table public.execution_bulk_action_items is
  'The executions a bulk action still has to act on: the snapshot taken when it was accepted, each deleted with its effect. Service role only.';

alter table public.execution_bulk_actions enable row level security;
alter table public.execution_bulk_action_items enable row level security;

revoke all on public.execution_bulk_actions, public.execution_bulk_action_items from public, anon, authenticated;
grant select on public.execution_bulk_actions to authenticated;
grant all on public.execution_bulk_actions, public.execution_bulk_action_items to service_role;

create policy "Users can read their own bulk actions"
  on public.execution_bulk_actions for select to authenticated
  using (created_by = (select auth.uid()));

-- -------------------------------------------------------------------------------------
-- Kicking the processor: POST <functions url>/executions-bulk/process with the shared secret
-- (pg_net, sent after commit), only while an action is unfinished.
-- -------------------------------------------------------------------------------------
create or replace function private.invoke_bulk_processor() returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  if exists (select from public.execution_bulk_actions where status in ('queued', 'running')) then
    perform private.post_to_function('executions-bulk/process', '{}'::jsonb);
  end if;
end
$$;

-- The processor's way to ask for another run (the service role has no access to schema
-- private); `stops`: also run the timeout sweeper now, whose stop phase sends the stop
-- requests a bulk cancel or delete made, instead of at its next minute.
create or replace function public.execution_bulk_actions_kick(stops boolean default false) returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.invoke_bulk_processor();
  if stops then
    perform private.invoke_timeout_sweeper();
  end if;
end
$$;

revoke all on function private.invoke_bulk_processor() from public, anon, authenticated;
revoke all on function public.execution_bulk_actions_kick(boolean) from public, anon, authenticated;
grant execute on function public.execution_bulk_actions_kick(boolean) to service_role;

-- The backstop: every minute where pg_cron is loaded (as 20261125000500 does for the sweeper).
do $$
begin
  if not exists (select from pg_available_extensions where name = 'pg_cron') then
    raise notice 'pg_cron is not installed: the bulk-action processor is not scheduled in this database';
    return;
  end if;
  begin
    create extension if not exists pg_cron;
  exception when others then
    raise notice 'pg_cron cannot be loaded (%): the bulk-action processor is not scheduled', sqlerrm;
    return;
  end;
  perform cron.schedule('execution-tracker-bulk-actions', '* * * * *', 'select private.invoke_bulk_processor()');
end
$$;

-- =====================================================================================
-- Retention that keeps history (issue 11; docs/architecture.md §5.6).
--
-- The sweeper's retention step (shared/sweeper.ts, SQL in shared/repository/retention.ts)
-- deletes terminal executions by the age of `started_at`:
--
--   global      EXECUTION_RETENTION_DAYS (the timeout-sweeper's `retentionDays`): every
--               terminal row started longer ago than that is deleted, whoever owns it;
--   per owner   a row here gives one owner a retention period of their own.
--
-- A per-owner period can only SHORTEN what the owner keeps: the effective period of an owner is
-- least(policy, global). A policy longer than the global period has no effect while a global
-- period is set (it takes effect on its own when there is none). The reason is the cost of the
-- global pass at scale: it walks idx_workflow_executions_started oldest first and deletes every
-- terminal row it meets; if some owners could keep rows past the global cutoff, every batch of
-- every sweep would have to read past all of their old rows again to find the deletable ones.
-- An operator who wants some owners to keep more sets the global period to the longest and
-- gives the others shorter policies.
--
-- Both passes read an existing index (no new index on workflow_executions, whose every write
-- would pay for it): the global pass idx_workflow_executions_started (started_at desc, id desc)
-- backwards, resuming after the last row it deleted; the per-owner pass
-- idx_workflow_executions_created_by (created_by, started_at desc, id desc) backwards, per
-- policy. Each batch is a short transaction of its own, takes its rows with
-- `for update skip locked` (never waits for a writer) and runs under
-- `set_config('execution_tracker.prune', 'on', true)`, so the statistics keep the pruned runs
-- (migration 20261202000200). Only terminal rows are deleted: no tombstone, no stop request and
-- no webhook comes of it (execution_deleted_stop_request and execution_deleted_live_webhook of
-- 20261201000300 fire for live rows only).
--
-- Written and read by the service role only (RLS on, no policy, no privilege for users).
-- =====================================================================================

create table public.execution_retention_policies (
  created_by uuid primary key references auth.users (id) on delete cascade,
  retention_days integer not null
    constraint execution_retention_policies_retention_days_positive check (retention_days > 0),
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);

comment on table public.execution_retention_policies is
  'Per-owner retention: the sweeper deletes this owner''s terminal executions started more than retention_days ago. '
  'It only shortens: with a global period (EXECUTION_RETENTION_DAYS) the owner keeps least(retention_days, global). '
  'Service role only.';
comment on column public.execution_retention_policies.retention_days is
  'Days of terminal executions (by started_at) this owner keeps; at most the global period when one is set.';

alter table public.execution_retention_policies enable row level security;

revoke all on public.execution_retention_policies from public, anon, authenticated;
grant select, insert, update, delete on public.execution_retention_policies to service_role;

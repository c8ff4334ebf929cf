-- =====================================================================================
-- Execution statistics: exact rollups kept by triggers, read through views.
--
-- Dashboards must not scan millions of executions. Statement-level triggers fold every
-- insert, update and delete into two rollups, in the same transaction (so they are exact
-- and roll back with it):
--   execution_stats_rollup      counts and duration sums per (owner, workflow, status)
--   execution_duration_bins     duration histogram per (owner, workflow, bin)
--   execution_owner_duration_bins  the same histogram per (owner, bin), so stats over all of an
--                               owner's workflows (or everyone's) read one row per bin and owner
-- Bins are logarithmic with ratio 1.04; a percentile is reported as its bin's geometric
-- midpoint (or the one whole millisecond a small bin holds), so its relative error is at most
-- sqrt(1.04) - 1 < 2%. Counts, success rate and
-- average are exact.
-- Stats over a time range (startedAfter/startedBefore) cannot come from a rollup without a
-- time dimension; they aggregate the executions through the index-only scan of
-- idx_workflow_executions_created_by / _workflow / _started (status and duration_ms are
-- INCLUDEd), with exact percentiles.
-- =====================================================================================

-- -------------------------------------------------------------------------------------
-- Rollup tables
-- -------------------------------------------------------------------------------------
create table public.execution_stats_rollup (
  created_by uuid not null,
  workflow_id uuid not null,
  status public.execution_status not null,
  executions bigint not null default 0,
  -- Executions with a duration (terminal ones), and the sum of their durations.
  durations_counted bigint not null default 0,
  duration_ms_sum numeric not null default 0,
  primary key (created_by, workflow_id, status)
);

create table public.execution_duration_bins (
  created_by uuid not null,
  workflow_id uuid not null,
  bin smallint not null,
  executions bigint not null default 0,
  primary key (created_by, workflow_id, bin)
);

create table public.execution_owner_duration_bins (
  created_by uuid not null,
  bin smallint not null,
  executions bigint not null default 0,
  primary key (created_by, bin)
);

-- Service-role stats of one workflow (no owner in the filter).
create index idx_execution_stats_rollup_workflow on public.execution_stats_rollup (workflow_id);
create index idx_execution_duration_bins_workflow on public.execution_duration_bins (workflow_id);

comment on table public.execution_stats_rollup is 'Maintained by triggers on workflow_executions; do not write.';
comment on table public.execution_duration_bins is 'Maintained by triggers on workflow_executions; do not write.';
comment on table public.execution_owner_duration_bins is 'Maintained by triggers on workflow_executions; do not write.';

-- -------------------------------------------------------------------------------------
-- Histogram bins
-- -------------------------------------------------------------------------------------

-- These two are plain expressions on built-ins, without `set search_path`, so the planner
-- inlines them instead of calling a function per row.

-- Bin of a duration: floor(log_1.04(ms)); 0 ms and below go to bin -1.
create or replace function public.execution_duration_bin(duration_ms bigint) returns smallint
language sql immutable parallel safe
as $$
  select case when duration_ms is null then null
              when duration_ms <= 0 then -1
              else floor(ln(duration_ms::double precision) / ln(1.04::double precision))::smallint
         end
$$;

-- Representative duration of a bin. Durations are whole milliseconds: a bin holding a single
-- integer (every bin below ~25 ms) reports that integer, exactly; a wider bin reports its
-- geometric midpoint (to 0.001 ms), within 1.98% of any duration in it.
create or replace function public.execution_duration_bin_value(bin smallint) returns double precision
language sql immutable parallel safe
as $$
  select case
           when bin < 0 then 0
           when ceil(exp(bin * ln(1.04::double precision))) + 1 >= exp((bin + 1) * ln(1.04::double precision))
             then ceil(exp(bin * ln(1.04::double precision)))
           else round(exp((bin + 0.5) * ln(1.04::double precision))::numeric, 3)::double precision
         end
$$;

-- -------------------------------------------------------------------------------------
-- Maintenance trigger: one statement, one aggregated upsert per rollup, keys in sorted
-- order (so concurrent statements lock rollup rows in the same order and cannot deadlock).
-- -------------------------------------------------------------------------------------
create or replace function private.fold_execution_changes() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  changes text;
begin
  -- The transition tables that exist for this operation, signed: +1 new, -1 old.
  changes := case tg_op
    when 'INSERT' then 'select created_by, workflow_id, status, duration_ms, 1 as sign from new_rows'
    when 'DELETE' then 'select created_by, workflow_id, status, duration_ms, -1 as sign from old_rows'
    else 'select created_by, workflow_id, status, duration_ms, 1 as sign from new_rows
          union all
          select created_by, workflow_id, status, duration_ms, -1 as sign from old_rows'
  end;

  execute format($sql$
    insert into public.execution_stats_rollup as r
      (created_by, workflow_id, status, executions, durations_counted, duration_ms_sum)
    select created_by, workflow_id, status,
           sum(sign),
           sum(case when duration_ms is null then 0 else sign end),
           sum(sign * coalesce(duration_ms, 0))
      from (%s) c
     group by created_by, workflow_id, status
    having sum(sign) <> 0
        or sum(case when duration_ms is null then 0 else sign end) <> 0
        or sum(sign * coalesce(duration_ms, 0)) <> 0
     order by created_by, workflow_id, status
    on conflict (created_by, workflow_id, status) do update
       set executions = r.executions + excluded.executions,
           durations_counted = r.durations_counted + excluded.durations_counted,
           duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum
  $sql$, changes);

  execute format($sql$
    insert into public.execution_duration_bins as b (created_by, workflow_id, bin, executions)
    select created_by, workflow_id, public.execution_duration_bin(duration_ms), sum(sign)
      from (%s) c
     where duration_ms is not null
     group by created_by, workflow_id, public.execution_duration_bin(duration_ms)
    having sum(sign) <> 0
     order by 1, 2, 3
    on conflict (created_by, workflow_id, bin) do update
       set executions = b.executions + excluded.executions
  $sql$, changes);

  execute format($sql$
    insert into public.execution_owner_duration_bins as b (created_by, bin, executions)
    select created_by, public.execution_duration_bin(duration_ms), sum(sign)
      from (%s) c
     where duration_ms is not null
     group by created_by, public.execution_duration_bin(duration_ms)
    having sum(sign) <> 0
     order by 1, 2
    on conflict (created_by, bin) do update
       set executions = b.executions + excluded.executions
  $sql$, changes);

  return null;
end
$$;

create trigger fold_inserted_executions
  after insert on public.workflow_executions
  referencing new table as new_rows
  for each statement execute function private.fold_execution_changes();

create trigger fold_updated_executions
  after update on public.workflow_executions
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.fold_execution_changes();

create trigger fold_deleted_executions
  after delete on public.workflow_executions
  referencing old table as old_rows
  for each statement execute function private.fold_execution_changes();

-- TRUNCATE fires no row triggers: empty the rollups with it.
create or replace function private.truncate_execution_rollups() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  truncate public.execution_stats_rollup, public.execution_duration_bins, public.execution_owner_duration_bins;
  return null;
end
$$;

create trigger truncate_execution_rollups
  after truncate on public.workflow_executions
  for each statement execute function private.truncate_execution_rollups();

-- Rebuilds both rollups from the executions (repair tool; also used by tests and bench).
create or replace function private.rebuild_execution_rollups() returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  lock table public.workflow_executions in share mode;
  truncate public.execution_stats_rollup, public.execution_duration_bins, public.execution_owner_duration_bins;
  insert into public.execution_stats_rollup (created_by, workflow_id, status, executions, durations_counted, duration_ms_sum)
  select created_by, workflow_id, status, count(*), count(duration_ms), coalesce(sum(duration_ms), 0)
    from public.workflow_executions
   group by 1, 2, 3;
  insert into public.execution_duration_bins (created_by, workflow_id, bin, executions)
  select created_by, workflow_id, public.execution_duration_bin(duration_ms), count(*)
    from public.workflow_executions
   where duration_ms is not null
   group by 1, 2, 3;
  insert into public.execution_owner_duration_bins (created_by, bin, executions)
  select created_by, public.execution_duration_bin(duration_ms), count(*)
    from public.workflow_executions
   where duration_ms is not null
   group by 1, 2;
end
$$;

-- -------------------------------------------------------------------------------------
-- Access: the rollups are read-only to API roles and scoped by RLS like the executions.
-- -------------------------------------------------------------------------------------
alter table public.execution_stats_rollup enable row level security;
alter table public.execution_duration_bins enable row level security;
alter table public.execution_owner_duration_bins enable row level security;

revoke all on public.execution_stats_rollup, public.execution_duration_bins, public.execution_owner_duration_bins
  from anon, authenticated, service_role;
grant select on public.execution_stats_rollup, public.execution_duration_bins, public.execution_owner_duration_bins
  to authenticated, service_role;

create policy "Users can read their own execution counts"
  on public.execution_stats_rollup for select to authenticated
  using (created_by = (select auth.uid()));

create policy "Users can read their own duration histogram"
  on public.execution_duration_bins for select to authenticated
  using (created_by = (select auth.uid()));

create policy "Users can read their own overall duration histogram"
  on public.execution_owner_duration_bins for select to authenticated
  using (created_by = (select auth.uid()));

-- -------------------------------------------------------------------------------------
-- Views (security_invoker: the caller's RLS applies to what they read)
-- -------------------------------------------------------------------------------------

-- Counts and duration sums per owner, workflow and status.
create view public.execution_stats
with (security_invoker = true)
as
  select created_by, workflow_id, status, executions, durations_counted, duration_ms_sum
    from public.execution_stats_rollup
   where executions <> 0;

-- Duration histogram per owner and workflow, with each bin's representative value.
create view public.execution_duration_histogram
with (security_invoker = true)
as
  select created_by, workflow_id, bin, public.execution_duration_bin_value(bin) as duration_ms, executions
    from public.execution_duration_bins
   where executions <> 0;

-- Duration histogram per owner (all their workflows).
create view public.execution_owner_duration_histogram
with (security_invoker = true)
as
  select created_by, bin, public.execution_duration_bin_value(bin) as duration_ms, executions
    from public.execution_owner_duration_bins
   where executions <> 0;

-- Per-execution stats source for time-filtered stats: the columns the covering indexes hold.
create view public.execution_stats_source
with (security_invoker = true)
as
  select created_by, workflow_id, status, started_at, duration_ms
    from public.workflow_executions;

grant select on public.execution_stats, public.execution_duration_histogram,
  public.execution_owner_duration_histogram, public.execution_stats_source
  to authenticated, service_role;

-- -------------------------------------------------------------------------------------
-- The dashboard summary: one row for the caller's scope (RLS), one workflow or all, any
-- time range. Reads the views above; never returns rows of other users.
-- -------------------------------------------------------------------------------------
create or replace function public.execution_stats_summary(
  p_workflow_id uuid default null,
  p_started_after timestamptz default null,
  p_started_before timestamptz default null
)
returns table (
  total bigint,
  pending bigint,
  running bigint,
  completed bigint,
  failed bigint,
  cancelled bigint,
  timed_out bigint,
  success_rate double precision,
  avg_duration_ms double precision,
  p50_duration_ms double precision,
  p95_duration_ms double precision
)
language plpgsql
stable
security invoker
set search_path = ''
-- Plan each call with its arguments: a cached generic plan cannot fold `p is null or col = p`
-- away and would scan instead of using the indexes.
set plan_cache_mode = force_custom_plan
as $$
begin
  if p_started_after is null and p_started_before is null then
    return query
    with counts as (
      select s.status, sum(s.executions)::bigint as n,
             sum(s.durations_counted)::bigint as timed, sum(s.duration_ms_sum) as ms
        from public.execution_stats s
       where p_workflow_id is null or s.workflow_id = p_workflow_id
       group by s.status
    ),
    grouped_bins as (
      select h.bin, sum(h.executions) as n
        from public.execution_duration_histogram h
       where p_workflow_id is not null and h.workflow_id = p_workflow_id
       group by h.bin
      union all
      select h.bin, sum(h.executions) as n
        from public.execution_owner_duration_histogram h
       where p_workflow_id is null
       group by h.bin
    ),
    bins as (
      select g.bin, public.execution_duration_bin_value(g.bin) as value, g.n from grouped_bins g
    ),
    ranked as (
      select value, sum(n) over (order by bin) as reached, sum(n) over () as all_n from bins
    )
    select
      coalesce(sum(c.n), 0)::bigint,
      coalesce(sum(c.n) filter (where c.status = 'pending'), 0)::bigint,
      coalesce(sum(c.n) filter (where c.status = 'running'), 0)::bigint,
      coalesce(sum(c.n) filter (where c.status = 'completed'), 0)::bigint,
      coalesce(sum(c.n) filter (where c.status = 'failed'), 0)::bigint,
      coalesce(sum(c.n) filter (where c.status = 'cancelled'), 0)::bigint,
      coalesce(sum(c.n) filter (where c.status = 'timed_out'), 0)::bigint,
      (sum(c.n) filter (where c.status = 'completed'))::double precision
        / nullif(sum(c.n) filter (where c.status in ('completed', 'failed', 'cancelled', 'timed_out')), 0),
      (sum(c.ms) / nullif(sum(c.timed), 0))::double precision,
      (select min(r.value) from ranked r where r.reached >= ceil(0.50 * r.all_n)),
      (select min(r.value) from ranked r where r.reached >= ceil(0.95 * r.all_n))
    from counts c;
  else
    return query
    select
      count(*)::bigint,
      count(*) filter (where e.status = 'pending')::bigint,
      count(*) filter (where e.status = 'running')::bigint,
      count(*) filter (where e.status = 'completed')::bigint,
      count(*) filter (where e.status = 'failed')::bigint,
      count(*) filter (where e.status = 'cancelled')::bigint,
      count(*) filter (where e.status = 'timed_out')::bigint,
      (count(*) filter (where e.status = 'completed'))::double precision
        / nullif(count(*) filter (where e.status in ('completed', 'failed', 'cancelled', 'timed_out')), 0),
      avg(e.duration_ms)::double precision,
      (percentile_disc(0.50) within group (order by e.duration_ms))::double precision,
      (percentile_disc(0.95) within group (order by e.duration_ms))::double precision
    from public.execution_stats_source e
    where (p_workflow_id is null or e.workflow_id = p_workflow_id)
      and (p_started_after is null or e.started_at >= p_started_after)
      and (p_started_before is null or e.started_at < p_started_before);
  end if;
end
$$;

revoke all on function public.execution_stats_summary(uuid, timestamptz, timestamptz) from public, anon;
grant execute on function public.execution_stats_summary(uuid, timestamptz, timestamptz) to authenticated, service_role;
grant execute on function public.execution_duration_bin(bigint), public.execution_duration_bin_value(smallint)
  to authenticated, service_role;

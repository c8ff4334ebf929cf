-- =====================================================================================
-- The stats reads and the fold, made cheaper (issue 11, "Fast at ten million executions";
-- follows 20261202000200_execution_stat_deltas.sql, which defines the tables, the triggers and
-- the meaning of every number; this migration changes how they are computed, never what).
--
--   fold   the claimed batch is aggregated ONCE, by (owner, workflow, status, UTC hour,
--          duration bin), and every rollup (all-time, per owner, hourly, and the five period
--          scopes) is summed from those few rows instead of from every delta five times over.
-- =====================================================================================

create or replace function private.fold_execution_stat_deltas(p_limit integer default 10000) returns integer
language plpgsql
security definer
set search_path = ''
as $$
declare
  folded integer;
begin
  if p_limit is null or p_limit < 1 then
    raise exception 'p_limit must be a positive number of deltas, not %', coalesce(p_limit::text, 'null') using errcode = '22023';
  end if;

  with claimed as (
    delete from public.execution_stat_deltas d
     where d.ctid = any (array(select s.ctid from public.execution_stat_deltas s limit p_limit for update skip locked))
    returning d.created_by, d.workflow_id, d.started_at, d.status, d.duration_ms, d.sign, d.pruned
  ),
  -- The batch, aggregated once: counted is the change to every count, timed to the timed
  -- counts, ms to the duration sums; pruned counts deleted runs the rollups keep (see
  -- 20261202000200's banner). bin is null for runs without a duration.
  c as materialized (
    select created_by, workflow_id, status::public.execution_status as status,
           date_trunc('hour', started_at, 'UTC') as hour,
           public.execution_duration_bin(duration_ms) as bin,
           sum(case when pruned then 0 else sign end)::bigint as counted,
           sum(case when pruned or duration_ms is null then 0 else sign end)::bigint as timed,
           sum(case when pruned then 0 else sign * coalesce(duration_ms, 0) end)::numeric as ms,
           count(*) filter (where pruned)::bigint as pruned,
           count(*)::integer as deltas
      from claimed
     group by 1, 2, 3, 4, 5
  ),
  all_time as (
    insert into public.execution_stats_rollup as r (created_by, workflow_id, status, executions, durations_counted, duration_ms_sum, pruned, pruned_before)
    select created_by, workflow_id, status, sum(counted), sum(timed), sum(ms), sum(pruned),
           max(hour + interval '1 hour') filter (where pruned > 0)
      from c group by 1, 2, 3
    having sum(counted) <> 0 or sum(timed) <> 0 or sum(ms) <> 0 or sum(pruned) <> 0
     order by 1, 2, 3
    on conflict (created_by, workflow_id, status) do update
       set executions = r.executions + excluded.executions, durations_counted = r.durations_counted + excluded.durations_counted,
           duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum, pruned = r.pruned + excluded.pruned,
           pruned_before = greatest(r.pruned_before, excluded.pruned_before)
  ),
  bins as (
    insert into public.execution_duration_bins as b (created_by, workflow_id, bin, executions)
    select created_by, workflow_id, bin, sum(counted)
      from c where bin is not null group by 1, 2, 3 having sum(counted) <> 0 order by 1, 2, 3
    on conflict (created_by, workflow_id, bin) do update set executions = b.executions + excluded.executions
  ),
  owner_bins as (
    insert into public.execution_owner_duration_bins as b (created_by, bin, executions)
    select created_by, bin, sum(counted)
      from c where bin is not null group by 1, 2 having sum(counted) <> 0 order by 1, 2
    on conflict (created_by, bin) do update set executions = b.executions + excluded.executions
  ),
  hourly as (
    insert into public.execution_hourly_stats_rollup as r (created_by, hour, workflow_id, status, executions, durations_counted, duration_ms_sum, pruned)
    select created_by, hour, workflow_id, status, sum(counted), sum(timed), sum(ms), sum(pruned)
      from c group by 1, 2, 3, 4
    having sum(counted) <> 0 or sum(timed) <> 0 or sum(ms) <> 0 or sum(pruned) <> 0
     order by 1, 2, 3, 4
    on conflict (created_by, hour, workflow_id, status) do update
       set executions = r.executions + excluded.executions, durations_counted = r.durations_counted + excluded.durations_counted,
           duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum, pruned = r.pruned + excluded.pruned
  ),
  hourly_bins as (
    insert into public.execution_hourly_duration_bins as b (created_by, hour, workflow_id, bin, executions)
    select created_by, hour, workflow_id, bin, sum(counted)
      from c where bin is not null group by 1, 2, 3, 4 having sum(counted) <> 0 order by 1, 2, 3, 4
    on conflict (created_by, hour, workflow_id, bin) do update set executions = b.executions + excluded.executions
  ),
  -- Each aggregated row in each scope of execution_period_stats (20261202000200's banner).
  scoped as materialized (
    select g.created_by, g.workflow_id, g.period, g.period_start, c.status, c.bin, c.counted, c.timed, c.ms, c.pruned
      from c
     cross join lateral (values
       (c.created_by, '00000000-0000-0000-0000-000000000000'::uuid, 'hour', c.hour),
       (c.created_by, '00000000-0000-0000-0000-000000000000'::uuid, 'day', date_trunc('day', c.hour, 'UTC')),
       (c.created_by, c.workflow_id, 'day', date_trunc('day', c.hour, 'UTC')),
       ('00000000-0000-0000-0000-000000000000'::uuid, '00000000-0000-0000-0000-000000000000'::uuid, 'hour', c.hour),
       ('00000000-0000-0000-0000-000000000000'::uuid, '00000000-0000-0000-0000-000000000000'::uuid, 'day', date_trunc('day', c.hour, 'UTC'))
     ) g (created_by, workflow_id, period, period_start)
  ),
  period as (
    insert into public.execution_period_stats as r (created_by, workflow_id, period, period_start, status, executions, durations_counted, duration_ms_sum, pruned)
    select created_by, workflow_id, period, period_start, status, sum(counted), sum(timed), sum(ms), sum(pruned)
      from scoped group by 1, 2, 3, 4, 5
    having sum(counted) <> 0 or sum(timed) <> 0 or sum(ms) <> 0 or sum(pruned) <> 0
     order by 1, 2, 3, 4, 5
    on conflict (created_by, workflow_id, period, period_start, status) do update
       set executions = r.executions + excluded.executions, durations_counted = r.durations_counted + excluded.durations_counted,
           duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum, pruned = r.pruned + excluded.pruned
  ),
  period_bins as (
    insert into public.execution_period_duration_bins as b (created_by, workflow_id, period, period_start, bin, executions)
    select created_by, workflow_id, period, period_start, bin, sum(counted)
      from scoped where bin is not null group by 1, 2, 3, 4, 5 having sum(counted) <> 0 order by 1, 2, 3, 4, 5
    on conflict (created_by, workflow_id, period, period_start, bin) do update set executions = b.executions + excluded.executions
  )
  select coalesce(sum(deltas), 0)::integer into folded from c;
  return folded;
end
$$;

comment on function private.fold_execution_stat_deltas(integer) is
  'Folds up to p_limit unfolded stat deltas into every rollup in one transaction (claimed with skip locked, aggregated once); returns how many. Run it until it returns less than p_limit to fold everything.';

revoke all on function private.fold_execution_stat_deltas(integer) from public, anon, authenticated;

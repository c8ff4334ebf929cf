-- =====================================================================================
-- The stats reads and the fold, made cheaper (issue 11, "Fast at ten million executions";
-- follows 20261202000200_execution_stat_deltas.sql, which defines the tables, the triggers and
-- the meaning of every number; this migration changes how they are computed, never what).
--
--   fold   the claimed batch is aggregated ONCE, by (owner, workflow, status, UTC hour,
--          duration bin), and every rollup (all-time, per owner, hourly, and the five period
--          scopes) is summed from those few rows instead of from every delta five times over.
--   reads  execution_stats_buckets (and so the series, the ranged summary and overview) reads
--          a partial edge day that holds more of the range's whole hours than not as its daily
--          rows minus the hourly rows of the hours outside the range: a range ending now reads
--          today's day row (no hours after now exist), not up to 23 hours of bins. Same answers
--          (the day rows are the sums of their hours; both are folded in one transaction);
--          pruned_before of such a day is the day's end (a true bound, coarser than the hour's).
--          Percentiles: one running sum over the bins of each bucket (the bucket's total is
--          its timed count, which counts the same runs), not two windows. A source row's bucket
--          is date_bin(step, t, first_bucket) (the first bucket is a UTC hour or day: the same
--          buckets), plain arithmetic instead of a time zone conversion per row.
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

-- -------------------------------------------------------------------------------------
-- The ranged read (replaces 20261202000200's; same name, arguments and columns).
-- -------------------------------------------------------------------------------------
create or replace function public.execution_stats_buckets(
  p_bucket text,
  p_started_after timestamptz default null,
  p_started_before timestamptz default null,
  p_workflow_id uuid default null
)
returns table (
  bucket_start timestamptz,
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
  p95_duration_ms double precision,
  pruned_executions bigint,
  pruned_before timestamptz
)
language plpgsql
stable
security invoker
set search_path = ''
-- One plan per session, not one per call: planning this statement costs more than running it
-- (measured: ~3x). Every branch is written so that its generic plan uses its index (no
-- `p is null or col = p`): the scope and the bucket are one-time filters over parameters, so
-- the branches of the other scopes never run.
set plan_cache_mode = force_generic_plan
as $$
declare
  nil constant uuid := '00000000-0000-0000-0000-000000000000';
  step interval;
  v_after timestamptz := p_started_after;
  v_before timestamptz := p_started_before;
  first_bucket timestamptz;
  buckets bigint;
  -- The one bucket of 'all' (a key that is never null, so buckets join with =).
  v_key timestamptz;
  -- The range's whole UTC hours [whole_from, whole_to), and inside them the whole days
  -- [day_from, day_to) read from the daily rollups (empty for hourly buckets).
  whole_from timestamptz;
  whole_to timestamptz;
  day_from timestamptz;
  day_to timestamptz;
  -- What is read for the whole hours (20261202000300): the daily rows of [days_from, days_to),
  -- plus the hourly rows of [hours1_*) and [hours2_*), minus the hourly rows of [minus1_*) and
  -- [minus2_*). A partial edge day holding more of the range's hours than not is read as its
  -- day minus the hours outside the range (e.g. today minus the hours still to come: nothing).
  days_from timestamptz;
  days_to timestamptz;
  hours1_from timestamptz;
  hours1_to timestamptz;
  hours2_from timestamptz;
  hours2_to timestamptz;
  minus1_from timestamptz := 'infinity';
  minus1_to timestamptz := 'infinity';
  minus2_from timestamptz := 'infinity';
  minus2_to timestamptz := 'infinity';
  -- 'workflow', 'owner' (the caller's own), 'everyone' or 'none'; the execution_period_* owner
  -- of the owner and everyone scopes (their workflow_id is the nil literal in the SQL below, not
  -- a variable: the generic plan then knows it and reads the primary key, not the workflow index).
  v_scope text;
  v_owner uuid;
  v_workflow uuid;
  edge1_from timestamptz;
  edge1_to timestamptz;
  edge2_from timestamptz;
  edge2_to timestamptz;
begin
  if p_bucket = 'hour' then
    step := interval '1 hour';
  elsif p_bucket = 'day' then
    step := interval '24 hours'; -- not '1 day': that is a calendar day in the session's TimeZone
  elsif p_bucket is distinct from 'all' then
    raise exception 'bucket must be hour or day, not %', coalesce(p_bucket, 'null') using errcode = '22023';
  end if;

  if p_bucket <> 'all' then
    v_before := coalesce(v_before, now());
    v_after := coalesce(v_after, date_trunc(p_bucket, v_before - interval '1 microsecond', 'UTC') - step * (case p_bucket when 'hour' then 23 else 29 end));
    if v_after >= v_before then
      raise exception 'started_after must be before started_before' using errcode = '22023';
    end if;
    first_bucket := date_trunc(p_bucket, v_after, 'UTC');
    buckets := ceil(extract(epoch from (v_before - first_bucket)) / extract(epoch from step))::bigint;
    if buckets > 1000 then
      raise exception 'at most 1000 buckets, the range holds %', buckets using errcode = '22023';
    end if;
  end if;

  v_key := coalesce(v_after, '-infinity');
  whole_from := date_trunc('hour', v_after, 'UTC');
  if whole_from < v_after then whole_from := whole_from + interval '1 hour'; end if;
  whole_to := date_trunc('hour', v_before, 'UTC');
  whole_from := coalesce(whole_from, '-infinity');
  whole_to := coalesce(whole_to, 'infinity');
  if whole_from >= whole_to then
    -- No whole hour inside: the rows alone ([v_after, v_before) as the first edge, no second).
    whole_from := coalesce(v_before, 'infinity');
    whole_to := whole_from;
  end if;
  day_from := date_trunc('day', whole_from, 'UTC');
  if day_from < whole_from then day_from := day_from + interval '24 hours'; end if;
  day_to := date_trunc('day', whole_to, 'UTC');
  if p_bucket = 'hour' or day_from >= day_to then
    day_from := whole_to;
    day_to := whole_to;
  end if;
  days_from := day_from;
  days_to := day_to;
  hours1_from := whole_from;
  hours1_to := day_from;
  hours2_from := day_to;
  hours2_to := whole_to;
  if day_from < day_to then
    if whole_from < day_from and isfinite(whole_from)
       and day_from - whole_from >= whole_from - (day_from - interval '24 hours') then
      days_from := day_from - interval '24 hours';
      hours1_to := hours1_from;
      minus1_from := days_from;
      minus1_to := whole_from;
    end if;
    if day_to < whole_to and isfinite(whole_to)
       and whole_to - day_to >= (day_to + interval '24 hours') - whole_to then
      days_to := day_to + interval '24 hours';
      hours2_from := hours2_to;
      minus2_from := whole_to;
      minus2_to := days_to;
    end if;
  end if;

  if p_workflow_id is not null then
    -- (The nil id names no workflow: it is the key of the owner-wide rows.)
    v_scope := case when p_workflow_id = nil then 'none' else 'workflow' end;
  elsif (select r.rolbypassrls or r.rolsuper from pg_catalog.pg_roles r where r.rolname = current_user) then
    v_scope := 'everyone';
    v_owner := nil;
    v_workflow := nil;
  else
    v_scope := 'owner';
    v_owner := coalesce(auth.uid(), nil);
    v_workflow := nil;
  end if;

  -- The edges: [v_after, whole_from) and [whole_to, v_before) (null bounds: empty).
  edge1_from := coalesce(v_after, 'infinity');
  edge1_to := coalesce(least(whole_from, coalesce(v_before, whole_from)), '-infinity');
  edge2_from := coalesce(greatest(whole_to, v_after), whole_to);
  edge2_to := coalesce(v_before, '-infinity');

  return query
  with
  -- [v_after, whole_from) and [whole_to, v_before) (null bounds: none): one index range each,
  -- through the workflow's index or (RLS: the caller's own; the service role: everyone's) the
  -- owner's or the time index.
  edge_rows as materialized (
    select e.started_at, e.status, e.duration_ms
      from public.workflow_executions e
     where e.workflow_id = p_workflow_id and e.started_at >= edge1_from and e.started_at < edge1_to
       and v_scope = 'workflow'
    union all
    select e.started_at, e.status, e.duration_ms
      from public.workflow_executions e
     where e.workflow_id = p_workflow_id and e.started_at >= edge2_from and e.started_at < edge2_to
       and v_scope = 'workflow'
    union all
    select e.started_at, e.status, e.duration_ms
      from public.workflow_executions e
     where e.started_at >= edge1_from and e.started_at < edge1_to
       and v_scope in ('owner', 'everyone')
    union all
    select e.started_at, e.status, e.duration_ms
      from public.workflow_executions e
     where e.started_at >= edge2_from and e.started_at < edge2_to
       and v_scope in ('owner', 'everyone')
  ),
  -- The unfolded deltas of the whole hours (the edges read the rows, which hold them already).
  deltas as materialized (
    select d.started_at, d.status, d.duration_ms, d.sign, d.pruned
      from public.execution_stat_deltas d
     where d.started_at >= whole_from and d.started_at < whole_to
       and (v_scope in ('owner', 'everyone') or d.workflow_id = p_workflow_id)
  ),
  -- (time, status, count, timed, ms, pruned, pruned_before) from every source.
  sources as (
    select r.period_start as t, r.status::text as status, r.executions as n, r.durations_counted as timed, r.duration_ms_sum as ms,
           r.pruned, case when r.pruned <> 0 then r.period_start + interval '1 hour' end as pruned_to
      from public.execution_period_stats r
     where r.created_by = v_owner and r.workflow_id = '00000000-0000-0000-0000-000000000000'::uuid and r.period = 'hour'
       and (r.period_start >= hours1_from and r.period_start < hours1_to or r.period_start >= hours2_from and r.period_start < hours2_to)
       and v_scope in ('owner', 'everyone')
    union all
    select r.hour, r.status::text, r.executions, r.durations_counted, r.duration_ms_sum,
           r.pruned, case when r.pruned <> 0 then r.hour + interval '1 hour' end
      from public.execution_hourly_stats_rollup r
     where r.workflow_id = p_workflow_id
       and (r.hour >= hours1_from and r.hour < hours1_to or r.hour >= hours2_from and r.hour < hours2_to)
       and v_scope = 'workflow'
    union all
    -- The hours of a day read whole that lie outside the range, subtracted (no pruned_before:
    -- the day's own bound stands, still true, only coarser).
    select r.period_start, r.status::text, -r.executions, -r.durations_counted, -r.duration_ms_sum, -r.pruned, null
      from public.execution_period_stats r
     where r.created_by = v_owner and r.workflow_id = '00000000-0000-0000-0000-000000000000'::uuid and r.period = 'hour'
       and (r.period_start >= minus1_from and r.period_start < minus1_to or r.period_start >= minus2_from and r.period_start < minus2_to)
       and v_scope in ('owner', 'everyone')
    union all
    select r.hour, r.status::text, -r.executions, -r.durations_counted, -r.duration_ms_sum, -r.pruned, null
      from public.execution_hourly_stats_rollup r
     where r.workflow_id = p_workflow_id
       and (r.hour >= minus1_from and r.hour < minus1_to or r.hour >= minus2_from and r.hour < minus2_to)
       and v_scope = 'workflow'
    union all
    select r.period_start, r.status::text, r.executions, r.durations_counted, r.duration_ms_sum,
           r.pruned, case when r.pruned <> 0 then r.period_start + interval '24 hours' end
      from public.execution_period_stats r
     where r.created_by = v_owner and r.workflow_id = '00000000-0000-0000-0000-000000000000'::uuid and r.period = 'day'
       and r.period_start >= days_from and r.period_start < days_to
       and v_scope in ('owner', 'everyone')
    union all
    select r.period_start, r.status::text, r.executions, r.durations_counted, r.duration_ms_sum,
           r.pruned, case when r.pruned <> 0 then r.period_start + interval '24 hours' end
      from public.execution_period_stats r
     where r.workflow_id = p_workflow_id and r.period = 'day'
       and r.period_start >= days_from and r.period_start < days_to
       and v_scope = 'workflow'
    union all
    select d.started_at, d.status,
           case when d.pruned then 0 else d.sign end,
           case when d.pruned or d.duration_ms is null then 0 else d.sign end,
           case when d.pruned then 0 else d.sign * coalesce(d.duration_ms, 0) end::numeric,
           case when d.pruned then 1 else 0 end,
           case when d.pruned then date_trunc('hour', d.started_at, 'UTC') + interval '1 hour' end
      from deltas d
    union all
    select e.started_at, e.status::text, 1, case when e.duration_ms is null then 0 else 1 end, coalesce(e.duration_ms, 0)::numeric, 0, null
      from edge_rows e
  ),
  counts as (
    select case p_bucket when 'all' then v_key else date_bin(step, x.t, first_bucket) end as b,
           x.status, sum(x.n) as n, sum(x.timed) as timed, sum(x.ms) as ms, sum(x.pruned) as pruned, max(x.pruned_to) as pruned_to
      from sources x
     group by 1, 2
  ),
  per_bucket as (
    select c.b,
           sum(c.n)::bigint as total,
           coalesce(sum(c.n) filter (where c.status = 'pending'), 0)::bigint as pending,
           coalesce(sum(c.n) filter (where c.status = 'running'), 0)::bigint as running,
           coalesce(sum(c.n) filter (where c.status = 'completed'), 0)::bigint as completed,
           coalesce(sum(c.n) filter (where c.status = 'failed'), 0)::bigint as failed,
           coalesce(sum(c.n) filter (where c.status = 'cancelled'), 0)::bigint as cancelled,
           coalesce(sum(c.n) filter (where c.status = 'timed_out'), 0)::bigint as timed_out,
           sum(c.timed)::bigint as timed,
           sum(c.ms) as ms,
           sum(c.pruned)::bigint as pruned,
           -- (A bucket whose pruned runs all lie in subtracted hours has none to bound.)
           case when sum(c.pruned) > 0 then max(c.pruned_to) end as pruned_to
      from counts c
     group by c.b
  ),
  bin_sources as (
    select h.period_start as t, h.bin, h.executions as n
      from public.execution_period_duration_bins h
     where h.created_by = v_owner and h.workflow_id = '00000000-0000-0000-0000-000000000000'::uuid and h.period = 'hour'
       and (h.period_start >= hours1_from and h.period_start < hours1_to or h.period_start >= hours2_from and h.period_start < hours2_to)
       and v_scope in ('owner', 'everyone')
    union all
    select h.hour, h.bin, h.executions
      from public.execution_hourly_duration_bins h
     where h.workflow_id = p_workflow_id
       and (h.hour >= hours1_from and h.hour < hours1_to or h.hour >= hours2_from and h.hour < hours2_to)
       and v_scope = 'workflow'
    union all
    select h.period_start, h.bin, -h.executions
      from public.execution_period_duration_bins h
     where h.created_by = v_owner and h.workflow_id = '00000000-0000-0000-0000-000000000000'::uuid and h.period = 'hour'
       and (h.period_start >= minus1_from and h.period_start < minus1_to or h.period_start >= minus2_from and h.period_start < minus2_to)
       and v_scope in ('owner', 'everyone')
    union all
    select h.hour, h.bin, -h.executions
      from public.execution_hourly_duration_bins h
     where h.workflow_id = p_workflow_id
       and (h.hour >= minus1_from and h.hour < minus1_to or h.hour >= minus2_from and h.hour < minus2_to)
       and v_scope = 'workflow'
    union all
    select h.period_start, h.bin, h.executions
      from public.execution_period_duration_bins h
     where h.created_by = v_owner and h.workflow_id = '00000000-0000-0000-0000-000000000000'::uuid and h.period = 'day'
       and h.period_start >= days_from and h.period_start < days_to
       and v_scope in ('owner', 'everyone')
    union all
    select h.period_start, h.bin, h.executions
      from public.execution_period_duration_bins h
     where h.workflow_id = p_workflow_id and h.period = 'day'
       and h.period_start >= days_from and h.period_start < days_to
       and v_scope = 'workflow'
    union all
    select d.started_at, public.execution_duration_bin(d.duration_ms), d.sign
      from deltas d
     where not d.pruned and d.duration_ms is not null
    union all
    select e.started_at, public.execution_duration_bin(e.duration_ms), 1
      from edge_rows e
     where e.duration_ms is not null
  ),
  bins as (
    select case p_bucket when 'all' then v_key else date_bin(step, x.t, first_bucket) end as b, x.bin, sum(x.n) as n
      from bin_sources x
     group by 1, 2
    having sum(x.n) <> 0
  ),
  -- One running sum per bucket (a rows frame: (b, bin) is unique, no peers to look for); the
  -- bucket's number of timed runs is per_bucket.timed, which counts the same runs as its bins,
  -- so no second window for the total.
  ranked as (
    select r.b, r.bin,
           sum(r.n) over (partition by r.b order by r.bin rows between unbounded preceding and current row) as reached
      from bins r
  ),
  percentiles as (
    select r.b,
           min(r.bin) filter (where r.reached >= ceil(0.50 * p.timed)) as bin50,
           min(r.bin) filter (where r.reached >= ceil(0.95 * p.timed)) as bin95
      from ranked r
      join per_bucket p on p.b = r.b
     where p.timed > 0
     group by r.b
  ),
  slots as (
    select g as b from generate_series(first_bucket, v_before - interval '1 microsecond', step) g where p_bucket <> 'all'
    union all
    select v_key where p_bucket = 'all'
  )
  select s.b,
         coalesce(p.total, 0), coalesce(p.pending, 0), coalesce(p.running, 0), coalesce(p.completed, 0),
         coalesce(p.failed, 0), coalesce(p.cancelled, 0), coalesce(p.timed_out, 0),
         p.completed::double precision / nullif(p.completed + p.failed + p.cancelled + p.timed_out, 0),
         (p.ms / nullif(p.timed, 0))::double precision,
         public.execution_duration_bin_value(q.bin50::smallint),
         public.execution_duration_bin_value(q.bin95::smallint),
         coalesce(p.pruned, 0),
         p.pruned_to
    from slots s
    left join per_bucket p on p.b = s.b
    left join percentiles q on q.b = s.b
   order by s.b;
end
$$;

comment on function public.execution_stats_buckets(text, timestamptz, timestamptz, uuid) is
  'execution_stats_series plus, per bucket, the pruned runs it counts (pruned_executions) and the end of the latest hour or day holding one (pruned_before).';

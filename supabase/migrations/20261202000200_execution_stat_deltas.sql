-- =====================================================================================
-- Exact statistics with cheap writes: stat deltas, folded in the background (issue 11, "The
-- write cost of exact statistics", "Time-series statistics", "Retention that keeps history";
-- docs/architecture.md §5.2).
--
-- Until now one statement-level trigger folded every write into five rollups in the same
-- statement: exact, but a create cost about 6-7x a plain insert (hot rollup rows, five upserts
-- per statement). Now:
--
--   write    the statement triggers append one signed row per changed execution to
--            public.execution_stat_deltas (+1 the new state, -1 the old one; an update that
--            changes neither status nor duration appends nothing). The table has no index, no
--            key, no foreign key: an append is one heap insert.
--   fold     private.fold_execution_stat_deltas(p_limit) claims a batch (for update skip
--            locked, so concurrent folds take disjoint batches and never wait on each other's
--            claims), deletes it and adds it to every rollup in ONE statement (one
--            transaction: a delta is either still in the table or in the rollups, never both,
--            never neither). Every upsert takes its rollup rows in key order, so concurrent
--            folds cannot deadlock. Scheduled by pg_cron where it is loaded (every 5 seconds
--            with pg_cron >= 1.5, every minute before that), by the dev server on an interval
--            (local/plugins/stats-fold.ts), by the sweeper at its start, and called by tests
--            and the bench (shared/repository/stats.ts foldStatDeltas).
--   read     every read (the execution_stats views, execution_stats_summary,
--            execution_stats_series, execution_stats_overview, execution_stats_buckets) adds
--            the not-yet-folded deltas to the rollups in the same statement, i.e. under one
--            snapshot: a fold commits the deletion and the addition together, so a read sees
--            the delta on one side exactly once. Reads are exact whatever the fold's lag; the
--            lag's price is a scan of the unfolded deltas (the bench reports it at 10k).
--
-- Rollups (only the fold writes them, so hot rows cost writers nothing any more):
--   execution_stats_rollup, execution_duration_bins, execution_owner_duration_bins   all-time
--   execution_hourly_stats_rollup, execution_hourly_duration_bins   per owner, workflow, UTC hour
--   execution_period_stats, execution_period_duration_bins (new)    per period ('hour' | 'day',
--       UTC; a day is 24 hours) and scope, keyed (created_by, workflow_id, period, period_start):
--         owner per hour and per day     (owner, nil, ...)
--         workflow per day               (owner, workflow, 'day', ...)
--         everyone per hour and per day  (nil, nil, ...), read by the service role only
--       where nil = 00000000-0000-0000-0000-000000000000 (no user has it: RLS shows a user only
--       created_by = auth.uid()).
-- A range [after, before) is read as: the partial edge hours from the executions (rows, through
-- the covering indexes), the whole hours up to the first and after the last whole UTC day from
-- the hourly rollups, the whole days from the daily ones (hourly buckets read hours only).
--
-- History (retention): a DELETE in a transaction with execution_tracker.prune = 'on'
-- (set_config(..., true), the sweeper's retention step) of a terminal execution appends a
-- delta marked `pruned`: the fold does not subtract it from any rollup (the run stays counted
-- in every all-time and time-series number) but adds it to the `pruned` counters of the
-- all-time and hourly/daily rollups. The flag is honoured only when neither the session nor the
-- current role (`set role`) is authenticated or anon: a user cannot keep deleted runs in
-- stats (their own or anyone's); for them a delete always subtracts. The answers say which
-- numbers include pruned runs (execution_stats_overview / _buckets: pruned_executions,
-- pruned_before; the API's `history`). Runs in a range's partial edge hours are read from the
-- rows, so pruned ones there are neither counted nor reported.
-- private.rebuild_execution_rollups() recounts from the executions: it drops that history.
-- =====================================================================================

-- -------------------------------------------------------------------------------------
-- The deltas
-- -------------------------------------------------------------------------------------
create table public.execution_stat_deltas (
  created_by uuid not null,
  workflow_id uuid not null,
  started_at timestamptz not null,
  -- Text, not the domain: the value comes from a row that passed the domain's check.
  status text not null,
  duration_ms bigint,
  sign smallint not null,
  -- A retention delete (see the banner): kept in the rollups, counted as pruned.
  pruned boolean not null default false
) with (
  -- Appended and deleted all day: vacuum by row count, not by a share of a table that stays
  -- small, so the fold's scan does not wade through dead rows.
  autovacuum_vacuum_scale_factor = 0,
  autovacuum_vacuum_threshold = 5000,
  autovacuum_vacuum_insert_scale_factor = 0,
  autovacuum_vacuum_insert_threshold = 5000
);

comment on table public.execution_stat_deltas is
  'Signed changes of workflow_executions not yet folded into the stats rollups (private.fold_execution_stat_deltas). Appended by triggers; do not write.';

-- Whether a delete in this transaction is a retention prune (see the banner).
create or replace function private.prune_requested() returns boolean
language sql stable
set search_path = ''
as $$
  select coalesce(current_setting('execution_tracker.prune', true), '') = 'on'
     and current_setting('role') not in ('authenticated', 'anon')
     and session_user not in ('authenticated', 'anon')
$$;

-- One static statement per firing (plpgsql caches its plan per trigger).
create or replace function private.append_execution_stat_deltas() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
declare
  v_prune boolean;
begin
  if tg_op = 'INSERT' then
    insert into public.execution_stat_deltas (created_by, workflow_id, started_at, status, duration_ms, sign)
    select n.created_by, n.workflow_id, n.started_at, n.status, n.duration_ms, 1 from new_rows n;
  elsif tg_op = 'UPDATE' then
    -- started_at, owner and workflow never change (ET002): old and new differ only in status
    -- and duration, and rows where neither changed cancel out, so they append nothing.
    insert into public.execution_stat_deltas (created_by, workflow_id, started_at, status, duration_ms, sign)
    select o.created_by, o.workflow_id, o.started_at, x.status, x.duration_ms, x.sign
      from old_rows o
      join new_rows n on n.id = o.id
     cross join lateral (values (o.status::text, o.duration_ms, -1::smallint), (n.status::text, n.duration_ms, 1::smallint)) x (status, duration_ms, sign)
     where n.status is distinct from o.status or n.duration_ms is distinct from o.duration_ms;
  else
    v_prune := private.prune_requested();
    insert into public.execution_stat_deltas (created_by, workflow_id, started_at, status, duration_ms, sign, pruned)
    select o.created_by, o.workflow_id, o.started_at, o.status, o.duration_ms, -1,
           v_prune and public.execution_status_is_terminal(o.status)
      from old_rows o;
  end if;
  return null;
end
$$;

drop trigger fold_inserted_executions on public.workflow_executions;
drop trigger fold_updated_executions on public.workflow_executions;
drop trigger fold_deleted_executions on public.workflow_executions;
drop function private.fold_execution_changes();

create trigger append_inserted_stat_deltas
  after insert on public.workflow_executions
  referencing new table as new_rows
  for each statement execute function private.append_execution_stat_deltas();

-- (No column list: PostgreSQL allows none on a trigger with transition tables. An update that
-- changes neither status nor duration appends nothing.)
create trigger append_updated_stat_deltas
  after update on public.workflow_executions
  referencing old table as old_rows new table as new_rows
  for each statement execute function private.append_execution_stat_deltas();

create trigger append_deleted_stat_deltas
  after delete on public.workflow_executions
  referencing old table as old_rows
  for each statement execute function private.append_execution_stat_deltas();

-- -------------------------------------------------------------------------------------
-- The new rollups, and the pruned counters of the existing ones
-- -------------------------------------------------------------------------------------
create table public.execution_period_stats (
  created_by uuid not null,
  workflow_id uuid not null,
  period text not null check (period in ('hour', 'day')),
  period_start timestamptz not null,
  status public.execution_status not null,
  executions bigint not null default 0,
  durations_counted bigint not null default 0,
  duration_ms_sum numeric not null default 0,
  pruned bigint not null default 0,
  primary key (created_by, workflow_id, period, period_start, status)
);

create table public.execution_period_duration_bins (
  created_by uuid not null,
  workflow_id uuid not null,
  period text not null check (period in ('hour', 'day')),
  period_start timestamptz not null,
  bin smallint not null,
  executions bigint not null default 0,
  primary key (created_by, workflow_id, period, period_start, bin)
);

-- One workflow's days (its owner, or the service role, which does not know the owner).
create index idx_execution_period_stats_workflow on public.execution_period_stats (workflow_id, period, period_start);
create index idx_execution_period_duration_bins_workflow on public.execution_period_duration_bins (workflow_id, period, period_start);

comment on table public.execution_period_stats is
  'Counts per period (UTC hour or day of started_at) and scope: owner (workflow_id nil), owner+workflow (days), everyone (both nil). Written only by private.fold_execution_stat_deltas.';
comment on table public.execution_period_duration_bins is
  'Duration histogram (execution_duration_bin) per period and scope, as execution_period_stats. Written only by private.fold_execution_stat_deltas.';

-- Pruned runs (still counted in executions), and the end of the latest hour holding one.
alter table public.execution_stats_rollup
  add column pruned bigint not null default 0,
  add column pruned_before timestamptz;
alter table public.execution_hourly_stats_rollup
  add column pruned bigint not null default 0;

-- The executions that exist now, counted once into the new rollups (rebuild_execution_rollups,
-- defined below, recounts everything; run at the end of this migration).

-- -------------------------------------------------------------------------------------
-- The fold
-- -------------------------------------------------------------------------------------
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
  c as materialized (
    -- counted: the change to every count; pruned: a deleted run the rollups keep (see the banner).
    select created_by, workflow_id, status::public.execution_status as status, duration_ms,
           date_trunc('hour', started_at, 'UTC') as hour,
           case when pruned then 0 else sign end as counted,
           case when pruned then 1 else 0 end as pruned
      from claimed
  ),
  all_time as (
    insert into public.execution_stats_rollup as r (created_by, workflow_id, status, executions, durations_counted, duration_ms_sum, pruned, pruned_before)
    select created_by, workflow_id, status, sum(counted), sum(case when duration_ms is null then 0 else counted end),
           sum(counted * coalesce(duration_ms, 0)), sum(pruned), max(hour + interval '1 hour') filter (where pruned = 1)
      from c group by 1, 2, 3
    having sum(counted) <> 0 or sum(case when duration_ms is null then 0 else counted end) <> 0
        or sum(counted * coalesce(duration_ms, 0)) <> 0 or sum(pruned) <> 0
     order by 1, 2, 3
    on conflict (created_by, workflow_id, status) do update
       set executions = r.executions + excluded.executions, durations_counted = r.durations_counted + excluded.durations_counted,
           duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum, pruned = r.pruned + excluded.pruned,
           pruned_before = greatest(r.pruned_before, excluded.pruned_before)
  ),
  bins as (
    insert into public.execution_duration_bins as b (created_by, workflow_id, bin, executions)
    select created_by, workflow_id, public.execution_duration_bin(duration_ms), sum(counted)
      from c where duration_ms is not null group by 1, 2, 3 having sum(counted) <> 0 order by 1, 2, 3
    on conflict (created_by, workflow_id, bin) do update set executions = b.executions + excluded.executions
  ),
  owner_bins as (
    insert into public.execution_owner_duration_bins as b (created_by, bin, executions)
    select created_by, public.execution_duration_bin(duration_ms), sum(counted)
      from c where duration_ms is not null group by 1, 2 having sum(counted) <> 0 order by 1, 2
    on conflict (created_by, bin) do update set executions = b.executions + excluded.executions
  ),
  hourly as (
    insert into public.execution_hourly_stats_rollup as r (created_by, hour, workflow_id, status, executions, durations_counted, duration_ms_sum, pruned)
    select created_by, hour, workflow_id, status, sum(counted), sum(case when duration_ms is null then 0 else counted end),
           sum(counted * coalesce(duration_ms, 0)), sum(pruned)
      from c group by 1, 2, 3, 4
    having sum(counted) <> 0 or sum(case when duration_ms is null then 0 else counted end) <> 0
        or sum(counted * coalesce(duration_ms, 0)) <> 0 or sum(pruned) <> 0
     order by 1, 2, 3, 4
    on conflict (created_by, hour, workflow_id, status) do update
       set executions = r.executions + excluded.executions, durations_counted = r.durations_counted + excluded.durations_counted,
           duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum, pruned = r.pruned + excluded.pruned
  ),
  hourly_bins as (
    insert into public.execution_hourly_duration_bins as b (created_by, hour, workflow_id, bin, executions)
    select created_by, hour, workflow_id, public.execution_duration_bin(duration_ms), sum(counted)
      from c where duration_ms is not null group by 1, 2, 3, 4 having sum(counted) <> 0 order by 1, 2, 3, 4
    on conflict (created_by, hour, workflow_id, bin) do update set executions = b.executions + excluded.executions
  ),
  -- Each delta in each scope of execution_period_stats (see the banner).
  scoped as materialized (
    select g.created_by, g.workflow_id, g.period, g.period_start, c.status, c.duration_ms, c.counted, c.pruned
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
    select created_by, workflow_id, period, period_start, status, sum(counted), sum(case when duration_ms is null then 0 else counted end),
           sum(counted * coalesce(duration_ms, 0)), sum(pruned)
      from scoped group by 1, 2, 3, 4, 5
    having sum(counted) <> 0 or sum(case when duration_ms is null then 0 else counted end) <> 0
        or sum(counted * coalesce(duration_ms, 0)) <> 0 or sum(pruned) <> 0
     order by 1, 2, 3, 4, 5
    on conflict (created_by, workflow_id, period, period_start, status) do update
       set executions = r.executions + excluded.executions, durations_counted = r.durations_counted + excluded.durations_counted,
           duration_ms_sum = r.duration_ms_sum + excluded.duration_ms_sum, pruned = r.pruned + excluded.pruned
  ),
  period_bins as (
    insert into public.execution_period_duration_bins as b (created_by, workflow_id, period, period_start, bin, executions)
    select created_by, workflow_id, period, period_start, public.execution_duration_bin(duration_ms), sum(counted)
      from scoped where duration_ms is not null group by 1, 2, 3, 4, 5 having sum(counted) <> 0 order by 1, 2, 3, 4, 5
    on conflict (created_by, workflow_id, period, period_start, bin) do update set executions = b.executions + excluded.executions
  )
  select count(*) into folded from c;
  return folded;
end
$$;

comment on function private.fold_execution_stat_deltas(integer) is
  'Folds up to p_limit unfolded stat deltas into every rollup in one transaction (claimed with skip locked); returns how many. Run it until it returns less than p_limit to fold everything.';

-- TRUNCATE: empty the deltas and every rollup with it (replaces 20261201000500's).
create or replace function private.truncate_execution_rollups() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
  truncate public.execution_stat_deltas, public.execution_stats_rollup, public.execution_duration_bins,
    public.execution_owner_duration_bins, public.execution_hourly_stats_rollup, public.execution_hourly_duration_bins,
    public.execution_period_stats, public.execution_period_duration_bins;
  return null;
end
$$;

-- Repair tool (replaces 20261201000500's): every rollup recounted from the executions, the
-- deltas dropped (the rows already hold them). The pruned history is lost (see the banner).
create or replace function private.rebuild_execution_rollups() returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  lock table public.workflow_executions in share mode;
  lock table public.execution_stat_deltas in exclusive mode;
  truncate public.execution_stat_deltas, public.execution_stats_rollup, public.execution_duration_bins,
    public.execution_owner_duration_bins, public.execution_hourly_stats_rollup, public.execution_hourly_duration_bins,
    public.execution_period_stats, public.execution_period_duration_bins;
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
  insert into public.execution_hourly_stats_rollup (created_by, hour, workflow_id, status, executions, durations_counted, duration_ms_sum)
  select created_by, date_trunc('hour', started_at, 'UTC'), workflow_id, status, count(*), count(duration_ms), coalesce(sum(duration_ms), 0)
    from public.workflow_executions
   group by 1, 2, 3, 4;
  insert into public.execution_hourly_duration_bins (created_by, hour, workflow_id, bin, executions)
  select created_by, date_trunc('hour', started_at, 'UTC'), workflow_id, public.execution_duration_bin(duration_ms), count(*)
    from public.workflow_executions
   where duration_ms is not null
   group by 1, 2, 3, 4;
  -- The period rollups: from the hourly ones just built (fewer rows than the executions).
  insert into public.execution_period_stats (created_by, workflow_id, period, period_start, status, executions, durations_counted, duration_ms_sum)
  select g.created_by, g.workflow_id, g.period, g.period_start, h.status, sum(h.executions), sum(h.durations_counted), sum(h.duration_ms_sum)
    from public.execution_hourly_stats_rollup h
   cross join lateral (values
     (h.created_by, '00000000-0000-0000-0000-000000000000'::uuid, 'hour', h.hour),
     (h.created_by, '00000000-0000-0000-0000-000000000000'::uuid, 'day', date_trunc('day', h.hour, 'UTC')),
     (h.created_by, h.workflow_id, 'day', date_trunc('day', h.hour, 'UTC')),
     ('00000000-0000-0000-0000-000000000000'::uuid, '00000000-0000-0000-0000-000000000000'::uuid, 'hour', h.hour),
     ('00000000-0000-0000-0000-000000000000'::uuid, '00000000-0000-0000-0000-000000000000'::uuid, 'day', date_trunc('day', h.hour, 'UTC'))
   ) g (created_by, workflow_id, period, period_start)
   group by 1, 2, 3, 4, 5;
  insert into public.execution_period_duration_bins (created_by, workflow_id, period, period_start, bin, executions)
  select g.created_by, g.workflow_id, g.period, g.period_start, h.bin, sum(h.executions)
    from public.execution_hourly_duration_bins h
   cross join lateral (values
     (h.created_by, '00000000-0000-0000-0000-000000000000'::uuid, 'hour', h.hour),
     (h.created_by, '00000000-0000-0000-0000-000000000000'::uuid, 'day', date_trunc('day', h.hour, 'UTC')),
     (h.created_by, h.workflow_id, 'day', date_trunc('day', h.hour, 'UTC')),
     ('00000000-0000-0000-0000-000000000000'::uuid, '00000000-0000-0000-0000-000000000000'::uuid, 'hour', h.hour),
     ('00000000-0000-0000-0000-000000000000'::uuid, '00000000-0000-0000-0000-000000000000'::uuid, 'day', date_trunc('day', h.hour, 'UTC'))
   ) g (created_by, workflow_id, period, period_start)
   group by 1, 2, 3, 4, 5;
end
$$;

-- -------------------------------------------------------------------------------------
-- Schedule: the fold every few seconds where pg_cron is loaded (seconds need pg_cron 1.5).
-- -------------------------------------------------------------------------------------
create or replace function private.fold_all_execution_stat_deltas() returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  -- Bounded per run: a backlog is folded by the next runs.
  perform private.fold_execution_stat_deltas(50000);
end
$$;

do $$
declare
  v_version text;
begin
  if not exists (select from pg_available_extensions where name = 'pg_cron') then
    raise notice 'pg_cron is not installed: the stat deltas fold is not scheduled in this database';
    return;
  end if;
  begin
    create extension if not exists pg_cron;
  exception when others then
    raise notice 'pg_cron cannot be loaded (%): the stat deltas fold is not scheduled', sqlerrm;
    return;
  end;
  select extversion into v_version from pg_extension where extname = 'pg_cron';
  if string_to_array(split_part(v_version, '-', 1), '.')::int[] >= array[1, 5] then
    perform cron.schedule('execution-tracker-fold-stat-deltas', '5 seconds', 'select private.fold_all_execution_stat_deltas()');
  else
    raise notice 'pg_cron % has no seconds schedule: the stat deltas fold runs every minute', v_version;
    perform cron.schedule('execution-tracker-fold-stat-deltas', '* * * * *', 'select private.fold_all_execution_stat_deltas()');
  end if;
end
$$;

-- -------------------------------------------------------------------------------------
-- Access: read-only to users under RLS (their own rows), nothing for anon; the service role
-- reads everything. Only the security definer functions above write.
-- -------------------------------------------------------------------------------------
alter table public.execution_stat_deltas enable row level security;
alter table public.execution_period_stats enable row level security;
alter table public.execution_period_duration_bins enable row level security;

revoke all on public.execution_stat_deltas, public.execution_period_stats, public.execution_period_duration_bins
  from anon, authenticated, service_role;
grant select on public.execution_stat_deltas, public.execution_period_stats, public.execution_period_duration_bins
  to authenticated, service_role;

create policy "Users can read their own unfolded stat deltas"
  on public.execution_stat_deltas for select to authenticated
  using (created_by = (select auth.uid()));

create policy "Users can read their own counts per period"
  on public.execution_period_stats for select to authenticated
  using (created_by = (select auth.uid()));

create policy "Users can read their own duration histogram per period"
  on public.execution_period_duration_bins for select to authenticated
  using (created_by = (select auth.uid()));

revoke all on function private.prune_requested(), private.append_execution_stat_deltas(),
  private.fold_execution_stat_deltas(integer), private.fold_all_execution_stat_deltas()
  from public, anon, authenticated;

-- -------------------------------------------------------------------------------------
-- The all-time views (same names and columns): rollups + unfolded deltas, one statement.
-- -------------------------------------------------------------------------------------
create or replace view public.execution_stats
with (security_invoker = true)
as
  select x.created_by, x.workflow_id, x.status::public.execution_status as status,
         sum(x.executions)::bigint as executions, sum(x.durations_counted)::bigint as durations_counted,
         sum(x.duration_ms_sum) as duration_ms_sum
    from (
      select r.created_by, r.workflow_id, r.status::text as status, r.executions, r.durations_counted, r.duration_ms_sum
        from public.execution_stats_rollup r
      union all
      select d.created_by, d.workflow_id, d.status, d.sign, case when d.duration_ms is null then 0 else d.sign end,
             (d.sign * coalesce(d.duration_ms, 0))::numeric
        from public.execution_stat_deltas d
       where not d.pruned
    ) x
   group by x.created_by, x.workflow_id, x.status
  having sum(x.executions) <> 0;

create or replace view public.execution_duration_histogram
with (security_invoker = true)
as
  select x.created_by, x.workflow_id, x.bin, public.execution_duration_bin_value(x.bin) as duration_ms,
         sum(x.executions)::bigint as executions
    from (
      select b.created_by, b.workflow_id, b.bin, b.executions from public.execution_duration_bins b
      union all
      select d.created_by, d.workflow_id, public.execution_duration_bin(d.duration_ms), d.sign
        from public.execution_stat_deltas d
       where not d.pruned and d.duration_ms is not null
    ) x
   group by x.created_by, x.workflow_id, x.bin
  having sum(x.executions) <> 0;

create or replace view public.execution_owner_duration_histogram
with (security_invoker = true)
as
  select x.created_by, x.bin, public.execution_duration_bin_value(x.bin) as duration_ms,
         sum(x.executions)::bigint as executions
    from (
      select b.created_by, b.bin, b.executions from public.execution_owner_duration_bins b
      union all
      select d.created_by, public.execution_duration_bin(d.duration_ms), d.sign
        from public.execution_stat_deltas d
       where not d.pruned and d.duration_ms is not null
    ) x
   group by x.created_by, x.bin
  having sum(x.executions) <> 0;

-- -------------------------------------------------------------------------------------
-- Ranged reads. public.execution_stats_buckets is execution_stats_series with the history
-- columns (pruned_executions, pruned_before: the pruned runs counted in the bucket, and the
-- end of the latest hour or day holding one); execution_stats_series keeps its shape.
-- Scope: one workflow (p_workflow_id); else the caller's own executions (a user), or everyone
-- (a role that bypasses RLS: the service role), each read from the rollups of that scope.
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
       and (r.period_start >= whole_from and r.period_start < day_from or r.period_start >= day_to and r.period_start < whole_to)
       and v_scope in ('owner', 'everyone')
    union all
    select r.hour, r.status::text, r.executions, r.durations_counted, r.duration_ms_sum,
           r.pruned, case when r.pruned <> 0 then r.hour + interval '1 hour' end
      from public.execution_hourly_stats_rollup r
     where r.workflow_id = p_workflow_id
       and (r.hour >= whole_from and r.hour < day_from or r.hour >= day_to and r.hour < whole_to)
       and v_scope = 'workflow'
    union all
    select r.period_start, r.status::text, r.executions, r.durations_counted, r.duration_ms_sum,
           r.pruned, case when r.pruned <> 0 then r.period_start + interval '24 hours' end
      from public.execution_period_stats r
     where r.created_by = v_owner and r.workflow_id = '00000000-0000-0000-0000-000000000000'::uuid and r.period = 'day'
       and r.period_start >= day_from and r.period_start < day_to
       and v_scope in ('owner', 'everyone')
    union all
    select r.period_start, r.status::text, r.executions, r.durations_counted, r.duration_ms_sum,
           r.pruned, case when r.pruned <> 0 then r.period_start + interval '24 hours' end
      from public.execution_period_stats r
     where r.workflow_id = p_workflow_id and r.period = 'day'
       and r.period_start >= day_from and r.period_start < day_to
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
    select case p_bucket when 'all' then v_key else date_trunc(p_bucket, x.t, 'UTC') end as b,
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
           max(c.pruned_to) as pruned_to
      from counts c
     group by c.b
  ),
  bin_sources as (
    select h.period_start as t, h.bin, h.executions as n
      from public.execution_period_duration_bins h
     where h.created_by = v_owner and h.workflow_id = '00000000-0000-0000-0000-000000000000'::uuid and h.period = 'hour'
       and (h.period_start >= whole_from and h.period_start < day_from or h.period_start >= day_to and h.period_start < whole_to)
       and v_scope in ('owner', 'everyone')
    union all
    select h.hour, h.bin, h.executions
      from public.execution_hourly_duration_bins h
     where h.workflow_id = p_workflow_id
       and (h.hour >= whole_from and h.hour < day_from or h.hour >= day_to and h.hour < whole_to)
       and v_scope = 'workflow'
    union all
    select h.period_start, h.bin, h.executions
      from public.execution_period_duration_bins h
     where h.created_by = v_owner and h.workflow_id = '00000000-0000-0000-0000-000000000000'::uuid and h.period = 'day'
       and h.period_start >= day_from and h.period_start < day_to
       and v_scope in ('owner', 'everyone')
    union all
    select h.period_start, h.bin, h.executions
      from public.execution_period_duration_bins h
     where h.workflow_id = p_workflow_id and h.period = 'day'
       and h.period_start >= day_from and h.period_start < day_to
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
    select case p_bucket when 'all' then v_key else date_trunc(p_bucket, x.t, 'UTC') end as b, x.bin, sum(x.n) as n
      from bin_sources x
     group by 1, 2
    having sum(x.n) <> 0
  ),
  ranked as (
    select r.b, r.bin,
           sum(r.n) over (partition by r.b order by r.bin) as reached,
           sum(r.n) over (partition by r.b) as all_n
      from bins r
  ),
  percentiles as (
    select r.b,
           min(r.bin) filter (where r.reached >= ceil(0.50 * r.all_n)) as bin50,
           min(r.bin) filter (where r.reached >= ceil(0.95 * r.all_n)) as bin95
      from ranked r
     where r.all_n > 0
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

-- The series (replaces 20261201000500's; same shape): the buckets without the history.
create or replace function public.execution_stats_series(
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
  p95_duration_ms double precision
)
language sql
stable
security invoker
set search_path = ''
as $$
  select b.bucket_start, b.total, b.pending, b.running, b.completed, b.failed, b.cancelled, b.timed_out,
         b.success_rate, b.avg_duration_ms, b.p50_duration_ms, b.p95_duration_ms
    from public.execution_stats_buckets(p_bucket, p_started_after, p_started_before, p_workflow_id) b
$$;

-- -------------------------------------------------------------------------------------
-- The dashboard summary with its history: without a range from the all-time rollups (+
-- deltas), with one from execution_stats_buckets 'all'. execution_stats_summary keeps its shape.
-- -------------------------------------------------------------------------------------
create or replace function public.execution_stats_overview(
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
  p95_duration_ms double precision,
  pruned_executions bigint,
  pruned_before timestamptz
)
language plpgsql
stable
security invoker
set search_path = ''
-- One generic plan per session (planning the views' unions costs more than reading them): each
-- scope is its own branch behind a one-time filter, so every branch keeps its index.
set plan_cache_mode = force_generic_plan
as $$
begin
  if p_started_after is not null or p_started_before is not null then
    return query
    select b.total, b.pending, b.running, b.completed, b.failed, b.cancelled, b.timed_out,
           b.success_rate, b.avg_duration_ms, b.p50_duration_ms, b.p95_duration_ms, b.pruned_executions, b.pruned_before
      from public.execution_stats_buckets('all', p_started_after, p_started_before, p_workflow_id) b;
    return;
  end if;

  -- Straight from the tables (not through the per-key views: grouping every owner's keys first
  -- would cost the service role a large aggregate), the unfolded deltas added in.
  return query
  with counts as (
    select x.status, sum(x.n)::bigint as n, sum(x.timed)::bigint as timed, sum(x.ms) as ms
      from (
        select r.status::text as status, r.executions as n, r.durations_counted as timed, r.duration_ms_sum as ms
          from public.execution_stats_rollup r
         where p_workflow_id is not null and r.workflow_id = p_workflow_id
        union all
        select r.status::text, r.executions, r.durations_counted, r.duration_ms_sum
          from public.execution_stats_rollup r
         where p_workflow_id is null
        union all
        select d.status, d.sign, case when d.duration_ms is null then 0 else d.sign end, (d.sign * coalesce(d.duration_ms, 0))::numeric
          from public.execution_stat_deltas d
         where not d.pruned and (p_workflow_id is null or d.workflow_id = p_workflow_id)
      ) x
     group by x.status
  ),
  grouped_bins as (
    select x.bin, sum(x.n) as n
      from (
        select b.bin, b.executions as n
          from public.execution_duration_bins b
         where p_workflow_id is not null and b.workflow_id = p_workflow_id
        union all
        select b.bin, b.executions
          from public.execution_owner_duration_bins b
         where p_workflow_id is null
        union all
        select public.execution_duration_bin(d.duration_ms), d.sign
          from public.execution_stat_deltas d
         where not d.pruned and d.duration_ms is not null and (p_workflow_id is null or d.workflow_id = p_workflow_id)
      ) x
     group by x.bin
    having sum(x.n) <> 0
  ),
  bins as (
    select g.bin, public.execution_duration_bin_value(g.bin) as value, g.n from grouped_bins g
  ),
  ranked as (
    select value, sum(n) over (order by bin) as reached, sum(n) over () as all_n from bins
  ),
  history as (
    select coalesce(sum(x.pruned), 0)::bigint as pruned, max(x.pruned_before) as pruned_before
      from (
        select r.pruned, r.pruned_before
          from public.execution_stats_rollup r
         where r.pruned <> 0 and p_workflow_id is not null and r.workflow_id = p_workflow_id
        union all
        select r.pruned, r.pruned_before
          from public.execution_stats_rollup r
         where r.pruned <> 0 and p_workflow_id is null
        union all
        select 1, date_trunc('hour', d.started_at, 'UTC') + interval '1 hour'
          from public.execution_stat_deltas d
         where d.pruned and (p_workflow_id is null or d.workflow_id = p_workflow_id)
      ) x
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
    (select min(r.value) from ranked r where r.reached >= ceil(0.95 * r.all_n)),
    (select h.pruned from history h),
    (select h.pruned_before from history h)
  from counts c;
end
$$;

comment on function public.execution_stats_overview(uuid, timestamptz, timestamptz) is
  'execution_stats_summary plus the pruned runs it counts (pruned_executions) and the end of the latest hour holding one (pruned_before).';

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
language sql
stable
security invoker
set search_path = ''
as $$
  select o.total, o.pending, o.running, o.completed, o.failed, o.cancelled, o.timed_out,
         o.success_rate, o.avg_duration_ms, o.p50_duration_ms, o.p95_duration_ms
    from public.execution_stats_overview(p_workflow_id, p_started_after, p_started_before) o
$$;

revoke all on function public.execution_stats_buckets(text, timestamptz, timestamptz, uuid),
  public.execution_stats_overview(uuid, timestamptz, timestamptz) from public, anon;
grant execute on function public.execution_stats_buckets(text, timestamptz, timestamptz, uuid),
  public.execution_stats_overview(uuid, timestamptz, timestamptz) to authenticated, service_role;

-- -------------------------------------------------------------------------------------
-- The rollups of the executions that exist now (the old rollups were current, but the period
-- ones are new): one recount.
-- -------------------------------------------------------------------------------------
select private.rebuild_execution_rollups();

/**
 * Seeding, set-based: users, workflows and executions inserted by `insert ... select from
 * generate_series` in chunks of (at most) a million rows, one transaction each. The product's
 * triggers fire on them (statement-level rollup folding, the lifecycle trigger per row), so
 * the seeding time includes keeping the rollups; with `mode: "replica"` they are skipped
 * (session_replication_role = replica) and the rollups rebuilt afterwards.
 *
 * Shape (deterministic ids, so pgbench scripts can address rows without lookups):
 *  - 1,000 users, id md5('bench-user-<u>')::uuid, u = 1..1000.
 *  - 10,000 workflows, id md5('bench-wf-<n>')::uuid, owned by user ((n - 1) % 1000) + 1: ten
 *    per user; workflow rank k = 1..10 of user u is n = (k - 1) * 1000 + u.
 *  - executions: user rank u = floor(exp(r^1.3 * ln 1001)) (Zipf-like, log-uniform rank bent
 *    towards the head: user 1 owns ~17%, the top 10 ~44%, the top 100 ~73%); workflow rank
 *    k = floor(exp(r * ln 11)) within the user (rank 1 gets ~29%).
 *  - status: completed 80%, failed 8%, cancelled 3%, timed_out 2%, running 5%, pending 2%.
 *  - started_at spread evenly over the last 60 days in insertion order (the heap is
 *    time-ordered, as an append-only history is); running and pending rows are long-lived
 *    (their timeout_at is null or far away, so none is overdue).
 *  - durations log-normal per workflow: median e^mu with mu ~ N(ln 1500, 1), sigma in
 *    [0.7, 1.3]; failed 0.6x, cancelled 0.4x, timed_out ~1 h.
 *  - small jsonb input (3 keys) on every row, output on completed rows.
 *  - tags on 30% of rows (`env:dev|prod|staging`, a tenth of those also `priority:high`) and
 *    metadata on half (`plan`: free|pro|enterprise, `customer`: one of 20,000), chosen by a
 *    hash of the row number (no random() draw, so the other columns are as before). The side
 *    tables of 20261202000100 are filled set-based after the chunks, their insert triggers
 *    off meanwhile in either mode: per row they would add minutes at 10M, and what a tagged
 *    create costs is the writes scenario's business, not the seed's.
 */
import type { Sql } from "../../tests/support/postgres.ts";
import { foldAllStatDeltas } from "../../shared/repository/stats.ts";
import { log, timed } from "./measure.ts";

/** The rollups the stat deltas fold into (20261202000200), vacuumed with the rest after seeding. */
const statDeltaTables = ", public.execution_stat_deltas, public.execution_hourly_stats_rollup, public.execution_period_stats, public.execution_period_duration_bins";

export const USERS = 1000;
export const WORKFLOWS = 10_000;
export const CHUNK = 1_000_000;

export interface SeedReport {
  rows: number;
  mode: "triggers" | "replica";
  chunks: { rows: number; ms: number }[];
  usersAndWorkflowsMs: number;
  executionsMs: number;
  rowsPerSecond: number;
  rebuildRollupsMs: number | null;
  vacuumAnalyzeMs: number;
  totalMs: number;
  tableBytes: number;
  totalRelationBytes: number;
  indexBytes: Record<string, number>;
  rollupRows: number;
  binRows: number;
  reused: boolean;
}

const statusCase = `(case when x.rs < 0.80 then 'completed' when x.rs < 0.88 then 'failed'
                          when x.rs < 0.91 then 'cancelled' when x.rs < 0.93 then 'timed_out'
                          when x.rs < 0.98 then 'running' else 'pending' end)::public.execution_status`;

/** Workflow number of a generated row: Zipf-like user, then workflow rank within the user. */
const workflowNumber = `(least(floor(exp(random() * ln(11)))::int, 10) - 1) * 1000
                         + least(floor(exp(power(random(), 1.3) * ln(1001)))::int, 1000)`;

/** Executions g in [$1, $2] of $3 in total. */
const insertChunk = `
insert into public.workflow_executions
  (workflow_id, created_by, temporal_workflow_id, temporal_run_id, status, started_at, completed_at, duration_ms,
   timeout_at, input, output, error_message, activities_executed, created_at, updated_at, tags, metadata)
-- A pending row's Temporal id is derived from its own id by the lifecycle trigger (ET012 for a chosen one).
select s.id, s.owner, case when s.status <> 'pending' then 'bench-' || s.g end,
       case when s.status <> 'pending' then gen_random_uuid()::text end, s.status, s.started_at,
       s.started_at + s.duration_ms * interval '1 millisecond',
       s.duration_ms,
       case when s.live then case when s.r2 < 0.5 then null else s.started_at + interval '400 days' end
            when s.r2 < 0.4 then s.started_at + interval '1 day' end,
       jsonb_build_object('orderId', s.g, 'priority', s.g % 3, 'region', (array['eu', 'us', 'ap'])[1 + s.g % 3]),
       case when s.status = 'completed' then jsonb_build_object('ok', true, 'items', s.g % 17) end,
       case s.status when 'failed' then 'activity ChargeCard failed: card declined'
                     when 'timed_out' then 'timed out: no result before deadline' end,
       case when s.live then s.g % 4 else 1 + s.g % 12 end,
       s.started_at, s.started_at + coalesce(s.duration_ms, 0) * interval '1 millisecond',
       case when s.th < 30 then array[(array['env:dev', 'env:prod', 'env:staging'])[1 + s.g % 3], 'priority:high']
            when s.th < 300 then array[(array['env:dev', 'env:prod', 'env:staging'])[1 + s.g % 3]]
            else '{}' end,
       case when s.th % 2 = 0 then jsonb_build_object('plan', (array['free', 'pro', 'enterprise'])[1 + (s.g / 7) % 3], 'customer', 'c' || (s.g % 20000))
            else '{}'::jsonb end
from (
  select x.g, abs(hashint8(x.g)) % 1000 as th, w.id, w.owner, x.r2, x.started_at, st.status, st.status in ('pending', 'running') as live,
         case st.status
           when 'completed' then round(exp(w.mu + w.sigma * x.z))::bigint
           when 'failed'    then round(0.6 * exp(w.mu + w.sigma * x.z))::bigint
           when 'cancelled' then round(0.4 * exp(w.mu + w.sigma * x.z))::bigint
           when 'timed_out' then round(3600000 * (1 + 0.05 * x.r2))::bigint
         end as duration_ms
  from (
    -- random() in this target list keeps the subquery from being flattened: one draw per row.
    select g, ${workflowNumber} as wf_n, random() as rs, random() as r2,
           sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) as z,
           now() - interval '60 days' + (g + random()) * (interval '60 days' / $3::bigint) as started_at
      from generate_series($1::bigint, $2::bigint) g
  ) x
  cross join lateral (select ${statusCase} as status) st
  join bench.wf w on w.n = x.wf_n
) s`;

/** The tag and metadata side tables of every row, set-based (the seed's inserts skipped their triggers). */
async function fillTagSideTables(conn: Sql) {
  const [, ms] = await timed(async () => {
    await conn`
      insert into public.execution_tags (execution_id, created_by, tag, started_at)
      select e.id, e.created_by, t.tag, e.started_at from public.workflow_executions e, unnest(e.tags) t(tag) where e.tags <> '{}'`;
    await conn`
      insert into public.execution_metadata_entries (execution_id, created_by, key, value, started_at)
      select e.id, e.created_by, m.key, m.value, e.started_at from public.workflow_executions e, jsonb_each_text(e.metadata) m
       where e.metadata <> '{}'::jsonb`;
  });
  log(`filled the tag and metadata side tables in ${(ms / 1000).toFixed(1)} s`);
}

export async function benchMeta(sql: Sql): Promise<{ rows: number; mode: string; report: SeedReport } | null> {
  const [exists] = await sql`select to_regclass('bench.meta') is not null as ok`;
  if (!exists.ok) return null;
  const [row] = await sql`select rows, mode, report from bench.meta`;
  return row ? { rows: Number(row.rows), mode: row.mode, report: row.report } : null;
}

export async function seed(admin: Sql, rows: number, mode: "triggers" | "replica"): Promise<SeedReport> {
  const existing = await benchMeta(admin);
  if (existing && existing.rows === rows) {
    log(`database already seeded with ${rows} executions (${existing.mode}); reusing it`);
    return { ...existing.report, reused: true };
  }
  if (existing) throw new Error(`the database holds a seed of ${existing.rows} rows, not ${rows}: use a fresh database`);
  const [{ n: present }] = await admin`select count(*)::int as n from public.workflow_executions`;
  if (present > 0) throw new Error(`public.workflow_executions is not empty (${present} rows): use a fresh database`);

  const t0 = performance.now();
  const conn = await admin.reserve();
  try {
    await conn`select setseed(0.42)`;
    const [, usersAndWorkflowsMs] = await timed(async () => {
      await conn.unsafe(`
        create schema if not exists bench;
        create table bench.wf (n int primary key, id uuid not null unique, owner_n int not null, owner uuid not null,
                               mu float8 not null, sigma float8 not null);
        create table bench.meta (rows bigint not null, mode text not null, report jsonb not null);
        insert into auth.users (id, email, role)
        select md5('bench-user-' || u)::uuid, 'user' || u || '@bench.local', 'authenticated'
          from generate_series(1, ${USERS}) u;
        insert into bench.wf
        select n, md5('bench-wf-' || n)::uuid, ((n - 1) % ${USERS}) + 1, md5('bench-user-' || (((n - 1) % ${USERS}) + 1))::uuid,
               ln(1500) + sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()), 0.7 + 0.6 * random()
          from generate_series(1, ${WORKFLOWS}) n;
        insert into public.temporal_workflow_types (workflow_type, task_queue) values ('BenchWorkflow', 'bench') on conflict do nothing;
        insert into public.workflows (id, name, temporal_workflow_type, task_queue, created_by, created_at, updated_at)
        select id, 'workflow-' || n, 'BenchWorkflow', 'bench', owner, now() - interval '120 days', now() - interval '120 days'
          from bench.wf;
        analyze bench.wf;`);
    });

    if (mode === "replica") await conn`set session_replication_role = replica`;
    await conn`alter table public.workflow_executions disable trigger execution_tags_inserted, disable trigger execution_metadata_inserted`;
    const chunks: SeedReport["chunks"] = [];
    for (let lo = 1; lo <= rows; lo += CHUNK) {
      const hi = Math.min(rows, lo + CHUNK - 1);
      const [, ms] = await timed(() => conn.unsafe(insertChunk, [lo, hi, rows]));
      chunks.push({ rows: hi - lo + 1, ms: Math.round(ms) });
      log(`seeded executions ${lo}..${hi} in ${(ms / 1000).toFixed(1)} s (${Math.round((hi - lo + 1) / ms * 1000)} rows/s)`);
    }
    const executionsMs = chunks.reduce((a, c) => a + c.ms, 0);
    await conn`alter table public.workflow_executions enable trigger execution_tags_inserted, enable trigger execution_metadata_inserted`;
    await fillTagSideTables(conn as unknown as Sql);
    await conn`vacuum (analyze) public.execution_tags, public.execution_metadata_entries`;
    let rebuildRollupsMs: number | null = null;
    if (mode === "replica") {
      await conn`reset session_replication_role`;
      [, rebuildRollupsMs] = await timed(() => conn`select private.rebuild_execution_rollups()`);
      log(`rebuilt the rollups in ${(rebuildRollupsMs / 1000).toFixed(1)} s`);
    } else {
      // The triggers appended one stat delta per row (20261202000200): fold them all, as the
      // background fold would, so the measurements start from current rollups.
      const [folded, foldMs] = await timed(() => foldAllStatDeltas(conn as unknown as Sql, 100_000));
      log(`folded ${folded.toLocaleString("en")} stat deltas in ${(foldMs / 1000).toFixed(1)} s`);
    }
    const [, vacuumAnalyzeMs] = await timed(() =>
      conn.unsafe(`vacuum (analyze) public.workflow_executions, public.execution_stats_rollup, public.execution_duration_bins, public.workflows, auth.users${statDeltaTables}`));
    log(`vacuum (analyze) in ${(vacuumAnalyzeMs / 1000).toFixed(1)} s`);
    await conn`checkpoint`;

    const sizes = await relationSizes(admin);
    const report: SeedReport = {
      rows,
      mode,
      chunks,
      usersAndWorkflowsMs: Math.round(usersAndWorkflowsMs),
      executionsMs,
      rowsPerSecond: Math.round(rows / executionsMs * 1000),
      rebuildRollupsMs: rebuildRollupsMs === null ? null : Math.round(rebuildRollupsMs),
      vacuumAnalyzeMs: Math.round(vacuumAnalyzeMs),
      totalMs: Math.round(performance.now() - t0),
      ...sizes,
      reused: false,
    };
    await conn`insert into bench.meta (rows, mode, report) values (${rows}, ${mode}, ${conn.json(report as never)})`;
    return report;
  } finally {
    conn.release();
  }
}

export async function relationSizes(sql: Sql) {
  const [sizes] = await sql`
    select pg_relation_size('public.workflow_executions')::float8 as table_bytes,
           pg_total_relation_size('public.workflow_executions')::float8 as total_bytes,
           (select count(*) from public.execution_stats_rollup)::float8 as rollup_rows,
           (select count(*) from public.execution_duration_bins)::float8 as bin_rows`;
  const indexes = await sql`
    select indexrelid::regclass::text as name, pg_relation_size(indexrelid)::float8 as bytes
      from pg_index where indrelid = 'public.workflow_executions'::regclass order by 1`;
  return {
    tableBytes: sizes.table_bytes,
    totalRelationBytes: sizes.total_bytes,
    indexBytes: Object.fromEntries(indexes.map((i) => [i.name, i.bytes])),
    rollupRows: sizes.rollup_rows,
    binRows: sizes.bin_rows,
  };
}

/**
 * Running executions past their deadline, distributed over users and workflows like the seed
 * (for the sweeper). Returns how long the insert took.
 */
export async function insertOverdue(sql: Sql, count: number): Promise<number> {
  const [, ms] = await timed(() => sql.unsafe(`
    insert into public.workflow_executions
      (workflow_id, created_by, temporal_workflow_id, temporal_run_id, status, started_at, timeout_at, input, created_at, updated_at)
    select w.id, w.owner, 'overdue-' || x.g, gen_random_uuid()::text, 'running', x.started_at,
           x.started_at + interval '1 hour', jsonb_build_object('orderId', x.g), x.started_at, x.started_at
      from (select g, ${workflowNumber} as wf_n, now() - interval '2 hours' - random() * interval '1 hour' as started_at
              from generate_series(1, $1::int) g) x
      join bench.wf w on w.n = x.wf_n`, [count]));
  return ms;
}

export interface RollupCheck {
  rollupMismatches: number;
  binMismatches: number;
  /** Rows of the per-owner histogram that differ (null where the schema has none). */
  ownerBinMismatches: number | null;
  ms: number;
}

/** Compares every rollup with a direct aggregate of the executions (all zero = exact), once the stat deltas are folded. */
export async function verifyRollups(sql: Sql): Promise<RollupCheck> {
  // With stat deltas (20261202000200) the rollups are "rollups + unfolded deltas": compare what
  // the views read (one statement, one snapshot), since a background fold may hold some deltas.
  const [{ deltas }] = await sql`select to_regclass('public.execution_stat_deltas') is not null as deltas`;
  if (deltas) await foldAllStatDeltas(sql, 100_000);
  const keptRollup = deltas ? sql`public.execution_stats` : sql`public.execution_stats_rollup`;
  const keptBins = deltas ? sql`public.execution_duration_histogram` : sql`public.execution_duration_bins`;
  const keptOwnerBins = deltas ? sql`public.execution_owner_duration_histogram` : sql`public.execution_owner_duration_bins`;
  const [{ owner_bins: hasOwnerBins }] = await sql`select to_regclass('public.execution_owner_duration_bins') is not null as owner_bins`;
  const [[row], ms] = await timed(() => sql`
    with direct as (
      select created_by, workflow_id, status, count(*)::bigint as executions, count(duration_ms)::bigint as durations_counted,
             coalesce(sum(duration_ms), 0)::numeric as duration_ms_sum
        from public.workflow_executions group by 1, 2, 3
    ), kept as (
      select created_by, workflow_id, status, executions, durations_counted, duration_ms_sum
        from ${keptRollup}
       where executions <> 0 or durations_counted <> 0 or duration_ms_sum <> 0
    ), direct_bins as materialized (
      select created_by, workflow_id, public.execution_duration_bin(duration_ms) as bin, count(*)::bigint as executions
        from public.workflow_executions where duration_ms is not null group by 1, 2, 3
    ), kept_bins as (
      select created_by, workflow_id, bin, executions from ${keptBins} where executions <> 0
    )
    select (select count(*) from ((select * from direct except select * from kept) union all (select * from kept except select * from direct)) d)::int as rollup,
           (select count(*) from ((select * from direct_bins except select * from kept_bins) union all (select * from kept_bins except select * from direct_bins)) d)::int as bins
           ${hasOwnerBins ? sql`, (
             with direct_owner as (select created_by, bin, sum(executions)::bigint as executions from direct_bins group by 1, 2),
                  kept_owner as (select created_by, bin, executions from ${keptOwnerBins} where executions <> 0)
             select count(*) from ((select * from direct_owner except select * from kept_owner)
                                   union all (select * from kept_owner except select * from direct_owner)) d)::int as owner_bins` : sql``}`);
  return { rollupMismatches: row.rollup, binMismatches: row.bins, ownerBinMismatches: hasOwnerBins ? row.owner_bins : null, ms: Math.round(ms) };
}

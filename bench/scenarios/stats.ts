/**
 * Stats through the service as the function runs it (withCaller + execution_stats_summary:
 * the all-time rollups without a time range, the hourly rollups plus the partial edge hours
 * with one, the rows for the service role over everything), for the heaviest user, the
 * heaviest workflow (as its owner and as the service role), a median user and everything;
 * the naive approach side by side (fetch the rows under the same RLS, compute in TypeScript).
 * Correctness: the function's answer over HTTP and the naive one against an exact aggregate
 * over the rows (counts, success rate and average exact; percentiles within 2% of the exact
 * nearest-rank value).
 *
 * Ranges (last 24 hours, last 7 days, from now: partial edge hours from rows, whole hours and
 * days from the hourly and daily rollups plus the unfolded stat deltas, 20261202000200) also
 * beside the naive GROUP BY over the rows of the range (same RLS, exact percentile_disc).
 * The price of the fold's lag: the heaviest user's 7-day stats and 30-day series read again
 * with 10,000 unfolded deltas (10,000 executions inserted in the range, not yet folded).
 *
 * Time series (execution_stats_series, 20261201000500): a 30-bucket daily and a 24-bucket
 * hourly series (the API's defaults: the range ends now, so the first and last buckets are
 * partial and read their edge hours from rows) for the heaviest user and the heaviest workflow
 * (as its owner), beside the naive way: one GROUP BY over the rows of the range under the same
 * RLS (exact percentile_disc per bucket). Every bucket of ours is checked against an exact
 * aggregate (admin, no RLS).
 *
 * The fold (20261202000300): one 10,000-delta batch folded, timed alone (foldCost).
 */
import { withCaller } from "../../shared/db.ts";
import { foldAllStatDeltas } from "../../shared/repository/stats.ts";
import { createExecutionService } from "../../shared/service.ts";
import { executionStatuses as statuses, terminalStatuses } from "../../shared/status.ts";
import type { Caller, ExecutionStats, ExecutionStatsSeries, StatsBucket, StatsFilter } from "../../shared/types.ts";

/** The numbers of a summary or of one bucket (without the history). */
type StatsNumbers = Omit<ExecutionStats, "history">;
const asQuery = (filter: object) => new URLSearchParams(filter as unknown as Record<string, string>).toString();
import { type BenchContext, serviceCaller, userCaller } from "../lib/context.ts";
import { formatMeasurement, log, type Measurement, measure, percentile, summarize, timed } from "../lib/measure.ts";
import { call } from "../lib/server.ts";

export interface StatsCheck {
  scope: string;
  range: string;
  source: "function (HTTP)" | "naive";
  ok: boolean;
  total: number;
  problems: string[];
  p50: { got: number | null; exact: number | null; error: number | null };
  p95: { got: number | null; exact: number | null; error: number | null };
}

export interface StatsResult {
  measurements: Measurement[];
  checks: StatsCheck[];
  scopes: Record<string, { rows: number }>;
}

interface Scope {
  key: string;
  label: string;
  caller: Caller;
  filter: StatsFilter;
  token: () => Promise<string>;
  /** Restriction for the exact aggregate (admin, no RLS). */
  where: { createdBy?: string; workflowId?: string };
  rows: number;
}

export async function runStats(ctx: BenchContext, options: { quick?: boolean } = {}): Promise<StatsResult> {
  const measurements: Measurement[] = [];
  const checks: StatsCheck[] = [];
  const runs = options.quick ? 100 : 400;
  const [{ n: allRows }] = await ctx.db.admin`select count(*)::float8 as n from public.workflow_executions`;
  const scopes: Scope[] = [
    { key: "user", label: "heaviest user", caller: userCaller(ctx.heavyUser.id), filter: {}, token: () => ctx.token(ctx.heavyUser.id), where: { createdBy: ctx.heavyUser.id }, rows: ctx.heavyUser.rows },
    { key: "workflow", label: "heaviest workflow (owner)", caller: userCaller(ctx.heavyWorkflow.owner), filter: { workflowId: ctx.heavyWorkflow.id }, token: () => ctx.token(ctx.heavyWorkflow.owner), where: { workflowId: ctx.heavyWorkflow.id }, rows: ctx.heavyWorkflow.rows },
    { key: "workflow-service", label: "heaviest workflow (service role)", caller: serviceCaller, filter: { workflowId: ctx.heavyWorkflow.id }, token: () => ctx.serviceToken(), where: { workflowId: ctx.heavyWorkflow.id }, rows: ctx.heavyWorkflow.rows },
    { key: "light", label: "median user", caller: userCaller(ctx.lightUser.id), filter: {}, token: () => ctx.token(ctx.lightUser.id), where: { createdBy: ctx.lightUser.id }, rows: ctx.lightUser.rows },
    { key: "all", label: "all (service role)", caller: serviceCaller, filter: {}, token: () => ctx.serviceToken(), where: {}, rows: allRows },
  ];
  const now = Date.now();
  const ranges = [
    { key: "", label: "", after: undefined as string | undefined },
    { key: "24h", label: ", last 24h", after: new Date(now - 24 * 3600_000).toISOString() },
    { key: "7d", label: ", last 7 days", after: new Date(now - 7 * 24 * 3600_000).toISOString() },
  ];

  for (const scope of scopes) {
    for (const range of ranges) {
      if (scope.key === "light" && range.key) continue;
      const filter: StatsFilter = { ...scope.filter, ...(range.after ? { startedAfter: range.after } : {}) };
      const service = createExecutionService({ sql: ctx.sql, caller: scope.caller, temporal: null });
      const name = `stats ${scope.label}${range.label}`;
      measurements.push(await measure(`${name}: ours (service)`, () => service.getStats(filter), { runs, warmup: 20, budgetMs: 20_000, cpuOf: ctx.server.pid }));
      const token = await scope.token();
      const query = asQuery(filter);
      if (!range.key) {
        measurements.push(await measure(`${name}: ours (HTTP)`, () =>
          call(`${ctx.server.functionsUrl}/executions-stats?${query}`, { token }), { runs: Math.round(runs / 2), warmup: 20, budgetMs: 15_000, cpuOf: ctx.server.pid }));
      }
      const naiveRows = range.key ? null : scope.rows;
      const heavy = (naiveRows ?? scope.rows) > 2_000_000;
      measurements.push(await measure(`${name}: naive (fetch rows, compute in TS)`, () => naiveStats(ctx, scope.caller, filter),
        { runs: heavy ? 5 : 30, warmup: 1, budgetMs: heavy ? 60_000 : 20_000, minRuns: 3, cpuOf: ctx.server.pid }));
      if (range.after) {
        const bounds = { after: range.after, before: new Date().toISOString() };
        measurements.push(await measure(`${name}: naive (GROUP BY over the rows)`, () => naiveSeries(ctx, scope.caller, "all", bounds, scope.filter.workflowId),
          { runs: 30, warmup: 2, budgetMs: 20_000, minRuns: 3, cpuOf: ctx.server.pid }));
      }

      // Correctness, once per scope and range.
      const exact = await exactStats(ctx, scope.where, range.after);
      const viaHttp = await call(`${ctx.server.functionsUrl}/executions-stats?${query}`, { token }) as ExecutionStats;
      checks.push(compare(scope.label, range.key || "all time", "function (HTTP)", viaHttp, exact));
      checks.push(compare(scope.label, range.key || "all time", "naive", await naiveStats(ctx, scope.caller, filter), exact));
    }
  }
  // ---- time series: 30 days daily, 24 hours hourly, for one user and one workflow
  for (const scope of scopes.filter((s) => s.key === "user" || s.key === "workflow")) {
    const service = createExecutionService({ sql: ctx.sql, caller: scope.caller, temporal: null });
    for (const bucket of ["day", "hour"] as const) {
      const name = `series ${bucket === "day" ? "30 days daily" : "24 hours hourly"} ${scope.label}`;
      const filter = { bucket, ...scope.filter };
      measurements.push(await measure(`${name}: ours (service)`, () => service.getTimeSeries(filter), { runs, warmup: 20, budgetMs: 20_000, cpuOf: ctx.server.pid }));
      const token = await scope.token();
      const url = `${ctx.server.functionsUrl}/executions-stats?${asQuery(filter)}`;
      measurements.push(await measure(`${name}: ours (HTTP)`, () => call(url, { token }), { runs: Math.round(runs / 2), warmup: 20, budgetMs: 15_000, cpuOf: ctx.server.pid }));
      const series = await service.getTimeSeries(filter);
      const range = { after: series.buckets[0].start, before: new Date().toISOString() };
      measurements.push(await measure(`${name}: naive (GROUP BY over the rows)`, () => naiveSeries(ctx, scope.caller, bucket, range, scope.filter.workflowId),
        { runs: 30, warmup: 2, budgetMs: 20_000, minRuns: 3, cpuOf: ctx.server.pid }));
      // Correctness: every bucket of a series read now, against the exact aggregate of the same range.
      const checked = await call(url, { token }) as ExecutionStatsSeries;
      const before = new Date(Date.parse(checked.buckets.at(-1)!.start) + (bucket === "day" ? 86_400_000 : 3_600_000)).toISOString();
      const exact = await exactSeries(ctx, scope.where, bucket, checked.buckets[0].start, before);
      const problems = checked.buckets.flatMap((b, i) => {
        const c = compare(scope.label, `${bucket} ${b.start}`, "function (HTTP)", b, exact[i] ?? emptyExact);
        return c.ok ? [] : [`${b.start}: ${c.problems.join(", ")}`];
      });
      checks.push({
        scope: scope.label, range: `series ${bucket} (${checked.buckets.length} buckets)`, source: "function (HTTP)", ok: problems.length === 0,
        total: checked.buckets.reduce((n, b) => n + b.total, 0), problems,
        p50: { got: null, exact: null, error: null }, p95: { got: null, exact: null, error: null },
      });
    }
  }

  measurements.push(...await withUnfoldedDeltas(ctx, runs));
  measurements.push(...await foldCost(ctx, options.quick ? 3 : 10));

  for (const c of checks.filter((c) => !c.ok)) log(`CHECK FAILED ${c.scope} ${c.range} ${c.source}: ${c.problems.join("; ")}`);
  log(`stats checks: ${checks.filter((c) => c.ok).length}/${checks.length} agree with the exact aggregate`);
  return { measurements, checks, scopes: Object.fromEntries(scopes.map((s) => [s.key, { rows: s.rows }])) };
}

/**
 * The read cost of the fold's lag: 10,000 executions of the heaviest user inserted over the
 * last 7 days (10,000 unfolded stat deltas), then the 7-day stats and the 30-day series read
 * with them unfolded, then folded. The note says how many deltas were unfolded at the end
 * (a background fold, e.g. pg_cron, may take some meanwhile).
 */
async function withUnfoldedDeltas(ctx: BenchContext, runs: number): Promise<Measurement[]> {
  const admin = ctx.db.admin;
  const deltas = 10_000;
  const user = ctx.heavyUser.id;
  const workflows = ctx.workflowsOf(ctx.heavyUser.n);
  await foldAllStatDeltas(admin, 50_000);
  await admin`
    insert into public.workflow_executions (workflow_id, created_by, temporal_workflow_id, status, started_at, duration_ms)
    select (${workflows}::uuid[])[1 + g % ${workflows.length}], ${user}, 'lag-' || gen_random_uuid(), 'completed',
           now() - (g % 604800) * interval '1 second', 200 + (g * 7919) % 20000
      from generate_series(1, ${deltas}) g`;
  const service = createExecutionService({ sql: ctx.sql, caller: userCaller(user), temporal: null });
  const filter = { startedAfter: new Date(Date.now() - 7 * 86_400_000).toISOString() };
  const unfolded = async () => Number((await admin`select count(*)::int as n from public.execution_stat_deltas`)[0].n);
  const out: Measurement[] = [];
  out.push(await measure(`stats heaviest user, last 7 days, ${deltas.toLocaleString("en")} unfolded deltas: ours (service)`, () => service.getStats(filter),
    { runs, warmup: 10, budgetMs: 20_000, cpuOf: ctx.server.pid }));
  out.push(await measure(`series 30 days daily heaviest user, ${deltas.toLocaleString("en")} unfolded deltas: ours (service)`, () => service.getTimeSeries({ bucket: "day" }),
    { runs, warmup: 10, budgetMs: 20_000, cpuOf: ctx.server.pid }));
  const left = await unfolded();
  for (const m of out) m.note = `${left.toLocaleString("en")} deltas still unfolded after the runs`;
  log(`folded ${await foldAllStatDeltas(admin, 50_000)} stat deltas`);
  out.push(await measure(`stats heaviest user, last 7 days, deltas folded: ours (service)`, () => service.getStats(filter),
    { runs, warmup: 10, budgetMs: 20_000, cpuOf: ctx.server.pid }));
  return out;
}

/**
 * The fold's cost (20261202000300: each batch aggregated once, then the scopes): 10,000
 * executions of the heaviest user inserted over 30 days in one transaction, their 10,000
 * deltas folded in it (only the fold is timed), rolled back (a background fold, e.g. pg_cron,
 * never sees uncommitted deltas, so it cannot take the batch).
 */
async function foldCost(ctx: BenchContext, runs: number): Promise<Measurement[]> {
  const deltas = 10_000;
  const workflows = ctx.workflowsOf(ctx.heavyUser.n);
  const rollback = new Error("rolled back on purpose");
  const latencies: number[] = [];
  const started = performance.now();
  for (let run = 0; run < runs; run++) {
    try {
      await ctx.db.admin.begin(async (tx) => {
        await tx`
          insert into public.workflow_executions (workflow_id, created_by, temporal_workflow_id, status, started_at, duration_ms)
          select (${workflows}::uuid[])[1 + g % ${workflows.length}], ${ctx.heavyUser.id}, 'fold-' || gen_random_uuid(), 'completed',
                 now() - (g % 2592000) * interval '1 second', 200 + (g * 7919) % 20000
            from generate_series(1, ${deltas}) g`;
        const [, ms] = await timed(() => tx`select private.fold_execution_stat_deltas(${deltas}::int)`);
        latencies.push(ms);
        throw rollback;
      });
    } catch (error) {
      if (error !== rollback) throw error;
    }
  }
  const wallMs = performance.now() - started;
  const m = summarize(`fold of one ${deltas.toLocaleString("en")}-delta batch (heaviest user, 30 days)`, latencies,
    { concurrency: 1, warmup: 0, errors: 0, throughput: runs / (wallMs / 1000), wallMs, note: "inserted and folded in one transaction, rolled back; only the fold timed" });
  log(formatMeasurement(m));
  return [m];
}

/** The naive implementation: every matching row to the client, then counts and exact percentiles in TS. */
export async function naiveStats(ctx: BenchContext, caller: Caller, filter: StatsFilter): Promise<StatsNumbers> {
  return await withCaller(ctx.sql, caller, async (tx) => {
    const counts: Record<string, number> = Object.fromEntries(statuses.map((s) => [s, 0]));
    let durations = new Float64Array(1 << 16);
    let timed = 0;
    let sum = 0;
    await tx`
      select status, duration_ms from public.workflow_executions
       where true
         ${filter.workflowId ? tx`and workflow_id = ${filter.workflowId}` : tx``}
         ${filter.startedAfter ? tx`and started_at >= ${filter.startedAfter}::timestamptz` : tx``}
         ${filter.startedBefore ? tx`and started_at < ${filter.startedBefore}::timestamptz` : tx``}`
      .cursor(20_000, (rows) => {
        for (const row of rows) {
          counts[row.status]++;
          if (row.duration_ms !== null) {
            const d = Number(row.duration_ms);
            if (timed === durations.length) {
              const grown = new Float64Array(durations.length * 2);
              grown.set(durations);
              durations = grown;
            }
            durations[timed++] = d;
            sum += d;
          }
        }
      });
    const sorted = durations.subarray(0, timed).sort();
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const terminal = terminalStatuses.reduce((n, s) => n + counts[s], 0);
    return {
      total,
      byStatus: counts as ExecutionStats["byStatus"],
      successRate: terminal ? counts.completed / terminal : null,
      avgDurationMs: timed ? sum / timed : null,
      p50DurationMs: timed ? percentile(sorted, 0.5) : null,
      p95DurationMs: timed ? percentile(sorted, 0.95) : null,
    };
  });
}

/**
 * The naive series: one GROUP BY over the rows of the range under the caller's RLS (exact
 * percentiles per bucket), empty buckets left out; "all": one row for the whole range.
 */
async function naiveSeries(ctx: BenchContext, caller: Caller, bucket: StatsBucket | "all", range: { after: string; before: string }, workflowId?: string) {
  return await withCaller(ctx.sql, caller, (tx) => tx`
    select ${bucket === "all" ? tx`null::timestamptz` : tx`date_trunc(${bucket}, started_at, 'UTC')`} as start, count(*)::float8 as total,
           ${tx.unsafe(statuses.map((s) => `count(*) filter (where status = '${s}')::float8 as "${s}"`).join(", "))},
           avg(duration_ms)::float8 as avg,
           (percentile_disc(0.5) within group (order by duration_ms))::float8 as p50,
           (percentile_disc(0.95) within group (order by duration_ms))::float8 as p95
      from public.workflow_executions
     where started_at >= ${range.after}::timestamptz and started_at < ${range.before}::timestamptz
       ${workflowId ? tx`and workflow_id = ${workflowId}` : tx``}
     group by 1 order by 1`);
}

const emptyExact: Exact = {
  total: 0, byStatus: Object.fromEntries(statuses.map((s) => [s, 0])), successRate: null, avgDurationMs: null, p50: null, p95: null,
};

/** The exact aggregate of every bucket in [after, before) (admin, no RLS), zero-filled, oldest first. */
async function exactSeries(ctx: BenchContext, where: Scope["where"], bucket: StatsBucket, after: string, before: string): Promise<Exact[]> {
  const sql = ctx.db.admin;
  const step = bucket === "day" ? 86_400_000 : 3_600_000;
  const rows = await sql`
    select to_char(date_trunc(${bucket}, started_at, 'UTC') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as start,
           count(*)::float8 as total,
           ${sql.unsafe(statuses.map((s) => `count(*) filter (where status = '${s}')::float8 as "${s}"`).join(", "))},
           (count(*) filter (where status = 'completed'))::float8
             / nullif(count(*) filter (where public.execution_status_is_terminal(status)), 0) as success_rate,
           avg(duration_ms)::float8 as avg,
           (percentile_disc(0.5) within group (order by duration_ms))::float8 as p50,
           (percentile_disc(0.95) within group (order by duration_ms))::float8 as p95
      from public.workflow_executions
     where started_at >= ${after}::timestamptz and started_at < ${before}::timestamptz
       ${where.createdBy ? sql`and created_by = ${where.createdBy}` : sql``}
       ${where.workflowId ? sql`and workflow_id = ${where.workflowId}` : sql``}
     group by 1`;
  const byStart = new Map(rows.map((row) => [row.start as string, {
    total: row.total, byStatus: Object.fromEntries(statuses.map((s) => [s, row[s]])), successRate: row.success_rate,
    avgDurationMs: row.avg, p50: row.p50, p95: row.p95,
  } as Exact]));
  const out: Exact[] = [];
  for (let t = Date.parse(after); t < Date.parse(before); t += step) out.push(byStart.get(new Date(t).toISOString()) ?? emptyExact);
  return out;
}

interface Exact {
  total: number;
  byStatus: Record<string, number>;
  successRate: number | null;
  avgDurationMs: number | null;
  p50: number | null;
  p95: number | null;
}

async function exactStats(ctx: BenchContext, where: Scope["where"], after: string | undefined): Promise<Exact> {
  const sql = ctx.db.admin;
  const [row] = await sql`
    select count(*)::float8 as total,
           ${sql.unsafe(statuses.map((s) => `count(*) filter (where status = '${s}')::float8 as "${s}"`).join(", "))},
           (count(*) filter (where status = 'completed'))::float8
             / nullif(count(*) filter (where public.execution_status_is_terminal(status)), 0) as success_rate,
           avg(duration_ms)::float8 as avg,
           (percentile_disc(0.5) within group (order by duration_ms))::float8 as p50,
           (percentile_disc(0.95) within group (order by duration_ms))::float8 as p95
      from public.workflow_executions
     where true
       ${where.createdBy ? sql`and created_by = ${where.createdBy}` : sql``}
       ${where.workflowId ? sql`and workflow_id = ${where.workflowId}` : sql``}
       ${after ? sql`and started_at >= ${after}::timestamptz` : sql``}`;
  return {
    total: row.total,
    byStatus: Object.fromEntries(statuses.map((s) => [s, row[s]])),
    successRate: row.success_rate,
    avgDurationMs: row.avg,
    p50: row.p50,
    p95: row.p95,
  };
}

function compare(scope: string, range: string, source: StatsCheck["source"], got: StatsNumbers, exact: Exact): StatsCheck {
  const problems: string[] = [];
  if (got.total !== exact.total) problems.push(`total ${got.total} != ${exact.total}`);
  for (const s of statuses) if (got.byStatus[s] !== exact.byStatus[s]) problems.push(`${s} ${got.byStatus[s]} != ${exact.byStatus[s]}`);
  const close = (a: number | null, b: number | null, tolerance: number) =>
    a === null || b === null ? a === b : Math.abs(a - b) <= tolerance * Math.max(1, Math.abs(b));
  if (!close(got.successRate, exact.successRate, 1e-12)) problems.push(`successRate ${got.successRate} != ${exact.successRate}`);
  if (!close(got.avgDurationMs, exact.avgDurationMs, 1e-9)) problems.push(`avgDurationMs ${got.avgDurationMs} != ${exact.avgDurationMs}`);
  const pct = (g: number | null, e: number | null) => ({ got: g, exact: e, error: g === null || e === null ? null : e === 0 ? Math.abs(g) : Math.abs(g - e) / e });
  const p50 = pct(got.p50DurationMs, exact.p50);
  const p95 = pct(got.p95DurationMs, exact.p95);
  // Within 2%, or within the rounding of a bin value to whole milliseconds for tiny durations.
  const pctOk = (p: typeof p50) => p.got === null || p.exact === null ? p.got === p.exact : (p.error! <= 0.02 || Math.abs(p.got - p.exact) <= 0.5);
  if (!pctOk(p50)) problems.push(`p50 ${p50.got} vs exact ${p50.exact} (${(p50.error! * 100).toFixed(2)}%)`);
  if (!pctOk(p95)) problems.push(`p95 ${p95.got} vs exact ${p95.exact} (${(p95.error! * 100).toFixed(2)}%)`);
  return { scope, range, source, ok: problems.length === 0, total: exact.total, problems, p50, p95 };
}

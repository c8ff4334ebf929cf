/**
 * Stats (execution_stats_summary over the rollups plus the unfolded stat deltas, 20261202000200;
 * with a time range over the hourly/daily rollups plus the partial edge hours from rows) against values computed
 * independently in TypeScript from the rows: counts, success rate and average exact; p50/p95
 * within 2% (relative) of the nearest-rank percentile. Checked after inserts, updates,
 * deletes, a workflow's cascade delete, and many concurrent transactions (with folds running
 * among them); each time with the deltas unfolded, partly folded and all folded.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { foldAllStatDeltas, foldStatDeltas } from "../../shared/repository/stats.ts";
import { createExecutionService } from "../../shared/service.ts";
import { type ExecutionStatus, executionStatuses, isTerminal } from "../../shared/status.ts";
import type { ExecutionStats, StatsFilter } from "../../shared/types.ts";
import { connect, createUser, createWorkflow, databaseUrl, type Sql, userCaller } from "../support/postgres.ts";

let sql: Sql;
beforeAll(() => {
  sql = connect(databaseUrl(), { max: 16 });
});
afterAll(async () => {
  await sql.end({ timeout: 1 });
});

/** Deterministic PRNG (mulberry32), so a failure can be replayed. */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Row { workflow_id: string; status: ExecutionStatus; duration_ms: number | null; started_at: Date }

/** Every execution of a user, straight from the table (as superuser). */
async function rowsOf(user: string): Promise<Row[]> {
  const rows = await sql`select workflow_id, status, duration_ms::float8 as duration_ms, started_at from public.workflow_executions where created_by = ${user}`;
  return rows as unknown as Row[];
}

/** The stats, computed from the rows alone. */
function expectedStats(all: Row[], filter: StatsFilter) {
  const rows = all.filter((r) =>
    (!filter.workflowId || r.workflow_id === filter.workflowId) &&
    (!filter.startedAfter || r.started_at >= new Date(filter.startedAfter)) &&
    (!filter.startedBefore || r.started_at < new Date(filter.startedBefore))
  );
  const byStatus = Object.fromEntries(executionStatuses.map((s) => [s, rows.filter((r) => r.status === s).length])) as Record<ExecutionStatus, number>;
  const terminal = rows.filter((r) => isTerminal(r.status)).length;
  const durations = rows.map((r) => r.duration_ms).filter((d): d is number => d !== null).sort((a, b) => a - b);
  const nearestRank = (p: number) => (durations.length ? durations[Math.ceil(p * durations.length) - 1] : null);
  return {
    total: rows.length,
    byStatus,
    successRate: terminal ? byStatus.completed / terminal : null,
    avgDurationMs: durations.length ? durations.reduce((a, b) => a + b, 0) / durations.length : null,
    p50DurationMs: nearestRank(0.5),
    p95DurationMs: nearestRank(0.95),
  };
}

function expectClose(actual: number | null, expected: number | null, relative: number, what: string) {
  if (expected === null) return expect(actual, what).toBeNull();
  expect(actual, what).not.toBeNull();
  expect(Math.abs(actual! - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(relative * Math.abs(expected));
}

/** Service stats (as the user) equal the values computed from the rows. */
async function checkStats(user: string, filters: StatsFilter[]) {
  const rows = await rowsOf(user);
  const service = createExecutionService({ sql, caller: userCaller(user), temporal: null });
  for (const filter of filters) {
    const got: ExecutionStats = await service.getStats(filter);
    const want = expectedStats(rows, filter);
    const what = JSON.stringify(filter);
    expect(got.total, what).toBe(want.total);
    expect(got.byStatus, what).toEqual(want.byStatus);
    expect(got.history, what).toEqual({ includesPruned: false, prunedExecutions: 0, prunedBefore: null });
    expectClose(got.successRate, want.successRate, 1e-12, `${what} successRate`);
    expectClose(got.avgDurationMs, want.avgDurationMs, 1e-12, `${what} avgDurationMs`);
    // From the histograms (all-time, or hourly with a time range: 20261201000500): within 2%.
    expectClose(got.p50DurationMs, want.p50DurationMs, 0.02, `${what} p50`);
    expectClose(got.p95DurationMs, want.p95DurationMs, 0.02, `${what} p95`);
  }
  return rows;
}

/**
 * The stats are exact with the deltas unfolded, after a fold of a random part of them, and
 * after folding everything (then the rollups themselves equal a fresh aggregate).
 */
async function checkEverything(user: string, filters: StatsFilter[], random: () => number) {
  await checkStats(user, filters);
  await foldStatDeltas(sql, 1 + Math.floor(random() * 400));
  await checkStats(user, filters);
  await checkRollups(user);
  return checkStats(user, filters);
}

/** Once every delta is folded, the rollups hold exactly the aggregates of the user's rows. */
async function checkRollups(user: string) {
  await foldAllStatDeltas(sql);
  const [fresh, rollup, freshBins, bins] = await Promise.all([
    sql`select workflow_id, status::text, count(*)::int as executions, count(duration_ms)::int as timed, coalesce(sum(duration_ms), 0)::text as ms
          from public.workflow_executions where created_by = ${user} group by 1, 2 order by 1, 2`,
    sql`select workflow_id, status::text, executions::int, durations_counted::int as timed, duration_ms_sum::text as ms
          from public.execution_stats_rollup where created_by = ${user} and (executions <> 0 or durations_counted <> 0 or duration_ms_sum <> 0) order by 1, 2`,
    sql`select workflow_id, public.execution_duration_bin(duration_ms) as bin, count(*)::int as n
          from public.workflow_executions where created_by = ${user} and duration_ms is not null group by 1, 2 order by 1, 2`,
    sql`select workflow_id, bin, executions::int as n from public.execution_duration_bins where created_by = ${user} and executions <> 0 order by 1, 2`,
  ]);
  expect(rollup).toEqual(fresh);
  expect(bins).toEqual(freshBins);
  const [freshOwnerBins, ownerBins] = await Promise.all([
    sql`select public.execution_duration_bin(duration_ms) as bin, count(*)::int as n
          from public.workflow_executions where created_by = ${user} and duration_ms is not null group by 1 order by 1`,
    sql`select bin, executions::int as n from public.execution_owner_duration_bins where created_by = ${user} and executions <> 0 order by 1`,
  ]);
  expect(ownerBins).toEqual(freshOwnerBins);
  // The hourly rollups (20261201000500): per UTC hour of started_at as well.
  const [freshHourly, hourly, freshHourlyBins, hourlyBins] = await Promise.all([
    sql`select date_trunc('hour', started_at, 'UTC') as hour, workflow_id, status::text, count(*)::int as executions,
               count(duration_ms)::int as timed, coalesce(sum(duration_ms), 0)::text as ms
          from public.workflow_executions where created_by = ${user} group by 1, 2, 3 order by 1, 2, 3`,
    sql`select hour, workflow_id, status::text, executions::int, durations_counted::int as timed, duration_ms_sum::text as ms
          from public.execution_hourly_stats_rollup
         where created_by = ${user} and (executions <> 0 or durations_counted <> 0 or duration_ms_sum <> 0) order by 1, 2, 3`,
    sql`select date_trunc('hour', started_at, 'UTC') as hour, workflow_id, public.execution_duration_bin(duration_ms) as bin, count(*)::int as n
          from public.workflow_executions where created_by = ${user} and duration_ms is not null group by 1, 2, 3 order by 1, 2, 3`,
    sql`select hour, workflow_id, bin, executions::int as n from public.execution_hourly_duration_bins
         where created_by = ${user} and executions <> 0 order by 1, 2, 3`,
  ]);
  expect(hourly).toEqual(freshHourly);
  expect(hourlyBins).toEqual(freshHourlyBins);
  // The period rollups (20261202000200): the owner per hour and per day, each workflow per day.
  const nil = "00000000-0000-0000-0000-000000000000";
  const [freshPeriods, periods, freshPeriodBins, periodBins] = await Promise.all([
    sql`select g.workflow_id, g.period, g.period_start, status::text, count(*)::int as executions, count(duration_ms)::int as timed,
               coalesce(sum(duration_ms), 0)::text as ms
          from public.workflow_executions e
         cross join lateral (values (${nil}::uuid, 'hour', date_trunc('hour', e.started_at, 'UTC')), (${nil}::uuid, 'day', date_trunc('day', e.started_at, 'UTC')),
                                    (e.workflow_id, 'day', date_trunc('day', e.started_at, 'UTC'))) g (workflow_id, period, period_start)
         where e.created_by = ${user} group by 1, 2, 3, 4 order by 1, 2, 3, 4`,
    sql`select workflow_id, period, period_start, status::text, executions::int, durations_counted::int as timed, duration_ms_sum::text as ms
          from public.execution_period_stats
         where created_by = ${user} and (executions <> 0 or durations_counted <> 0 or duration_ms_sum <> 0) order by 1, 2, 3, 4`,
    sql`select g.workflow_id, g.period, g.period_start, public.execution_duration_bin(duration_ms) as bin, count(*)::int as n
          from public.workflow_executions e
         cross join lateral (values (${nil}::uuid, 'hour', date_trunc('hour', e.started_at, 'UTC')), (${nil}::uuid, 'day', date_trunc('day', e.started_at, 'UTC')),
                                    (e.workflow_id, 'day', date_trunc('day', e.started_at, 'UTC'))) g (workflow_id, period, period_start)
         where e.created_by = ${user} and duration_ms is not null group by 1, 2, 3, 4 order by 1, 2, 3, 4`,
    sql`select workflow_id, period, period_start, bin, executions::int as n from public.execution_period_duration_bins
         where created_by = ${user} and executions <> 0 order by 1, 2, 3, 4`,
  ]);
  expect(periods).toEqual(freshPeriods);
  expect(periodBins).toEqual(freshPeriodBins);
}

const iso = (d: Date) => d.toISOString();

/** A duration for a terminal row: mostly 3 s .. 10 min (log-uniform), a few 0 ms. */
const durationFrom = (random: () => number) => (random() < 0.01 ? 0 : Math.round(3000 * Math.exp(random() * Math.log(200))));

/** A row's Temporal id: none for a pending row (the tracker derives it, 20261201000100), else a fresh one. */
const temporalIdFor = (status: ExecutionStatus, prefix: string) => (status === "pending" ? null : `${prefix}-${randomUUID()}`);

/**
 * Inserts `n` rows for the user over the last 10 days; terminal ones with a duration. (The
 * oracle reads duration_ms as stored: the lifecycle trigger keeps it null on live rows and on
 * runs that never ran, 20261201000200.)
 */
async function seed(user: string, workflows: string[], n: number, random: () => number) {
  const now = Date.now();
  const rows = Array.from({ length: n }, (_, i) => {
    const status = executionStatuses[Math.floor(random() * executionStatuses.length)];
    return {
      workflow_id: workflows[i % workflows.length],
      created_by: user,
      temporal_workflow_id: temporalIdFor(status, "stats"),
      status,
      started_at: new Date(now - Math.floor(random() * 10 * 86_400_000)),
      duration_ms: isTerminal(status) ? durationFrom(random) : null,
    };
  });
  for (let i = 0; i < rows.length; i += 500) {
    await sql`insert into public.workflow_executions ${sql(rows.slice(i, i + 500), "workflow_id", "created_by", "temporal_workflow_id", "status", "started_at", "duration_ms")}`;
  }
}

function filtersFor(workflows: string[]): StatsFilter[] {
  const day = 86_400_000;
  const now = Date.now();
  return [
    {},
    ...workflows.map((workflowId) => ({ workflowId })),
    { startedAfter: iso(new Date(now - 3 * day)) },
    { startedBefore: iso(new Date(now - 3 * day)) },
    { startedAfter: iso(new Date(now - 7 * day)), startedBefore: iso(new Date(now - 2 * day)) },
    { workflowId: workflows[0], startedAfter: iso(new Date(now - 5 * day)) },
    { startedAfter: iso(new Date(now + day)) }, // empty range
    { workflowId: randomUUID() }, // unknown workflow
  ];
}

describe("stats against values computed from the rows", () => {
  const seedValue = Number(process.env.ET_STATS_SEED ?? Date.now() % 1_000_000);
  const random = prng(seedValue);
  let user: string;
  let workflows: string[];

  beforeAll(async () => {
    user = await createUser(sql);
    workflows = [await createWorkflow(sql, user), await createWorkflow(sql, user), await createWorkflow(sql, user)];
    await seed(user, workflows, 900, random);
  });

  it(`after inserts (seed ${seedValue})`, async () => {
    await checkEverything(user, filtersFor(workflows), random);
  });

  it("after updates (service and set-based SQL)", async () => {
    const service = createExecutionService({ sql, caller: userCaller(user), temporal: null });
    const live = await sql`
      select id, status from public.workflow_executions
       where created_by = ${user} and status in ('pending', 'running') order by id limit 60`;
    for (const [i, row] of live.entries()) {
      const next: ExecutionStatus = row.status === "pending" ? (i % 2 ? "running" : "cancelled") : (["completed", "failed", "timed_out"] as const)[i % 3];
      await service.updateExecutionByRef({ id: row.id }, { status: next, durationMs: isTerminal(next) ? durationFrom(random) : undefined, activitiesExecuted: i });
    }
    // One statement over many rows (the statement-level trigger folds them at once).
    await sql`
      update public.workflow_executions
         set status = 'completed', duration_ms = 3000 + (abs(hashtext(id::text)) % 500000)
       where created_by = ${user} and status = 'running' and workflow_id = ${workflows[1]}`;
    // A live row's other fields change nothing in the stats.
    await sql`update public.workflow_executions set output = '{"x":1}' where created_by = ${user} and status = 'pending'`;
    await checkEverything(user, filtersFor(workflows), random);
  });

  it("after deletes", async () => {
    const service = createExecutionService({ sql, caller: userCaller(user), temporal: null });
    const some = await sql`select id from public.workflow_executions where created_by = ${user} order by id limit 25`;
    for (const { id } of some) await service.deleteExecution(id);
    await sql`delete from public.workflow_executions where created_by = ${user} and status = 'failed' and workflow_id = ${workflows[2]}`;
    await checkEverything(user, filtersFor(workflows), random);
  });

  it("after a workflow's cascade delete", async () => {
    const [{ n }] = await sql`select count(*)::int as n from public.workflow_executions where workflow_id = ${workflows[0]}`;
    expect(n).toBeGreaterThan(0);
    await sql`delete from public.workflows where id = ${workflows[0]}`;
    const rows = await checkEverything(user, filtersFor(workflows), random);
    expect(rows.some((r) => r.workflow_id === workflows[0])).toBe(false);
    const service = createExecutionService({ sql, caller: userCaller(user), temporal: null });
    expect((await service.getStats({ workflowId: workflows[0] })).total).toBe(0);
  });

  it("after many concurrent single-statement transactions (no deadlock)", async () => {
    const service = createExecutionService({ sql, caller: userCaller(user), temporal: null });
    const remaining = workflows.slice(1);
    const ids = (await sql`select id from public.workflow_executions where created_by = ${user} order by id`).map((r) => r.id as string);
    const transactions = 48;
    // Folds run while the writers write, claiming small batches at random points.
    let writing = true;
    const folders = Array.from({ length: 3 }, async (_, f) => {
      const r = prng(seedValue + 500 + f);
      while (writing) {
        await foldStatDeltas(sql, 1 + Math.floor(r() * 50));
        await new Promise((resolve) => setTimeout(resolve, r() * 5));
      }
    });
    // Each transaction owns a disjoint slice of the rows, but all of them add deltas of the
    // same few rollup rows. One statement per transaction, as the service and PostgREST write.
    await Promise.all(Array.from({ length: transactions }, async (_, t) => {
      const mine = ids.filter((_, i) => i % transactions === t);
      const r = prng(seedValue + t + 1);
      switch (t % 4) {
        case 0: // the service's own transactions
          for (let k = 0; k < 4; k++) {
            await service.createExecution({ workflowId: remaining[k % 2], temporalWorkflowId: `conc-${randomUUID()}` });
          }
          return;
        case 1: { // a multi-row insert over both workflows and every status
          const rows = Array.from({ length: 12 }, (_, k) => {
            const status = executionStatuses[Math.floor(r() * 6)];
            return {
              workflow_id: remaining[k % 2], created_by: user, temporal_workflow_id: temporalIdFor(status, "conc"), status,
              started_at: new Date(Date.now() - Math.floor(r() * 9 * 86_400_000)), duration_ms: isTerminal(status) ? durationFrom(r) : null,
            };
          });
          await sql`insert into public.workflow_executions ${sql(rows, "workflow_id", "created_by", "temporal_workflow_id", "status", "started_at", "duration_ms")}`;
          return;
        }
        case 2: // a multi-row update, several (from, to) at once
          await sql`
            update public.workflow_executions
               set status = case status when 'pending' then 'running'::public.execution_status else 'completed' end,
                   duration_ms = case status when 'pending' then null else 3000 + (abs(hashtext(id::text)) % 100000) end
             where id = any(${mine}::uuid[]) and status in ('pending', 'running')`;
          return;
        default: // a multi-row delete
          await sql`delete from public.workflow_executions where id = any(${mine.slice(0, 3)}::uuid[])`;
      }
    }));
    writing = false;
    await Promise.all(folders);
    await checkEverything(user, filtersFor(remaining), random);
  });

  it("after concurrent multi-statement transactions, deadlock victims retried", async () => {
    const remaining = workflows.slice(1);
    let retries = 0;
    await Promise.all(Array.from({ length: 10 }, async (_, t) => {
      const r = prng(seedValue + 1000 + t);
      const plan = Array.from({ length: 4 }, (_, k) => {
        const status = executionStatuses[Math.floor(r() * 6)];
        return { workflow: remaining[(t + k) % 2], status, duration: isTerminal(status) ? durationFrom(r) : null, age: Math.floor(r() * 9 * 86_400) };
      });
      for (let attempt = 1; ; attempt++) {
        try {
          await sql.begin(async (tx) => {
            await tx`set local deadlock_timeout = '20ms'`; // find the victims fast (superuser-only setting)
            const created: string[] = [];
            for (const step of plan) {
              const [row] = await tx`
                insert into public.workflow_executions (workflow_id, created_by, temporal_workflow_id, status, started_at, duration_ms)
                values (${step.workflow}, ${user}, ${temporalIdFor(step.status, "multi")}, ${step.status}, now() - ${step.age} * interval '1 second', ${step.duration})
                returning id`;
              created.push(row.id);
            }
            await tx`update public.workflow_executions set status = 'failed', duration_ms = 4321 where id = any(${created}::uuid[]) and status in ('pending', 'running')`;
            await tx`delete from public.workflow_executions where id = ${created[0]}`;
          });
          return;
        } catch (error) {
          // Rollup rows are taken in key order within a statement, not across the statements
          // of a transaction: a client retries the victim of a deadlock, as for any counter.
          if ((error as { code?: string }).code !== "40P01" || attempt >= 50) throw error;
          retries++;
          await new Promise((resolve) => setTimeout(resolve, Math.random() * 30 * attempt));
        }
      }
    }));
    if (process.env.ET_TEST_VERBOSE) console.log(`multi-statement transactions: ${retries} deadlock retries`);
    await checkEverything(user, filtersFor(remaining), random);
  });
});

describe("percentiles of small durations", () => {
  it("stay within 2% of the nearest rank, and are exact below ~25 ms (one whole millisecond per bin)", async () => {
    const user = await createUser(sql);
    const workflow = await createWorkflow(sql, user);
    const service = createExecutionService({ sql, caller: userCaller(user), temporal: null });
    for (const duration of [0, 1, 2, 3, 7, 13, 24, 26, 27, 28, 49, 99, 1000, 2500, 65_432, 86_400_000]) {
      await sql`delete from public.workflow_executions where created_by = ${user}`;
      await sql`
        insert into public.workflow_executions (workflow_id, created_by, status, duration_ms)
        select ${workflow}, ${user}, 'completed', ${duration} from generate_series(1, 3)`;
      const stats = await service.getStats();
      expect(stats.avgDurationMs).toBe(duration);
      for (const p of [stats.p50DurationMs!, stats.p95DurationMs!]) {
        expect(Math.abs(p - duration), `duration ${duration} reported as ${p}`).toBeLessThanOrEqual(0.02 * duration);
        if (duration < 25) expect(p).toBe(duration);
      }
    }
  });
});

/**
 * Time-series stats (execution_stats_series over the hourly and daily rollups plus the unfolded
 * stat deltas of 20261202000200, plus the partial edge hours from rows) and ranged stats (execution_stats_summary with a range),
 * against an oracle computed in TypeScript from the rows: for every bucket, counts per status,
 * success rate and average exact, p50/p95 within 2% of the nearest rank. Buckets are UTC, a
 * day is 24 hours, whatever the session's TimeZone. Checked as users (RLS) and as the service
 * role, after inserts, updates (status changes move counts between statuses, never between
 * buckets), deletes, over aligned and unaligned ranges (edge buckets), a range inside one hour,
 * the defaults, and in sessions in America/New_York (across the end of DST) and Asia/Kolkata
 * (UTC+05:30). Each step is checked with the deltas unfolded, partly folded, and (then the
 * hourly rollups equal a fresh aggregate) all folded.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ValidationError } from "../../shared/errors.ts";
import { foldAllStatDeltas, foldStatDeltas } from "../../shared/repository/stats.ts";
import { createExecutionService, seriesRange } from "../../shared/service.ts";
import { type ExecutionStatus, executionStatuses, isTerminal } from "../../shared/status.ts";
import type { Caller, ExecutionStats, StatsBucket, StatsSeriesFilter } from "../../shared/types.ts";
import { asRole, connect, createUser, createWorkflow, databaseUrl, serviceCaller, type Sql, sqlState, userCaller } from "../support/postgres.ts";

let sql: Sql;
let newYork: Sql;
let kolkata: Sql;
beforeAll(() => {
  sql = connect(databaseUrl(), { max: 8 });
  newYork = connect(databaseUrl(), { max: 2, connection: { TimeZone: "America/New_York" } });
  kolkata = connect(databaseUrl(), { max: 2, connection: { TimeZone: "Asia/Kolkata" } });
});
afterAll(async () => {
  await Promise.all([sql.end({ timeout: 1 }), newYork.end({ timeout: 1 }), kolkata.end({ timeout: 1 })]);
});

/** Deterministic PRNG (mulberry32), so a failure can be replayed (ET_STATS_SEED). */
function prng(seed: number) {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const stepOf = { hour: HOUR, day: DAY } as const;

interface Row { created_by: string; workflow_id: string; status: ExecutionStatus; duration_ms: number | null; started_at: Date }

async function rowsOf(owners: string[]): Promise<Row[]> {
  return await sql`
    select created_by, workflow_id, status, duration_ms::float8 as duration_ms, started_at
      from public.workflow_executions where created_by = any(${owners}::uuid[])` as unknown as Row[];
}

type Numbers = Omit<ExecutionStats, "history">;

/** The stats of some rows, computed from them alone. */
function statsOf(rows: Row[]): Numbers {
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

/** The expected series: every UTC bucket from the one holding `after` to the one holding `before` (exclusive). */
function expectedSeries(rows: Row[], bucket: StatsBucket, after: Date, before: Date, workflowId?: string) {
  const step = stepOf[bucket];
  const inRange = rows.filter((r) => r.started_at >= after && r.started_at < before && (!workflowId || r.workflow_id === workflowId));
  const buckets: (Numbers & { start: string })[] = [];
  for (let start = Math.floor(after.getTime() / step) * step; start < before.getTime(); start += step) {
    buckets.push({ start: new Date(start).toISOString(), ...statsOf(inRange.filter((r) => Math.floor(r.started_at.getTime() / step) * step === start)) });
  }
  return buckets;
}

function expectClose(actual: number | null, expected: number | null, relative: number, what: string) {
  if (expected === null) return expect(actual, what).toBeNull();
  expect(actual, what).not.toBeNull();
  expect(Math.abs(actual! - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(relative * Math.abs(expected) + 1e-9);
}

function expectStats(got: Numbers, want: Numbers, what: string) {
  expect(got.total, what).toBe(want.total);
  expect(got.byStatus, what).toEqual(want.byStatus);
  expectClose(got.successRate, want.successRate, 1e-12, `${what} successRate`);
  expectClose(got.avgDurationMs, want.avgDurationMs, 1e-12, `${what} avgDurationMs`);
  expectClose(got.p50DurationMs, want.p50DurationMs, 0.02, `${what} p50`);
  expectClose(got.p95DurationMs, want.p95DurationMs, 0.02, `${what} p95`);
}

/** The series and the ranged summary of `caller` for each range, against the oracle over `rows`. */
/** Returns how many buckets held executions. */
async function checkSeries(db: Sql, caller: Caller, rows: Row[], cases: { bucket: StatsBucket; after: Date; before: Date; workflowId?: string }[]): Promise<number> {
  const service = createExecutionService({ sql: db, caller, temporal: null });
  let nonEmpty = 0;
  for (const c of cases) {
    const filter: StatsSeriesFilter = { bucket: c.bucket, startedAfter: c.after.toISOString(), startedBefore: c.before.toISOString(), workflowId: c.workflowId };
    const what = `${caller.role} ${JSON.stringify(filter)}`;
    const series = await service.getTimeSeries(filter);
    const want = expectedSeries(rows, c.bucket, c.after, c.before, c.workflowId);
    expect(series.bucket).toBe(c.bucket);
    expect(series.history, what).toEqual({ includesPruned: false, prunedExecutions: 0, prunedBefore: null });
    expect(series.buckets.map((b) => b.start), what).toEqual(want.map((b) => b.start));
    for (const [i, b] of series.buckets.entries()) {
      expectStats(b, want[i], `${what} bucket ${b.start}`);
      if (b.total) nonEmpty++;
    }
    // The plain stats over the same range: the hourly rollups plus the edge hours.
    const ranged = await service.getStats({ workflowId: c.workflowId, startedAfter: filter.startedAfter, startedBefore: filter.startedBefore });
    expectStats(ranged, statsOf(rows.filter((r) => r.started_at >= c.after && r.started_at < c.before && (!c.workflowId || r.workflow_id === c.workflowId))), `${what} summary`);
  }
  return nonEmpty;
}

/** Once every delta is folded, the hourly rollups hold exactly the aggregates of the owners' rows. */
async function checkHourlyRollups(owners: string[]) {
  await foldAllStatDeltas(sql);
  const [fresh, rollup, freshBins, bins] = await Promise.all([
    sql`select created_by, date_trunc('hour', started_at, 'UTC') as hour, workflow_id, status::text,
               count(*)::int as n, count(duration_ms)::int as timed, coalesce(sum(duration_ms), 0)::text as ms
          from public.workflow_executions where created_by = any(${owners}::uuid[]) group by 1, 2, 3, 4 order by 1, 2, 3, 4`,
    sql`select created_by, hour, workflow_id, status::text, executions::int as n, durations_counted::int as timed, duration_ms_sum::text as ms
          from public.execution_hourly_stats_rollup
         where created_by = any(${owners}::uuid[]) and (executions <> 0 or durations_counted <> 0 or duration_ms_sum <> 0) order by 1, 2, 3, 4`,
    sql`select created_by, date_trunc('hour', started_at, 'UTC') as hour, workflow_id, public.execution_duration_bin(duration_ms) as bin, count(*)::int as n
          from public.workflow_executions where created_by = any(${owners}::uuid[]) and duration_ms is not null group by 1, 2, 3, 4 order by 1, 2, 3, 4`,
    sql`select created_by, hour, workflow_id, bin, executions::int as n from public.execution_hourly_duration_bins
         where created_by = any(${owners}::uuid[]) and executions <> 0 order by 1, 2, 3, 4`,
  ]);
  expect(rollup).toEqual(fresh);
  expect(bins).toEqual(freshBins);
}

/** A duration for a terminal row: mostly 3 s .. 10 min (log-uniform), a few 0 ms and a few tiny. */
const durationFrom = (random: () => number) => {
  const r = random();
  return r < 0.01 ? 0 : r < 0.05 ? Math.floor(random() * 30) : Math.round(3000 * Math.exp(random() * Math.log(200)));
};

/**
 * Inserts rows for `owner` at the given times (one multi-row statement per 500, as a bulk
 * writer would; and a few single-row statements, as the API writes).
 */
async function insertAt(owner: string, workflows: string[], times: Date[], random: () => number) {
  const rows = times.map((started_at, i) => {
    const status = executionStatuses[Math.floor(random() * executionStatuses.length)];
    return {
      workflow_id: workflows[i % workflows.length],
      created_by: owner,
      // None for a pending row (the tracker derives it, 20261201000100).
      temporal_workflow_id: status === "pending" ? null : `series-${randomUUID()}`,
      status,
      started_at,
      duration_ms: isTerminal(status) ? durationFrom(random) : null,
    };
  });
  const single = rows.splice(0, Math.min(10, rows.length));
  for (const row of single) await sql`insert into public.workflow_executions ${sql(row)}`;
  for (let i = 0; i < rows.length; i += 500) {
    await sql`insert into public.workflow_executions ${sql(rows.slice(i, i + 500), "workflow_id", "created_by", "temporal_workflow_id", "status", "started_at", "duration_ms")}`;
  }
}

describe("time-series stats against values computed from the rows", () => {
  const seedValue = Number(process.env.ET_STATS_SEED ?? Date.now() % 1_000_000);
  const random = prng(seedValue);
  let alice: string;
  let bob: string;
  let aliceFlows: string[];
  let bobFlow: string;
  // Now, on a fixed odd offset into an hour, so "now"-relative ranges are unaligned.
  const now = new Date(Math.floor(Date.now() / HOUR) * HOUR + 37 * 60_000 + 12_345);
  // A period only this file writes (long ago): the service role's "everything" is checked there.
  const past = new Date("2003-03-03T00:00:00Z");
  // Around the end of US daylight saving time (2026-11-01 06:00 UTC) and a UTC day boundary.
  const dst = new Date("2026-11-01T00:00:00Z");

  const casesFor = (workflowId?: string) => [
    { bucket: "hour" as const, after: new Date(Math.floor(now.getTime() / HOUR) * HOUR - 23 * HOUR), before: new Date(Math.floor(now.getTime() / HOUR) * HOUR + HOUR), workflowId },
    { bucket: "hour" as const, after: new Date(now.getTime() - 30 * HOUR - 1), before: now, workflowId }, // edges
    { bucket: "day" as const, after: new Date(now.getTime() - 6.5 * DAY), before: now, workflowId }, // edges
    { bucket: "day" as const, after: new Date(Math.floor(now.getTime() / DAY) * DAY - 9 * DAY), before: new Date(Math.floor(now.getTime() / DAY) * DAY + DAY), workflowId },
    { bucket: "hour" as const, after: new Date(now.getTime() - 40 * 60_000), before: new Date(now.getTime() - 5 * 60_000), workflowId }, // inside one or two hours
    { bucket: "day" as const, after: new Date(dst.getTime() - 2 * DAY - 3 * HOUR), before: new Date(dst.getTime() + 2 * DAY + 5 * HOUR), workflowId },
    { bucket: "hour" as const, after: new Date(dst.getTime() + 2 * HOUR + 1), before: new Date(dst.getTime() + 9 * HOUR - 1), workflowId },
    // Edge days mostly inside the range: read as their day minus the hours outside (20261202000300).
    { bucket: "day" as const, after: new Date(dst.getTime() - 2 * DAY - 20 * HOUR - 1234), before: new Date(dst.getTime() + 2 * DAY + 21 * HOUR + 1234), workflowId },
  ];

  beforeAll(async () => {
    [alice, bob] = [await createUser(sql), await createUser(sql)];
    aliceFlows = [await createWorkflow(sql, alice), await createWorkflow(sql, alice)];
    bobFlow = await createWorkflow(sql, bob);
    const times = (from: Date, spanMs: number, n: number) => Array.from({ length: n }, () => new Date(from.getTime() + Math.floor(random() * spanMs)));
    // Exactly on and next to bucket boundaries (the edges are inclusive / exclusive as documented).
    const boundaries = [0, 1, 2, 5, 24].flatMap((h) => {
      const t = Math.floor(now.getTime() / HOUR) * HOUR - h * HOUR;
      return [new Date(t), new Date(t - 1), new Date(t + 1)];
    });
    await insertAt(alice, aliceFlows, [...times(new Date(now.getTime() - 10 * DAY), 10 * DAY, 1200), ...boundaries], random);
    await insertAt(alice, aliceFlows, times(new Date(dst.getTime() - 3 * DAY), 6 * DAY, 300), random);
    await insertAt(alice, aliceFlows, times(past, 3 * DAY, 150), random);
    await insertAt(bob, [bobFlow], [...times(new Date(now.getTime() - 10 * DAY), 10 * DAY, 300), ...times(past, 3 * DAY, 80)], random);
  });

  /** Exact with the deltas unfolded, then again after folding a random part of them. */
  async function checkEverything() {
    await checkAllSeries();
    await foldStatDeltas(sql, 1 + Math.floor(random() * 300));
    await checkAllSeries();
    await checkHourlyRollups([alice, bob]);
  }

  async function checkAllSeries() {
    const aliceRows = await rowsOf([alice]);
    const bobRows = await rowsOf([bob]);
    expect(await checkSeries(sql, userCaller(alice), aliceRows, [...casesFor(), ...casesFor(aliceFlows[0])])).toBeGreaterThan(50);
    expect(await checkSeries(sql, userCaller(bob), bobRows, casesFor())).toBeGreaterThan(10);
    // Bob sees nothing of Alice's workflow (RLS): zeros, in every bucket.
    expect(await checkSeries(sql, userCaller(bob), [], casesFor(aliceFlows[1]))).toBe(0);
    // The service role: one workflow of anyone's, and everything in a period only this file writes.
    expect(await checkSeries(sql, serviceCaller(), aliceRows, casesFor(aliceFlows[1]))).toBeGreaterThan(20);
    expect(await checkSeries(sql, serviceCaller(), [...aliceRows, ...bobRows], [
      { bucket: "day", after: new Date(past.getTime() - DAY), before: new Date(past.getTime() + 4 * DAY + 7 * HOUR) },
      { bucket: "hour", after: new Date(past.getTime() + 5 * HOUR + 1234), before: new Date(past.getTime() + 40 * HOUR) },
      { bucket: "day", after: new Date(past.getTime() - 22 * HOUR - 1), before: new Date(past.getTime() + 3 * DAY + 19 * HOUR + 1) },
    ])).toBeGreaterThan(20);
  }

  it(`after inserts (seed ${seedValue})`, async () => {
    await checkEverything();
  });

  it("after updates: status changes move counts between statuses of the same bucket", async () => {
    const service = createExecutionService({ sql, caller: userCaller(alice), temporal: null });
    const live = await sql`
      select id, status from public.workflow_executions
       where created_by = ${alice} and status in ('pending', 'running') order by id limit 40`;
    for (const [i, row] of live.entries()) {
      const next: ExecutionStatus = row.status === "pending" ? (i % 2 ? "running" : "cancelled") : (["completed", "failed", "timed_out"] as const)[i % 3];
      await service.updateExecutionByRef({ id: row.id }, { status: next, durationMs: isTerminal(next) ? durationFrom(random) : undefined });
    }
    const perHour = async () => (await foldAllStatDeltas(sql), sql`
      select hour, sum(executions)::int as n, sum(executions) filter (where status = 'running')::int as running
        from public.execution_hourly_stats_rollup where created_by = ${alice} group by 1 having sum(executions) <> 0 order by 1`);
    const before = await perHour();
    // One statement over many rows, and one that changes nothing the stats count.
    await sql`
      update public.workflow_executions set status = 'completed', duration_ms = 3000 + (abs(hashtext(id::text)) % 500000)
       where created_by = ${alice} and status = 'running' and workflow_id = ${aliceFlows[1]}`;
    await sql`update public.workflow_executions set output = '{"x":1}' where created_by = ${alice} and status = 'pending'`;
    const after = await perHour();
    expect(after.map((h) => [h.hour, h.n])).toEqual(before.map((h) => [h.hour, h.n]));
    expect(after.map((h) => h.running)).not.toEqual(before.map((h) => h.running));
    await checkEverything();
  });

  it("after deletes (the service's, set-based, and a workflow's cascade)", async () => {
    const service = createExecutionService({ sql, caller: userCaller(alice), temporal: null });
    for (const { id } of await sql`select id from public.workflow_executions where created_by = ${alice} order by id limit 15`) {
      await service.deleteExecution(id);
    }
    await sql`delete from public.workflow_executions where created_by = ${alice} and status = 'failed' and workflow_id = ${aliceFlows[0]}`;
    await sql`delete from public.workflow_executions where created_by = ${bob} and started_at < ${new Date(now.getTime() - 5 * DAY)}`;
    await checkEverything();
    const extra = await createWorkflow(sql, bob);
    await insertAt(bob, [extra], Array.from({ length: 40 }, (_, i) => new Date(now.getTime() - i * 37 * 60_000)), random);
    await sql`delete from public.workflows where id = ${extra}`;
    await checkEverything();
  });

  it("buckets are UTC whatever the session's TimeZone (America/New_York across the end of DST, Asia/Kolkata)", async () => {
    const aliceRows = await rowsOf([alice]);
    for (const db of [newYork, kolkata]) {
      const [{ tz }] = await db`select current_setting('TimeZone') as tz`;
      expect(["America/New_York", "Asia/Kolkata"]).toContain(tz);
      await checkSeries(db, userCaller(alice), aliceRows, casesFor());
      // The same answer as from a UTC session, bucket for bucket.
      const filter = { bucket: "day" as const, startedAfter: new Date(dst.getTime() - 2 * DAY).toISOString(), startedBefore: new Date(dst.getTime() + 3 * DAY).toISOString() };
      const here = await createExecutionService({ sql: db, caller: userCaller(alice), temporal: null }).getTimeSeries(filter);
      const utc = await createExecutionService({ sql, caller: userCaller(alice), temporal: null }).getTimeSeries(filter);
      expect(here).toEqual(utc);
      expect(here.buckets.map((b) => b.start)).toEqual([-2, -1, 0, 1, 2].map((d) => new Date(dst.getTime() + d * DAY).toISOString()));
    }
  });

  it("defaults: 24 hourly / 30 daily buckets ending with the current (partial) one; empty buckets are zeros", async () => {
    const service = createExecutionService({ sql, caller: userCaller(alice), temporal: null });
    const t = Date.now();
    const hours = await service.getTimeSeries({ bucket: "hour" });
    const days = await service.getTimeSeries({ bucket: "day" });
    expect(hours.buckets).toHaveLength(24);
    expect(days.buckets).toHaveLength(30);
    const lastHour = Date.parse(hours.buckets[23].start);
    expect(t - lastHour).toBeGreaterThanOrEqual(-1000);
    expect(t - lastHour).toBeLessThan(HOUR + 1000);
    expect(Date.parse(days.buckets[29].start) % DAY).toBe(0);
    const empty = await service.getTimeSeries({ bucket: "day", startedAfter: "2010-01-01T00:00:00Z", startedBefore: "2010-01-03T00:00:00Z" });
    expect(empty.buckets).toEqual(["2010-01-01", "2010-01-02"].map((d) => ({
      start: `${d}T00:00:00.000Z`, total: 0, byStatus: Object.fromEntries(executionStatuses.map((s) => [s, 0])),
      successRate: null, avgDurationMs: null, p50DurationMs: null, p95DurationMs: null,
    })));
  });

  it("limits: at most 1,000 buckets, startedAfter before startedBefore (ValidationError; 22023 in SQL)", async () => {
    const service = createExecutionService({ sql, caller: userCaller(alice), temporal: null });
    const thousandHours = { bucket: "hour" as const, startedAfter: "2026-01-01T00:00:00Z", startedBefore: new Date(Date.parse("2026-01-01T00:00:00Z") + 1000 * HOUR).toISOString() };
    expect((await service.getTimeSeries(thousandHours)).buckets).toHaveLength(1000);
    for (const bad of [
      { ...thousandHours, startedBefore: new Date(Date.parse(thousandHours.startedBefore) + 1).toISOString() },
      { ...thousandHours, startedBefore: thousandHours.startedBefore.replace("Z", "").replace(/\.000$/, ".000001Z") },
      { bucket: "day" as const, startedAfter: "2020-01-01T00:00:00Z", startedBefore: "2026-01-01T00:00:00Z" },
      { bucket: "hour" as const, startedAfter: "2026-01-01T00:00:00Z", startedBefore: "2026-01-01T00:00:00Z" },
      { bucket: "day" as const, startedAfter: "2026-01-02T00:00:00Z", startedBefore: "2026-01-01T00:00:00Z" },
    ]) {
      await expect(service.getTimeSeries(bad), JSON.stringify(bad)).rejects.toBeInstanceOf(ValidationError);
    }
    expect(() => seriesRange({ bucket: "day", startedAfter: "2023-01-01T00:00:00Z" }, new Date("2025-09-27T00:00:00Z"))).not.toThrow();
    expect(() => seriesRange({ bucket: "day", startedAfter: "2023-01-01T00:00:00Z" }, new Date("2025-09-28T00:00:01Z"))).toThrow(ValidationError);
    await asRole(sql, alice, async (tx) => {
      expect(await sqlState(tx.savepoint((sp) => sp`select * from public.execution_stats_series('week')`))).toBe("22023");
      expect(await sqlState(tx.savepoint((sp) => sp`select * from public.execution_stats_series('hour', '2026-01-01Z', '2026-03-01Z')`))).toBe("22023");
      expect(await sqlState(tx.savepoint((sp) => sp`select * from public.execution_stats_series('hour', '2026-01-02Z', '2026-01-01Z')`))).toBe("22023");
    });
  });

  it("through SQL under RLS: a user reads their own hourly rollups and series, anon nothing", async () => {
    await foldAllStatDeltas(sql);
    const after = new Date(now.getTime() - 3 * DAY).toISOString();
    await asRole(sql, bob, async (tx) => {
      const [{ n }] = await tx`select count(*)::int as n from public.execution_hourly_stats_rollup where created_by = ${alice}`;
      const [{ m }] = await tx`select count(*)::int as m from public.execution_hourly_duration_bins where created_by = ${alice}`;
      expect([n, m]).toEqual([0, 0]);
      const [{ own }] = await tx`select count(*)::int as own from public.execution_hourly_stats_rollup`;
      expect(own).toBeGreaterThan(0);
      const series = await tx`select sum(total)::int as total from public.execution_stats_series('hour', ${after}::timestamptz, ${now}::timestamptz, ${aliceFlows[0]}::uuid)`;
      expect(series[0].total).toBe(0);
      const [{ total }] = await tx`select sum(total)::int as total from public.execution_stats_series('day', ${after}::timestamptz, ${now}::timestamptz)`;
      const [{ exact }] = await tx`select count(*)::int as exact from public.workflow_executions where started_at >= ${after}::timestamptz and started_at < ${now}::timestamptz`;
      expect(total).toBe(exact);
      for (const table of ["execution_hourly_stats_rollup", "execution_hourly_duration_bins"]) {
        expect(await sqlState(tx.savepoint((sp) => sp.unsafe(`delete from public.${table}`))), table).toBe("42501");
        expect(await sqlState(tx.savepoint((sp) => sp.unsafe(`update public.${table} set executions = 0`))), table).toBe("42501");
      }
    });
    await sql.begin(async (tx) => {
      await tx`set local role anon`;
      expect(await sqlState(tx.savepoint((sp) => sp`select * from public.execution_stats_series('hour')`))).toBe("42501");
      expect(await sqlState(tx.savepoint((sp) => sp`select * from public.execution_hourly_stats_rollup limit 1`))).toBe("42501");
    });
  });
});

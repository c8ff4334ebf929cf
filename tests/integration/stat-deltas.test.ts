/**
 * Stat deltas (20261202000200): what a write appends, the fold, exact reads for everyone (the
 * service role's rollups) whatever the fold's lag, truncate, rebuild, retention's pruned
 * history, the prune flag refused to users, and who may touch the deltas and the fold.
 * The value oracles per user are in stats.test.ts and time-series.test.ts.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { foldAllStatDeltas, foldStatDeltas } from "../../shared/repository/stats.ts";
import { createExecutionService } from "../../shared/service.ts";
import { executionStatuses, isTerminal } from "../../shared/status.ts";
import {
  asRole,
  connect,
  createMigratedDatabase,
  createUser,
  createWorkflow,
  databaseUrl,
  dropDatabase,
  serviceCaller,
  type Sql,
  sqlState,
  type Tx,
  userCaller,
} from "../support/postgres.ts";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
// A period no other test file writes (the service role's "everyone" numbers are checked in it).
const period = Date.parse("2006-06-06T00:00:00Z");

let sql: Sql;
beforeAll(() => {
  sql = connect(databaseUrl(), { max: 12 });
});
afterAll(async () => {
  await sql.end({ timeout: 1 });
});

const deltasOf = (tx: Sql | Tx, user: string) =>
  tx`select status, duration_ms::float8 as duration_ms, sign, pruned from public.execution_stat_deltas where created_by = ${user} order by sign, status`;

async function insertRows(user: string, workflow: string, rows: { status: string; startedAt: Date; durationMs?: number | null }[]) {
  const values = rows.map((r) => ({
    workflow_id: workflow, created_by: user, status: r.status, started_at: r.startedAt,
    temporal_workflow_id: r.status === "pending" ? null : `deltas-${randomUUID()}`,
    duration_ms: isTerminal(r.status as never) ? (r.durationMs ?? 1000) : null,
  }));
  for (let i = 0; i < values.length; i += 500) {
    await sql`insert into public.workflow_executions ${sql(values.slice(i, i + 500), "workflow_id", "created_by", "status", "started_at", "temporal_workflow_id", "duration_ms")}`;
  }
}

describe("what a write appends", () => {
  it("an insert +1, a status change -1 and +1, a change of anything else nothing, a delete -1", async () => {
    const user = await createUser(sql);
    const workflow = await createWorkflow(sql, user);
    // One transaction: its deltas are invisible to any fold (pg_cron's too) until it commits.
    await sql.begin(async (tx) => {
      const [{ id }] = await tx`insert into public.workflow_executions (workflow_id, created_by, status) values (${workflow}, ${user}, 'running') returning id`;
      expect(await deltasOf(tx, user)).toEqual([{ status: "running", duration_ms: null, sign: 1, pruned: false }]);
      await tx`update public.workflow_executions set output = '{"a":1}', activities_executed = 3 where id = ${id}`;
      expect(await deltasOf(tx, user)).toHaveLength(1);
      await tx`update public.workflow_executions set status = 'completed', duration_ms = 1234 where id = ${id}`;
      expect(await deltasOf(tx, user)).toEqual([
        { status: "running", duration_ms: null, sign: -1, pruned: false },
        { status: "completed", duration_ms: 1234, sign: 1, pruned: false },
        { status: "running", duration_ms: null, sign: 1, pruned: false },
      ]);
      await tx`delete from public.workflow_executions where id = ${id}`;
      expect(await deltasOf(tx, user)).toHaveLength(4);
      const [{ n }] = await tx`select sum(sign)::int as n from public.execution_stat_deltas where created_by = ${user}`;
      expect(n).toBe(0);
    });
  });

  it("the fold moves deltas into the rollups and deletes them, in batches of at most p_limit", async () => {
    const user = await createUser(sql);
    const workflow = await createWorkflow(sql, user);
    await insertRows(user, workflow, Array.from({ length: 30 }, (_, i) => ({ status: executionStatuses[i % 6], startedAt: new Date(period - DAY - i * HOUR) })));
    const service = createExecutionService({ sql, caller: userCaller(user), temporal: null });
    const before = await service.getStats();
    expect(before.total).toBe(30);
    expect(await foldStatDeltas(sql, 7)).toBeLessThanOrEqual(7);
    expect(await service.getStats()).toEqual(before);
    await foldAllStatDeltas(sql, 5);
    expect(await deltasOf(sql, user)).toEqual([]);
    expect(await service.getStats()).toEqual(before);
    const [{ n }] = await sql`select sum(executions)::int as n from public.execution_stats_rollup where created_by = ${user}`;
    expect(n).toBe(30);
    expect(await sqlState(sql`select private.fold_execution_stat_deltas(0)`)).toBe("22023");
  });
});

describe("the service role's numbers (everyone) are exact with folds and writers running", () => {
  it("series and ranged stats over every owner equal the rows, before, during and after folds", async () => {
    const users = await Promise.all([createUser(sql), createUser(sql), createUser(sql)]);
    const flows = await Promise.all(users.map((u) => createWorkflow(sql, u)));
    const start = new Date(period);
    const service = createExecutionService({ sql, caller: serviceCaller(), temporal: null });
    const expected = async () => {
      const rows = await sql`
        select date_trunc('day', started_at, 'UTC') as day, count(*)::int as n, count(*) filter (where status = 'completed')::int as completed
          from public.workflow_executions where started_at >= ${start} and started_at < ${new Date(period + 5 * DAY)} group by 1 order by 1`;
      return new Map(rows.map((r) => [(r.day as Date).toISOString(), r]));
    };
    const check = async () => {
      const want = await expected();
      const series = await service.getTimeSeries({ bucket: "day", startedAfter: start.toISOString(), startedBefore: new Date(period + 5 * DAY).toISOString() });
      expect(series.buckets).toHaveLength(5);
      for (const b of series.buckets) {
        expect([b.start, b.total, b.byStatus.completed]).toEqual([b.start, want.get(b.start)?.n ?? 0, want.get(b.start)?.completed ?? 0]);
      }
      // An unaligned range: edge hours from the rows, whole hours and days from the rollups.
      const after = new Date(period + 7 * HOUR + 1234);
      const before = new Date(period + 3 * DAY + 5 * HOUR + 17);
      const [{ n }] = await sql`select count(*)::int as n from public.workflow_executions where started_at >= ${after} and started_at < ${before}`;
      expect((await service.getStats({ startedAfter: after.toISOString(), startedBefore: before.toISOString() })).total).toBe(n);
    };
    let writing = true;
    const folder = (async () => {
      while (writing) await foldStatDeltas(sql, 17);
    })();
    await Promise.all(users.map(async (user, u) => {
      for (let k = 0; k < 6; k++) {
        await insertRows(user, flows[u], Array.from({ length: 25 }, (_, i) => ({
          status: executionStatuses[(i + k + u) % 6], startedAt: new Date(period + ((i * 7919 + k * 104729 + u * 13) % (5 * DAY)) + 1),
        })));
        await sql`update public.workflow_executions set status = 'failed', duration_ms = 77 where created_by = ${user} and status = 'running' and started_at >= ${start}`;
        await sql`delete from public.workflow_executions where id in (select id from public.workflow_executions where created_by = ${user} and started_at >= ${start} order by id limit 3)`;
      }
    }));
    await check();
    writing = false;
    await folder;
    await check();
    await foldAllStatDeltas(sql);
    await check();
  });
});

describe("retention keeps history", () => {
  async function pruneAs(db: Sql, user: string, role: "postgres" | "service_role" | "authenticated", where: "terminal" | "all") {
    await db.begin(async (tx) => {
      if (role !== "postgres") {
        await tx`select set_config('role', ${role}, true), set_config('request.jwt.claims', ${JSON.stringify(role === "authenticated" ? userCaller(user).claims : serviceCaller().claims)}, true)`;
      }
      await tx`select set_config('execution_tracker.prune', 'on', true)`;
      if (where === "terminal") {
        await tx`delete from public.workflow_executions where created_by = ${user} and status in ('completed', 'failed', 'cancelled', 'timed_out')`;
      } else {
        await tx`delete from public.workflow_executions where created_by = ${user}`;
      }
    });
  }

  it("a prune deletes terminal rows but the all-time and time-series stats still count them, and say so", async () => {
    const user = await createUser(sql);
    const workflow = await createWorkflow(sql, user);
    const base = period - 20 * DAY;
    await insertRows(user, workflow, Array.from({ length: 48 }, (_, i) => ({ status: executionStatuses[i % 6], startedAt: new Date(base + i * HOUR + 60_000), durationMs: 1000 + i })));
    const service = createExecutionService({ sql, caller: userCaller(user), temporal: null });
    const range = { startedAfter: new Date(base).toISOString(), startedBefore: new Date(base + 2 * DAY).toISOString() };
    const allTime = await service.getStats();
    const ranged = await service.getStats(range);
    const wf = await service.getStats({ workflowId: workflow, ...range });
    const series = await service.getTimeSeries({ bucket: "hour", ...range });
    expect(allTime.history).toEqual({ includesPruned: false, prunedExecutions: 0, prunedBefore: null });

    await foldStatDeltas(sql, 5); // some folded before the prune, the rest after
    await pruneAs(sql, user, "service_role", "terminal");
    const [{ left }] = await sql`select count(*)::int as left from public.workflow_executions where created_by = ${user}`;
    expect(left).toBe(16); // the live ones
    const latestPruned = new Date(base + 47 * HOUR + HOUR).toISOString(); // i = 47 is timed_out: terminal
    const history = { includesPruned: true, prunedExecutions: 32, prunedBefore: latestPruned };
    const same = (got: { history: unknown }, want: { history: unknown }) => expect({ ...got, history: null }).toEqual({ ...want, history: null });
    for (let step = 0; step < 2; step++) { // unfolded, then folded
      const now = await service.getStats();
      same(now, allTime);
      expect(now.history).toEqual(history);
      const nowRanged = await service.getStats(range);
      same(nowRanged, ranged);
      expect(nowRanged.history).toEqual(history);
      same(await service.getStats({ workflowId: workflow, ...range }), wf);
      const nowSeries = await service.getTimeSeries({ bucket: "hour", ...range });
      expect(nowSeries.buckets).toEqual(series.buckets);
      expect(nowSeries.history).toEqual(history);
      const days = await service.getTimeSeries({ bucket: "day", ...range });
      expect(days.history).toEqual(history);
      expect(days.buckets.reduce((n, b) => n + b.total, 0)).toBe(48);
      await foldAllStatDeltas(sql);
    }
    // The service role over everyone counts them too.
    const everyone = await createExecutionService({ sql, caller: serviceCaller(), temporal: null }).getStats(range);
    expect(everyone.history.prunedExecutions).toBeGreaterThanOrEqual(32);
  });

  it("a live row deleted under the flag is subtracted (only terminal runs are history)", async () => {
    const user = await createUser(sql);
    const workflow = await createWorkflow(sql, user);
    await insertRows(user, workflow, [{ status: "running", startedAt: new Date(period - 30 * DAY) }, { status: "completed", startedAt: new Date(period - 30 * DAY) }]);
    await pruneAs(sql, user, "postgres", "all");
    const stats = await createExecutionService({ sql, caller: userCaller(user), temporal: null }).getStats();
    expect([stats.total, stats.byStatus.running, stats.byStatus.completed, stats.history.prunedExecutions]).toEqual([1, 0, 1, 1]);
  });

  it("a user cannot set the flag: their delete always subtracts, in every scope", async () => {
    const user = await createUser(sql);
    const workflow = await createWorkflow(sql, user);
    await insertRows(user, workflow, Array.from({ length: 5 }, () => ({ status: "completed", startedAt: new Date(period - 40 * DAY) })));
    await pruneAs(sql, user, "authenticated", "all");
    const [{ left }] = await sql`select count(*)::int as left from public.workflow_executions where created_by = ${user}`;
    expect(left).toBe(0);
    for (let step = 0; step < 2; step++) {
      const stats = await createExecutionService({ sql, caller: userCaller(user), temporal: null }).getStats();
      expect([stats.total, stats.history.prunedExecutions]).toEqual([0, 0]);
      await foldAllStatDeltas(sql);
    }
  });
});

describe("access", () => {
  it("users read only their own deltas and cannot write them or run the fold; anon nothing", async () => {
    const alice = await createUser(sql);
    const bob = await createUser(sql);
    const workflow = await createWorkflow(sql, alice);
    await sql.begin(async (tx) => {
      await tx`insert into public.workflow_executions (workflow_id, created_by, status) values (${workflow}, ${alice}, 'running')`;
      await tx`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', ${JSON.stringify(userCaller(bob).claims)}, true)`;
      const [{ n }] = await tx`select count(*)::int as n from public.execution_stat_deltas where created_by = ${alice}`;
      expect(n).toBe(0);
    });
    await asRole(sql, alice, async (tx) => {
      for (const statement of [
        `insert into public.execution_stat_deltas (created_by, workflow_id, started_at, status, sign) values ('${alice}', '${workflow}', now(), 'completed', 1)`,
        `delete from public.execution_stat_deltas`,
        `update public.execution_period_stats set executions = 0`,
        `select private.fold_execution_stat_deltas(10)`,
      ]) {
        expect(await sqlState(tx.savepoint((sp) => sp.unsafe(statement))), statement).toBe("42501");
      }
    });
    await sql.begin(async (tx) => {
      await tx`set local role anon`;
      expect(await sqlState(tx.savepoint((sp) => sp`select * from public.execution_stat_deltas limit 1`))).toBe("42501");
      expect(await sqlState(tx.savepoint((sp) => sp`select * from public.execution_stats_overview()`))).toBe("42501");
    });
  });
});

describe("truncate and rebuild (a database of their own)", () => {
  const name = `stat_deltas_${randomUUID().replaceAll("-", "")}`;
  let own: Sql;
  beforeAll(async () => {
    own = connect(await createMigratedDatabase(databaseUrl(), name), { max: 2 });
  }, 120_000);
  afterAll(async () => {
    await own?.end({ timeout: 1 });
    await dropDatabase(databaseUrl(), name);
  });

  it("truncate empties the deltas and every rollup; rebuild recounts from the rows and drops the deltas", async () => {
    const user = await createUser(own);
    const workflow = await createWorkflow(own, user);
    const rows = Array.from({ length: 40 }, (_, i) => ({ workflow_id: workflow, created_by: user, status: executionStatuses[i % 6], started_at: new Date(period + i * 5 * HOUR) }));
    await own`insert into public.workflow_executions ${own(rows, "workflow_id", "created_by", "status", "started_at")}`;
    const rollupTables = ["execution_stat_deltas", "execution_stats_rollup", "execution_duration_bins", "execution_owner_duration_bins", "execution_hourly_stats_rollup",
      "execution_hourly_duration_bins", "execution_period_stats", "execution_period_duration_bins"];
    const counts = async () => Object.fromEntries(await Promise.all(rollupTables.map(async (t) => [t, (await own.unsafe(`select count(*)::int as n from public.${t}`))[0].n])));
    const service = createExecutionService({ sql: own, caller: userCaller(user), temporal: null });
    const want = await service.getTimeSeries({ bucket: "day", startedAfter: new Date(period).toISOString(), startedBefore: new Date(period + 9 * DAY).toISOString() });
    await foldStatDeltas(own, 10);
    // A rebuild with deltas still unfolded: the same numbers, no deltas left.
    await own`select private.rebuild_execution_rollups()`;
    expect((await counts()).execution_stat_deltas).toBe(0);
    expect(await service.getTimeSeries({ bucket: "day", startedAfter: new Date(period).toISOString(), startedBefore: new Date(period + 9 * DAY).toISOString() })).toEqual(want);
    expect((await service.getStats()).total).toBe(40);
    await own`update public.workflow_executions set status = 'completed' where status = 'running'`; // fresh deltas
    await own`truncate public.workflow_executions cascade`;
    expect(Object.values(await counts())).toEqual(rollupTables.map(() => 0));
    expect((await service.getStats()).total).toBe(0);
  });

  it("the fold (one aggregation of each batch, then the scopes) leaves every rollup as a recount from the rows does", async () => {
    const users = [await createUser(own), await createUser(own)];
    const workflows = [await createWorkflow(own, users[0]), await createWorkflow(own, users[0]), await createWorkflow(own, users[1])];
    const owners = [users[0], users[0], users[1]];
    // Many deltas per (owner, workflow, status, hour, bin) and per scope: equal durations, nulls, 0 ms, days apart.
    const rows = Array.from({ length: 300 }, (_, i) => {
      const status = executionStatuses[i % 6];
      return { workflow_id: workflows[i % 3], created_by: owners[i % 3], status, started_at: new Date(period + (i % 50) * 7 * HOUR + (i % 7) * 60_000),
        temporal_workflow_id: status === "pending" ? null : `fold-${randomUUID()}`,
        duration_ms: isTerminal(status as never) ? [0, 5, 1000, 1000, 123_456][i % 5] : null };
    });
    await own`insert into public.workflow_executions ${own(rows, "workflow_id", "created_by", "status", "started_at", "temporal_workflow_id", "duration_ms")}`;
    await foldStatDeltas(own, 37);
    await own`update public.workflow_executions set status = 'completed', duration_ms = 2000 where status = 'running'`;
    await own`delete from public.workflow_executions where status = 'failed' and duration_ms = 5`;
    await foldAllStatDeltas(own, 53);
    const tables: Record<string, string> = {
      execution_stats_rollup: "created_by, workflow_id, status, executions, durations_counted, duration_ms_sum",
      execution_duration_bins: "created_by, workflow_id, bin, executions",
      execution_owner_duration_bins: "created_by, bin, executions",
      execution_hourly_stats_rollup: "created_by, hour, workflow_id, status, executions, durations_counted, duration_ms_sum",
      execution_hourly_duration_bins: "created_by, hour, workflow_id, bin, executions",
      execution_period_stats: "created_by, workflow_id, period, period_start, status, executions, durations_counted, duration_ms_sum",
      execution_period_duration_bins: "created_by, workflow_id, period, period_start, bin, executions",
    };
    // Rows whose counts all cancelled out are zero rows a recount does not have.
    const snapshot = async () => Object.fromEntries(await Promise.all(Object.entries(tables).map(async ([t, cols]) =>
      [t, await own.unsafe(`select ${cols} from public.${t} where executions <> 0 order by ${cols}`)])));
    const folded = await snapshot();
    expect(folded.execution_period_stats.length).toBeGreaterThan(50);
    await own`select private.rebuild_execution_rollups()`;
    expect(folded).toEqual(await snapshot());
  });
});

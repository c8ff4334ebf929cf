/**
 * Retention that keeps history (issue 11; docs/architecture.md §5.6): the sweeper's retention
 * step deletes terminal executions by the age of started_at, globally (`retentionDays`) and per
 * owner (public.execution_retention_policies, which can only shorten: least(policy, global)),
 * in bounded batches that never wait for a writer, each found through an index, and without
 * taking the pruned runs out of the statistics.
 *
 * Real PostgreSQL, a database of its own: the global period deletes every owner's old rows, and
 * the plan test needs planner statistics nobody else moves. No Temporal: pruning terminal rows
 * must not need it (and must create no stop request that would).
 */
import { randomUUID } from "node:crypto";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withCaller } from "../../shared/db.ts";
import { foldAllStatDeltas } from "../../shared/repository/stats.ts";
import { createExecutionService } from "../../shared/service.ts";
import * as retention from "../../shared/repository/retention.ts";
import { sweep, type SweepOptions } from "../../shared/sweeper.ts";
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
  userCaller,
} from "../support/postgres.ts";

const dbName = `et_retention_${randomUUID().slice(0, 8)}`;
let url: string;
let sql: Sql;
const logged: string[] = [];
const log = (message: string, error?: unknown) => logged.push(`${message} ${error ?? ""}`);

const day = 86_400_000;
const terminalStatuses = ["completed", "failed", "cancelled", "timed_out"] as const;

beforeAll(async () => {
  url = await createMigratedDatabase(databaseUrl(), dbName);
  sql = connect(url);
}, 300_000);

afterAll(async () => {
  await sql?.end({ timeout: 1 });
  await dropDatabase(databaseUrl(), dbName);
});

/** Sweeps (no Temporal) until nothing is left; returns every report. */
async function sweepUntilDone(options: SweepOptions) {
  const reports = [];
  for (let i = 0; i < 100; i++) {
    const report = await sweep({ sql, temporal: null, log }, options);
    reports.push(report);
    if (report.complete) return reports;
  }
  throw new Error("the sweeper never completed");
}

/** One row per age (days before now), with the given status; returns the ids by age. */
async function seedAges(owner: string, workflow: string, ages: number[], status: string, extra: Record<string, unknown> = {}) {
  const ids = new Map<number, string>();
  for (const age of ages) {
    const startedAt = new Date(Date.now() - age * day);
    const terminal = status !== "running" && status !== "pending";
    const [row] = await sql`
      insert into public.workflow_executions ${sql({
        workflow_id: workflow, created_by: owner, status, started_at: startedAt.toISOString(),
        ...(terminal ? { completed_at: new Date(startedAt.getTime() + 1000).toISOString(), duration_ms: "1000" } : {}),
        ...extra,
      } as unknown as Record<string, string>)}
      returning id`;
    ids.set(age, row.id);
  }
  return ids;
}

/** `rows` expired rows of `owner`, set-based: started 40 to 60 days ago, every terminal status. */
async function seedExpired(owner: string, workflow: string, rows: number) {
  await sql`
    insert into public.workflow_executions (workflow_id, created_by, status, started_at, completed_at, duration_ms)
    select ${workflow}, ${owner}, (${terminalStatuses as unknown as string[]}::text[])[1 + i % 4],
           now() - interval '40 days' - i * interval '7 minutes', now() - interval '40 days' - i * interval '7 minutes' + interval '2 seconds', 2000
      from generate_series(1, ${rows}) i`;
}

const remaining = async (ids: Iterable<string>) =>
  (await sql`select id from public.workflow_executions where id = any(${[...ids]}::uuid[])`).map((row) => row.id as string).sort();

const setPolicy = (owner: string, days: number) =>
  sql`insert into public.execution_retention_policies (created_by, retention_days) values (${owner}, ${days})
      on conflict (created_by) do update set retention_days = excluded.retention_days, updated_at = now()`;

describe("who keeps what", () => {
  it("deletes terminal rows past the global period, or past a shorter policy of their owner; a longer policy keeps no more than the global", async () => {
    const [plain, short, long] = [await createUser(sql), await createUser(sql), await createUser(sql)];
    await setPolicy(short, 7);
    await setPolicy(long, 90); // longer than the global 30: least(90, 30)
    const ages = [3, 8, 20, 29, 31, 45, 120];
    const rows = new Map<string, Map<number, string>>();
    const live = new Map<string, string[]>();
    for (const owner of [plain, short, long]) {
      const workflow = await createWorkflow(sql, owner);
      rows.set(owner, await seedAges(owner, workflow, ages, terminalStatuses[ages.length % 4]));
      // Live rows never go, however old.
      live.set(owner, [...(await seedAges(owner, workflow, [45, 120], "running")).values(), ...(await seedAges(owner, workflow, [200], "pending")).values()]);
    }

    const reports = await sweepUntilDone({ retentionDays: 30 });
    const kept = (owner: string, days: number[]) => days.map((age) => rows.get(owner)!.get(age)!).sort();
    const all = (owner: string) => [...rows.get(owner)!.values(), ...live.get(owner)!];
    expect(await remaining(all(plain))).toEqual([...kept(plain, [3, 8, 20, 29]), ...live.get(plain)!].sort());
    expect(await remaining(all(short))).toEqual([...kept(short, [3]), ...live.get(short)!].sort());
    expect(await remaining(all(long))).toEqual([...kept(long, [3, 8, 20, 29]), ...live.get(long)!].sort());

    const deleted = reports.reduce((n, report) => n + report.retention.deleted, 0);
    const byPolicy = reports.reduce((n, report) => n + report.retention.deletedByOwnerPolicy, 0);
    expect(deleted).toBe(3 + 6 + 3);
    expect(byPolicy).toBe(6); // the policy pass runs first: all of short's; the global pass the rest past 30 days
    expect(reports.at(-1)!.retention.failures).toBe(0);
  });

  it("without a global period, only the owners with a policy lose rows", async () => {
    const [plain, withPolicy] = [await createUser(sql), await createUser(sql)];
    await setPolicy(withPolicy, 10);
    const ages = [5, 15, 400];
    const plainRows = await seedAges(plain, await createWorkflow(sql, plain), ages, "failed");
    const policyRows = await seedAges(withPolicy, await createWorkflow(sql, withPolicy), ages, "completed");

    const reports = await sweepUntilDone({ retentionDays: null });
    expect(await remaining(plainRows.values())).toEqual([...plainRows.values()].sort());
    expect(await remaining(policyRows.values())).toEqual([policyRows.get(5)!]);
    expect(reports.reduce((n, report) => n + report.retention.deletedByOwnerPolicy, 0)).toBe(2);
  });

  it("prunes an original whose ended retry is kept: the retry stays, its retryOf cleared by the foreign key", async () => {
    const owner = await createUser(sql);
    const workflow = await createWorkflow(sql, owner);
    const original = (await seedAges(owner, workflow, [50], "failed")).get(50)!;
    const retry = (await seedAges(owner, workflow, [10], "completed", { retry_of: original })).get(10)!;
    const reports = await sweepUntilDone({ retentionDays: 30 });
    expect(reports.reduce((n, report) => n + report.retention.failures, 0)).toBe(0);
    expect(await remaining([original, retry])).toEqual([retry]);
    expect((await sql`select retry_of, status from public.workflow_executions where id = ${retry}`)[0]).toEqual({ retry_of: null, status: "completed" });
  });

  it("deletes acted-on terminal rows without a tombstone, a stop request or a webhook", async () => {
    const owner = await createUser(sql);
    const workflow = await createWorkflow(sql, owner, { temporalWorkflowType: "completesWorkflow", taskQueue: "retention" });
    const ids: string[] = [];
    for (const status of terminalStatuses) {
      // Registered by the service role (superuser here): a run the tracker acts on in Temporal.
      ids.push(...(await seedAges(owner, workflow, [50], status, { temporal_workflow_id: `retention-${randomUUID()}` })).values());
    }
    expect((await sql`select count(*)::int as n from public.workflow_executions where id = any(${ids}::uuid[]) and temporal_link <> 'reported'`)[0].n).toBe(4);
    const [before] = await sql`select (select count(*) from public.execution_stop_requests)::int as stops, (select count(*) from net.http_request_queue)::int as webhooks`;

    await sweepUntilDone({ retentionDays: 30 });
    expect(await remaining(ids)).toEqual([]);
    const [after] = await sql`select (select count(*) from public.execution_stop_requests)::int as stops, (select count(*) from net.http_request_queue)::int as webhooks`;
    expect(after).toEqual(before);
    expect((await sql`select count(*)::int as n from public.execution_stop_requests where execution_id = any(${ids}::uuid[])`)[0].n).toBe(0);
  });
});

describe("the policies", () => {
  it("are the service role's only: a user can neither read nor write them; a period is a positive number of days", async () => {
    const user = await createUser(sql);
    expect(await sqlState(asRole(sql, user, (tx) => tx`select * from public.execution_retention_policies`))).toBe("42501");
    expect(await sqlState(asRole(sql, user, (tx) => tx`insert into public.execution_retention_policies values (${user}, 1)`))).toBe("42501");
    expect(await sqlState(asRole(sql, null, (tx) => tx`insert into public.execution_retention_policies (created_by, retention_days) values (${user}, 0)`))).toBe("23514");
    await asRole(sql, null, (tx) => tx`insert into public.execution_retention_policies (created_by, retention_days) values (${user}, 3)`);
    expect((await sql`select retention_days from public.execution_retention_policies where created_by = ${user}`)[0].retention_days).toBe(3);
    await sql`delete from auth.users where id = ${user}`; // the policy goes with its owner
    expect(await sql`select from public.execution_retention_policies where created_by = ${user}`).toHaveLength(0);
  });
});

describe("history survives", () => {
  it("after pruning, all-time, ranged and time-series stats still count the pruned runs, and say how many were pruned", async () => {
    const owner = await createUser(sql);
    const workflow = await createWorkflow(sql, owner);
    const pruned = 57;
    await seedExpired(owner, workflow, pruned); // 40 to 47 days old
    await seedAges(owner, workflow, [1, 2, 3], "completed");
    await seedAges(owner, workflow, [2], "failed");
    await seedAges(owner, workflow, [45], "running"); // live: kept, and counted as it is
    const service = createExecutionService({ sql, caller: userCaller(owner), temporal: null });
    const sixtyDaysAgo = new Date(Math.floor(Date.now() / day) * day - 60 * day).toISOString(); // a UTC day boundary
    const read = async () => ({
      allTime: await service.getStats(),
      ranged: await service.getStats({ startedAfter: sixtyDaysAgo }),
      workflow: await service.getStats({ workflowId: workflow }),
      series: await service.getTimeSeries({ bucket: "day", startedAfter: sixtyDaysAgo }),
    });
    const numbers = ({ history: _, ...rest }: { history: unknown }) => rest;
    const before = await read();
    expect(before.allTime.total).toBe(pruned + 5);
    expect(before.allTime.history).toEqual({ includesPruned: false, prunedExecutions: 0, prunedBefore: null });

    const reports = await sweepUntilDone({ retentionDays: 30 });
    expect(reports.reduce((n, report) => n + report.retention.deleted, 0)).toBe(pruned);
    expect((await sql`select count(*)::int as n from public.workflow_executions where created_by = ${owner}`)[0].n).toBe(5);

    // Unfolded (the pruned deltas as they are) and folded: the same numbers.
    for (const fold of [false, true]) {
      if (fold) await foldAllStatDeltas(sql);
      const after = await read();
      expect(numbers(after.allTime)).toEqual(numbers(before.allTime));
      expect(numbers(after.ranged)).toEqual(numbers(before.ranged));
      expect(numbers(after.workflow)).toEqual(numbers(before.workflow));
      expect(after.series.buckets).toEqual(before.series.buckets);
      for (const answer of [after.allTime, after.ranged, after.workflow, after.series]) {
        expect(answer.history).toMatchObject({ includesPruned: true, prunedExecutions: pruned });
        // Every pruned run started 40 or more days ago: before the end of the (UTC hour or day) bucket of the newest one.
        expect(Date.parse(answer.history.prunedBefore!)).toBeLessThanOrEqual(Date.now() - 39 * day);
      }
    }
  });

  it("the sweeper's first phase folds the stat deltas writes appended", async () => {
    const owner = await createUser(sql);
    await seedAges(owner, await createWorkflow(sql, owner), [1, 2, 3, 4, 5], "completed");
    const [{ n: unfolded }] = await sql`select count(*)::int as n from public.execution_stat_deltas`;
    expect(unfolded).toBeGreaterThan(0);
    const report = await sweep({ sql, temporal: null, log }, { retentionDays: null });
    expect(report.stats).toMatchObject({ folded: unfolded, failures: 0, stoppedBy: null });
    expect((await sql`select count(*)::int as n from public.execution_stat_deltas`)[0].n).toBe(0);
  });
});

describe("batches, budget and resume", () => {
  it("deletes at most batchSize rows per batch and maxBatches batches per run, says what it left, and the next runs finish it", async () => {
    const owner = await createUser(sql);
    const workflow = await createWorkflow(sql, owner);
    const total = 2_345;
    await seedExpired(owner, workflow, total);
    const options = { retentionDays: 30, batchSize: 100, maxBatches: 4 };

    const first = await sweep({ sql, temporal: null, log }, options);
    expect(first.complete).toBe(false);
    expect(first.retention.stoppedBy).toBe("max_batches");
    expect(first.retention.deleted).toBe(400);
    expect(first.retention.left).toBe(total - 400);

    const rest = await sweepUntilDone(options);
    const deleted = rest.reduce((n, report) => n + report.retention.deleted, first.retention.deleted);
    expect(deleted).toBe(total); // each row deleted exactly once over the runs
    for (const report of rest) expect(report.retention.deleted).toBeLessThanOrEqual(400);
    expect(rest.at(-1)!.retention).toMatchObject({ stoppedBy: null, left: 0 });
    expect((await sql`select count(*)::int as n from public.workflow_executions where created_by = ${owner}`)[0].n).toBe(0);
  });

  it("stops inside its time budget and resumes", async () => {
    const owner = await createUser(sql);
    const workflow = await createWorkflow(sql, owner);
    const total = 3_000;
    await seedExpired(owner, workflow, total);
    // 100 ms for all five phases: the retention phase gets a fraction of it, one 50-row batch at a time.
    const reports = await sweepUntilDone({ retentionDays: 30, batchSize: 50, budgetMs: 100 });
    expect(reports.length).toBeGreaterThan(1);
    expect(reports.slice(0, -1).every((report) => report.retention.stoppedBy === "budget" && report.retention.left > 0)).toBe(true);
    expect(reports.reduce((n, report) => n + report.retention.deleted, 0)).toBe(total);
    console.log(`retention: ${total} rows in ${reports.length} runs of 100 ms, ${reports.map((r) => r.retention.deleted).join(" ")}`);
  });
});

describe("never in a writer's way", () => {
  it("a batch held open blocks no create, update or other sweeper (every wait would hit lock_timeout)", async () => {
    const owner = await createUser(sql);
    const workflow = await createWorkflow(sql, owner);
    await seedExpired(owner, workflow, 300);
    const [liveRow] = (await seedAges(owner, workflow, [1], "running")).values();
    const pruner = connect(url, { max: 1 });
    const writer = connect(url, { max: 1 });
    try {
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      let firstBatch: string[] = [];
      let holding!: () => void;
      const held = new Promise<void>((resolve) => (holding = resolve));
      const batch = withCaller(pruner, serviceCaller(), async (tx) => {
        await retention.markAsPruning(tx);
        firstBatch = (await retention.pruneExpired(tx, { retentionDays: 30 }, null, { limit: 200, skip: [] })).map((row) => row.id);
        holding();
        await released; // the batch's locks are held until the writers are done
      });
      await held;
      expect(firstBatch).toHaveLength(200);

      const writes = await writer.begin(async (tx) => {
        // Any wait for a lock fails this transaction after 3 s (no timing is asserted: a block is an error).
        await tx`set local lock_timeout = '3s'`;
        const [created] = await tx`
          insert into public.workflow_executions (workflow_id, created_by, status) values (${workflow}, ${owner}, 'running') returning id`;
        await tx`update public.workflow_executions set status = 'completed', completed_at = now(), duration_ms = 5 where id = ${liveRow}`;
        // Another sweeper's batch takes the other rows, skipping the locked ones without waiting.
        await tx`select set_config('execution_tracker.prune', 'on', true)`;
        const other = await retention.pruneExpired(tx as unknown as postgres.Sql, { retentionDays: 30 }, null, { limit: 1000, skip: [] });
        return { created: created.id as string, other: other.map((row) => row.id) };
      }).finally(() => release());
      await batch;
      expect(writes.created).toBeTruthy();
      expect(writes.other).toHaveLength(100);
      expect(writes.other.filter((id) => firstBatch.includes(id))).toEqual([]);
    } finally {
      await pruner.end({ timeout: 1 });
      await writer.end({ timeout: 1 });
    }
  });
});

describe("each batch through an index", () => {
  interface PlanNode {
    "Node Type": string;
    "Relation Name"?: string;
    "Index Name"?: string;
    "Sort Key"?: string[];
    Plans?: PlanNode[];
  }
  const walk = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(walk)];

  it("reads idx_workflow_executions_started (global) and idx_workflow_executions_created_by (per owner), never a sequential scan of the executions", async () => {
    const owners = 200;
    const total = 40_000;
    // 200 owners, the first 20 with a 7-day policy; 40,000 rows over 60 days in shuffled heap order, 90% terminal.
    // Owner 1 (a policy) is heavy: a quarter of all rows.
    await sql.begin(async (tx) => {
      await tx`
        insert into auth.users (id, email)
        select md5('rt-user-' || u)::uuid, 'rt' || u || '@test.local' from generate_series(1, ${owners}) u`;
      await tx`
        insert into public.workflows (id, name, created_by)
        select md5('rt-wf-' || u)::uuid, 'workflow', md5('rt-user-' || u)::uuid from generate_series(1, ${owners}) u`;
      await tx`
        insert into public.execution_retention_policies (created_by, retention_days)
        select md5('rt-user-' || u)::uuid, 7 from generate_series(1, 20) u`;
      await tx`
        insert into public.workflow_executions (workflow_id, created_by, status, started_at, completed_at, duration_ms)
        select md5('rt-wf-' || u)::uuid, md5('rt-user-' || u)::uuid, s.status, t.started_at,
               case when s.status in ('pending', 'running') then null else t.started_at + interval '1 second' end,
               case when s.status in ('pending', 'running') then null else 1000 end
          from generate_series(1, ${total}) i,
               lateral (select case when i % 4 = 0 then 1 else 2 + i % ${owners - 1} end) o(u),
               lateral (select now() - i * interval '129 seconds') t(started_at),
               lateral (select (case when i % 10 = 0 then 'running' when i % 10 < 7 then 'completed' else 'failed' end)::public.execution_status) s(status)
         order by md5(i::text)`;
    });
    await sql`analyze auth.users, public.workflows, public.workflow_executions, public.execution_retention_policies`;

    const captured: { query: string; parameters: unknown[] }[] = [];
    const traced = connect(url, { max: 1, debug: (_id: number, query: string, parameters: unknown[]) => captured.push({ query, parameters }) });
    try {
      const report = await sweep({ sql: traced, temporal: null, log }, { retentionDays: 30, batchSize: 500, maxBatches: 2 });
      expect(report.retention.deletedByOwnerPolicy).toBeGreaterThan(1000);
      expect(report.retention.deleted - report.retention.deletedByOwnerPolicy).toBe(2 * 500); // the global rule: two batches
      const batches = captured.filter((c) => c.query.includes("delete from public.workflow_executions e"));
      const [heavy] = await sql`select md5('rt-user-1')::uuid::text as id`;
      let explained = { global: 0, heavyOwner: 0, owners: 0 };
      for (const statement of batches) {
        const plan = await withCaller(sql, serviceCaller(), async (tx) => {
          const parameters = statement.parameters as postgres.ParameterOrJSON<never>[];
          const [row] = await tx.unsafe(`explain (format json) ${statement.query}`, parameters);
          const text = (await tx.unsafe(`explain (costs off) ${statement.query}`, parameters)).map((r) => r["QUERY PLAN"] as string).join("\n");
          return { nodes: walk((row["QUERY PLAN"] as { Plan: PlanNode }[])[0].Plan), text };
        });
        const seqScans = plan.nodes.filter((node) => node["Node Type"] === "Seq Scan" && node["Relation Name"] === "workflow_executions");
        expect(seqScans, plan.text).toEqual([]);
        const indexes = plan.nodes.filter((node) => node["Relation Name"] === "workflow_executions").map((node) => node["Index Name"]);
        const owner = statement.query.includes("e.created_by =") ? (statement.parameters[0] as string) : null;
        if (!owner) {
          expect(indexes, plan.text).toContain("idx_workflow_executions_started");
          if (explained.global++ === 1) console.log(`retention batch, global rule, resumed:\n${plan.text}`);
        } else if (owner === heavy.id) {
          // The heavy owner's rule reads its rows in order and stops after the batch: no bitmap of all of them, no sort.
          expect(indexes, plan.text).toContain("idx_workflow_executions_created_by");
          const rowSorts = plan.nodes.filter((node) => node["Node Type"] === "Sort" && !(node["Sort Key"] ?? []).every((key) => key.startsWith("pruned.")));
          expect(rowSorts, plan.text).toEqual([]); // only the batch's own 500 deleted rows are sorted, for the cursor
          if (explained.heavyOwner++ === 1) console.log(`retention batch, a heavy owner's rule, resumed:\n${plan.text}`);
        } else {
          explained.owners++;
        }
        // Every deleted row is found again by primary key.
        expect(plan.nodes.some((node) => node["Index Name"] === "workflow_executions_pkey"), plan.text).toBe(true);
      }
      expect(explained).toMatchObject({ global: 2, heavyOwner: 2 });
      expect(explained.owners).toBeGreaterThan(0);
    } finally {
      await traced.end({ timeout: 1 });
    }
  }, 120_000);
});

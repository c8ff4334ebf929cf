/**
 * Bulk actions by filter (docs/architecture.md §5.4) on real PostgreSQL (a database of its
 * own: the processor takes any unfinished action): cancel, delete and retry by filter, the dry
 * run's count against the real count, the per-request bound, idempotent request ids (also
 * concurrent), the snapshot (rows created later are not acted on), resuming after a lease
 * expired, RLS (another tenant's rows are never touched, even when an item names one), rows a
 * writer holds are skipped rather than waited for, and a create completes while a batch holds
 * its rows. The last part runs a real Temporal dev server and worker: a bulk cancel stops each
 * acted-on run exactly once, counted in Temporal's own histories.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ownerCaller, processBulkActions } from "../../shared/bulk/processor.ts";
import { createBulkService } from "../../shared/bulk/service.ts";
import { withCaller } from "../../shared/db.ts";
import { ConflictError, TooManyMatchesError } from "../../shared/errors.ts";
import { serviceCaller } from "../../shared/identity.ts";
import * as repo from "../../shared/repository/bulk.ts";
import { retryExecution } from "../../shared/retry.ts";
import { createExecutionService } from "../../shared/service.ts";
import { processStopRequests } from "../../shared/stops.ts";
import { createHttpTemporalGateway } from "../../shared/temporal/http-gateway.ts";
import type { TemporalGateway } from "../../shared/temporal/gateway.ts";
import type { BulkActionRequest } from "../../shared/bulk/schemas.ts";
import { asRole, connect, createMigratedDatabase, createUser, createWorkflow, databaseUrl, dropDatabase, type Sql, userCaller } from "../support/postgres.ts";
import { startTemporalDevServer, type TemporalDevServer } from "../support/temporal-server.ts";
import { startTestWorker, type TestWorker } from "../support/temporal-worker.ts";
import { until } from "../support/wait.ts";
import { temporalEvents } from "../faults/support.ts";

const dbName = `et_bulk_${randomUUID().slice(0, 8)}`;
let sql: Sql;
const quiet = () => {};

beforeAll(async () => {
  sql = connect(await createMigratedDatabase(databaseUrl(), dbName), { max: 8 });
}, 300_000);

afterAll(async () => {
  await sql?.end({ timeout: 1 });
  await dropDatabase(databaseUrl(), dbName);
});

const bulkFor = (owner: string, options: Parameters<typeof createBulkService>[1] = {}, temporal: TemporalGateway | null = null) =>
  createBulkService({ sql, caller: userCaller(owner), temporal, log: quiet }, { inlineBudgetMs: 0, ...options });
const process = (options: Parameters<typeof processBulkActions>[1] = {}, temporal: TemporalGateway | null = null) =>
  processBulkActions({ sql, temporal, log: quiet }, { requestMoreWhenLeft: false, ...options });
const request = (action: BulkActionRequest["action"], filter: BulkActionRequest["filter"], extra: Partial<BulkActionRequest> = {}): BulkActionRequest =>
  ({ action, filter, requestId: randomUUID(), ...extra });
const accepted = async (result: Awaited<ReturnType<ReturnType<typeof createBulkService>["submit"]>>) => {
  if (result.kind !== "accepted") throw new Error("expected an accepted action");
  return result.action;
};

/**
 * `count` rows of `workflowId` for `owner`, inserted by the test's superuser: with a Temporal
 * id they are `registered` (the tracker acts on them: a cancel becomes a stop request), without
 * one `reported` (a cancel ends them at once).
 */
async function seed(owner: string, workflowId: string, count: number, options: { status?: string; acted?: boolean; startedAt?: string } = {}) {
  const rows = await sql`
    insert into public.workflow_executions (workflow_id, created_by, status, started_at, temporal_workflow_id, completed_at)
    select ${workflowId}, ${owner}, ${options.status ?? "running"}, ${options.startedAt ?? "2026-11-01T00:00:00Z"}::timestamptz + make_interval(secs => i),
           case when ${options.acted ?? false} then 'bulk-test-' || gen_random_uuid() end,
           case when ${options.status ?? "running"} not in ('pending', 'running') then now() end
      from generate_series(1, ${count}) i
    returning id`;
  return rows.map((row) => row.id as string);
}

const statusesOf = async (ids: string[]) =>
  Object.fromEntries((await sql`select id, status::text, stop_requested_at from public.workflow_executions where id = any(${ids}::uuid[])`)
    .map((row) => [row.id, row.stop_requested_at && ["pending", "running"].includes(row.status) ? `${row.status}+stop` : row.status]));
const countBy = (statuses: Record<string, string>) =>
  Object.values(statuses).reduce<Record<string, number>>((counts, status) => ({ ...counts, [status]: (counts[status] ?? 0) + 1 }), {});

describe("dry run and bound", () => {
  it("the dry run's count is the real count of the filter, and changes nothing", async () => {
    const owner = await createUser(sql);
    const workflowId = await createWorkflow(sql, owner);
    const other = await createWorkflow(sql, owner);
    await seed(owner, workflowId, 7);
    await seed(owner, workflowId, 3, { status: "completed" });
    await seed(owner, other, 4);
    await seed(owner, workflowId, 2, { startedAt: "2026-10-01T00:00:00Z" });
    const filter = { status: ["running" as const], workflowId, startedAfter: "2026-10-15T00:00:00Z" };
    const result = await bulkFor(owner).submit(request("cancel", filter, { dryRun: true }));
    const [real] = await sql`
      select count(*)::int as n from public.workflow_executions
       where created_by = ${owner} and status = 'running' and workflow_id = ${workflowId} and started_at >= '2026-10-15T00:00:00Z'`;
    expect(result).toEqual({ kind: "dryRun", answer: { dryRun: true, matched: real.n, limit: 100_000, withinLimit: true } });
    expect(real.n).toBe(7);
    const [records] = await sql`select count(*)::int as n from public.execution_bulk_actions where created_by = ${owner}`;
    expect(records.n).toBe(0);
    expect(countBy(await statusesOf(await sql`select id from public.workflow_executions where created_by = ${owner}`.then((r) => r.map((x) => x.id))))).toEqual({ running: 13, completed: 3 });
  });

  it("a tags or metadata filter counts and snapshots through the side table: exactly the rows the filter names on the row itself", async () => {
    const owner = await createUser(sql);
    const stranger = await createUser(sql);
    const workflowId = await createWorkflow(sql, owner);
    const ids = await seed(owner, workflowId, 12);
    const theirs = await seed(stranger, await createWorkflow(sql, stranger), 3);
    await sql`update public.workflow_executions set tags = '{a}' where id = any(${ids.slice(0, 6)}::uuid[]) or id = any(${theirs}::uuid[])`;
    await sql`update public.workflow_executions set tags = '{a,b}' where id = any(${ids.slice(6, 9)}::uuid[])`;
    await sql`update public.workflow_executions set metadata = '{"env":"prod"}' where id = any(${ids.slice(4, 8)}::uuid[])`;
    await sql`update public.workflow_executions set status = 'completed', completed_at = now() where id = ${ids[0]}`;
    const filters = [
      { tags: ["a"] },
      { tags: ["a", "b"] },
      { tags: ["b"], status: ["running" as const] },
      { metadata: { env: "prod" } },
      { tags: ["a"], metadata: { env: "prod" }, status: ["running" as const] },
      { tags: ["a"], startedAfter: "2026-11-01T00:00:03Z" },
    ];
    for (const filter of filters) {
      const [real] = await sql`
        select count(*)::int as n from public.workflow_executions e
         where e.created_by = ${owner} and e.tags @> ${filter.tags ?? []}::text[]
           and e.metadata @> ${sql.json((filter.metadata ?? {}) as never)}::jsonb
           and (${filter.status?.[0] ?? null}::text is null or e.status = ${filter.status?.[0] ?? null}::text)
           and (${filter.startedAfter ?? null}::timestamptz is null or e.started_at >= ${filter.startedAfter ?? null}::timestamptz)`;
      const result = await bulkFor(owner).submit(request("cancel", filter, { dryRun: true }));
      expect({ filter, matched: result.kind === "dryRun" ? result.answer.matched : -1 }).toEqual({ filter, matched: real.n });
    }
    const action = await accepted(await bulkFor(owner).submit(request("cancel", { tags: ["a"], status: ["running"] })));
    const items = await sql`select execution_id from public.execution_bulk_action_items where action_id = ${action.id} order by execution_id`;
    expect(items.map((i) => i.execution_id)).toEqual(ids.slice(1, 9).sort());
    expect(action.matched).toBe(8);
    expect(await process({ actionId: action.id })).toMatchObject({ done: 8 }); // no items left behind for the next test's count
  });

  it("more matches than the bound: 400 too_many_matches naming the count and the bound, nothing written; the dry run says so first", async () => {
    const owner = await createUser(sql);
    const workflowId = await createWorkflow(sql, owner);
    await seed(owner, workflowId, 6);
    const bulk = bulkFor(owner, { maxMatches: 5 });
    expect(await bulk.submit(request("delete", {}, { dryRun: true }))).toEqual({
      kind: "dryRun", answer: { dryRun: true, matched: 6, limit: 5, withinLimit: false },
    });
    const error = await bulk.submit(request("delete", {})).catch((e) => e);
    expect(error).toBeInstanceOf(TooManyMatchesError);
    expect(error.details).toEqual({ matched: 6, limit: 5 });
    const [records] = await sql`select count(*)::int as n from public.execution_bulk_actions where created_by = ${owner}`;
    const [items] = await sql`select count(*)::int as n from public.execution_bulk_action_items`;
    const [rows] = await sql`select count(*)::int as n from public.workflow_executions where created_by = ${owner}`;
    expect([records.n, rows.n]).toEqual([0, 6]);
    expect(items.n).toBe(0);
    // Exactly the bound is fine.
    expect((await accepted(await bulkFor(owner, { maxMatches: 6 }).submit(request("delete", {})))).matched).toBe(6);
  });
});

describe("cancel", () => {
  it("cancels by filter: reported rows end at once, acted-on rows get one unclaimed stop request each (the stop phase ends them), terminal rows are skipped", async () => {
    const owner = await createUser(sql);
    const workflowId = await createWorkflow(sql, owner);
    const reported = await seed(owner, workflowId, 5);
    const acted = await seed(owner, workflowId, 4, { acted: true });
    const finished = await seed(owner, workflowId, 3, { status: "completed" });
    const elsewhere = await seed(owner, await createWorkflow(sql, owner), 2);
    const action = await accepted(await bulkFor(owner).submit(request("cancel", { workflowId })));
    expect(action).toMatchObject({ status: "queued", matched: 12, done: 0, failed: 0, skipped: 0 });
    const later = await seed(owner, workflowId, 2, { startedAt: "2026-11-02T00:00:00Z" }); // after the snapshot

    const report = await process({ actionId: action.id, batchSize: 5 });
    expect(report).toMatchObject({ actions: 1, done: 9, skipped: 3, failed: 0, locked: 0 });
    const record = await bulkFor(owner).get(action.id);
    expect(record).toMatchObject({ status: "done", matched: 12, done: 9, failed: 0, skipped: 3, errors: [] });
    expect(record.finishedAt).not.toBeNull();

    expect(countBy(await statusesOf(reported))).toEqual({ cancelled: 5 });
    expect(countBy(await statusesOf(acted))).toEqual({ "running+stop": 4 });
    expect(countBy(await statusesOf(finished))).toEqual({ completed: 3 });
    expect(countBy(await statusesOf([...elsewhere, ...later]))).toEqual({ running: 4 });
    const requests = await sql`select execution_id, reason, action, claimed_by from public.execution_stop_requests where execution_id = any(${acted}::uuid[])`;
    expect(requests).toHaveLength(4);
    expect(requests.every((r) => r.reason === "cancel" && r.action === "cancel" && r.claimed_by === null)).toBe(true);

    // The sweeper's stop phase (no Temporal configured: nothing to stop) ends them.
    await processStopRequests({ sql, temporal: null, log: quiet });
    expect(countBy(await statusesOf(acted))).toEqual({ cancelled: 4 });
  });

  it("the same requestId again, also concurrently, is one action whose work is done once; with another filter it is a 409", async () => {
    const owner = await createUser(sql);
    const workflowId = await createWorkflow(sql, owner);
    const ids = await seed(owner, workflowId, 6, { acted: true });
    const body = request("cancel", { workflowId, status: ["running"] });
    const answers = await Promise.all(Array.from({ length: 6 }, () => bulkFor(owner).submit(body)));
    const actionIds = new Set(await Promise.all(answers.map(async (a) => (await accepted(a)).id)));
    expect(actionIds.size).toBe(1);
    const action = { id: [...actionIds][0] };
    const [items] = await sql`select count(*)::int as n from public.execution_bulk_action_items i join public.execution_bulk_actions a on a.id = i.action_id where a.created_by = ${owner}`;
    expect(items.n).toBe(6);
    await process({ actionId: action.id });
    const again = await accepted(await bulkFor(owner).submit(body));
    expect(again).toMatchObject({ id: [...actionIds][0], status: "done", matched: 6, done: 6 });
    await process({ actionId: action.id });
    const [requests] = await sql`select count(*)::int as n from public.execution_stop_requests where execution_id = any(${ids}::uuid[])`;
    expect(requests.n).toBe(6);
    const conflict = await bulkFor(owner).submit({ ...body, filter: { workflowId } }).catch((e) => e);
    expect(conflict).toBeInstanceOf(ConflictError);
  });

  it("a row a writer holds is skipped, not waited for, and acted on by a later batch", async () => {
    const owner = await createUser(sql);
    const workflowId = await createWorkflow(sql, owner);
    const ids = await seed(owner, workflowId, 3);
    const action = await accepted(await bulkFor(owner).submit(request("cancel", { workflowId })));
    let release!: () => void;
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const writer = sql.begin(async (tx) => {
      await tx`select id from public.workflow_executions where id = ${ids[0]} for update`;
      locked();
      await new Promise<void>((resolve) => (release = resolve));
    });
    await isLocked;
    try {
      const first = await process({ actionId: action.id });
      expect(first.done).toBe(2);
      expect(first.locked).toBeGreaterThan(0); // each batch that met it
      expect(await bulkFor(owner).get(action.id)).toMatchObject({ status: "running", done: 2 });
    } finally {
      release();
      await writer;
    }
    expect(await process({ actionId: action.id })).toMatchObject({ done: 1, locked: 0 });
    expect(await bulkFor(owner).get(action.id)).toMatchObject({ status: "done", done: 3 });
    expect(countBy(await statusesOf(ids))).toEqual({ cancelled: 3 });
  });

  it("a create completes while a batch's transaction holds its rows", async () => {
    const owner = await createUser(sql);
    const workflowId = await createWorkflow(sql, owner);
    await seed(owner, workflowId, 50);
    const action = await accepted(await bulkFor(owner).submit(request("cancel", { workflowId })));
    const token = randomUUID();
    await withCaller(sql, serviceCaller, (tx) => repo.claimAction(tx, token, 30, { id: action.id }));
    let created: string | null = null;
    await withCaller(sql, serviceCaller, async (tx) => {
      const batch = await repo.lockBatch(tx, action.id, token, 500, 30);
      await repo.actAsOwner(tx, owner, { stopClaim: "tracker" });
      expect((await repo.cancelRows(tx, batch)).acted).toHaveLength(50);
      // The batch is open, holding its 50 rows: a create of the same owner and workflow goes through.
      const result = await createExecutionService({ sql, caller: userCaller(owner), log: quiet })
        .createExecution({ workflowId, temporalWorkflowId: `while-bulk-${randomUUID()}` });
      created = result.execution.id;
      await repo.actAsService(tx);
    });
    expect(created).not.toBeNull();
    expect(countBy(await statusesOf([created!]))).toEqual({ running: 1 });
  });
});

describe("the stop phase without Temporal: set-based", () => {
  it("confirms every due request once, in batches; a deadline ends timed_out, a tombstone is confirmed; a row a writer holds is checked again later", async () => {
    await processStopRequests({ sql, temporal: null, log: quiet }); // what earlier tests left: the counts below are this test's
    const owner = await createUser(sql);
    const workflowId = await createWorkflow(sql, owner);
    const cancelled = await seed(owner, workflowId, 7, { acted: true });
    const [deadline, deleted, held] = await seed(owner, workflowId, 3, { acted: true });
    await asTracker((tx) => tx`update public.workflow_executions set status = 'cancelled' where id = any(${[...cancelled, held]}::uuid[])`);
    await asTracker((tx) => tx`update public.workflow_executions set status = 'timed_out' where id = ${deadline}`);
    await asTracker((tx) => tx`delete from public.workflow_executions where id = ${deleted}`);
    const all = [...cancelled, deadline, deleted, held];
    expect((await sql`select count(*)::int as n from public.execution_stop_requests where execution_id = any(${all}::uuid[]) and confirmed_at is null`)[0].n).toBe(10);

    let release!: () => void;
    let locked!: () => void;
    const isLocked = new Promise<void>((resolve) => (locked = resolve));
    const writer = sql.begin(async (tx) => {
      await tx`select id from public.workflow_executions where id = ${held} for update`;
      locked();
      await new Promise<void>((resolve) => (release = resolve));
    });
    await isLocked;
    let first;
    try {
      first = await processStopRequests({ sql, temporal: null, log: quiet }, { batchSize: 3 });
    } finally {
      release();
      await writer;
    }
    expect(first).toMatchObject({ claimed: 10, waiting: 1, failed: 0, confirmed: { cancelled: 7, timed_out: 1, deleted: 1 } });
    expect(await statusesOf([...cancelled, deadline, held])).toEqual({
      ...Object.fromEntries(cancelled.map((id) => [id, "cancelled"])), [deadline]: "timed_out", [held]: "running+stop",
    });
    const [ended] = await sql`select error_message, temporal_closed_at is not null as closed from public.workflow_executions where id = ${deadline}`;
    expect(ended).toMatchObject({ closed: true, error_message: expect.stringContaining("timed out") });

    // Again at once: nothing is confirmed twice; the held row's request waits for its second.
    expect(await processStopRequests({ sql, temporal: null, log: quiet })).toMatchObject({ claimed: 0 });
    await sql`update public.execution_stop_requests set next_attempt_at = now() where execution_id = ${held} and confirmed_at is null`;
    expect(await processStopRequests({ sql, temporal: null, log: quiet })).toMatchObject({ claimed: 1, confirmed: { cancelled: 1 } });
    expect(await statusesOf([held])).toEqual({ [held]: "cancelled" });
    const requests = await sql`select outcome, confirmed_at from public.execution_stop_requests where execution_id = any(${all}::uuid[])`;
    expect(requests).toHaveLength(10);
    expect(requests.every((r) => r.outcome === "no_temporal" && r.confirmed_at !== null)).toBe(true);
  });
});

/** A write as the tracker's own (the sweeper's deadline phase, a bulk batch): its stop requests unclaimed, no webhook. */
const asTracker = (work: (tx: Sql) => Promise<unknown>) =>
  sql.begin(async (tx) => {
    await tx`select set_config('execution_tracker.stop_claim', 'tracker', true)`;
    await work(tx as unknown as Sql);
  });

describe("delete and retry", () => {
  it("deletes by filter; live acted-on rows leave their tombstone (terminate) for the stop phase", async () => {
    const owner = await createUser(sql);
    const workflowId = await createWorkflow(sql, owner);
    const acted = await seed(owner, workflowId, 3, { acted: true });
    const finished = await seed(owner, workflowId, 4, { status: "failed" });
    const kept = await seed(owner, workflowId, 2, { status: "failed", startedAt: "2026-09-01T00:00:00Z" });
    const action = await accepted(await bulkFor(owner).submit(request("delete", { workflowId, startedAfter: "2026-10-01T00:00:00Z" })));
    expect(action.matched).toBe(7);
    await process({ actionId: action.id, batchSize: 2 });
    expect(await bulkFor(owner).get(action.id)).toMatchObject({ status: "done", done: 7, skipped: 0 });
    expect(Object.keys(await statusesOf([...acted, ...finished, ...kept])).sort()).toEqual([...kept].sort());
    const tombstones = await sql`select reason, action, claimed_by from public.execution_stop_requests where execution_id = any(${acted}::uuid[])`;
    expect(tombstones.map((t) => [t.reason, t.action, t.claimed_by])).toEqual(Array(3).fill(["delete", "terminate", null]));
  });

  it("retries by filter: one retry per row, also when a crashed batch already made some (the request id is per action and row)", async () => {
    const owner = await createUser(sql);
    const workflowId = await createWorkflow(sql, owner, { temporalWorkflowType: "completesWorkflow", taskQueue: `bulk-${randomUUID().slice(0, 8)}` });
    const failed = await seed(owner, workflowId, 5, { status: "failed" });
    const notMatching = await seed(owner, workflowId, 2, { status: "completed" });
    const action = await accepted(await bulkFor(owner).submit(request("retry", { workflowId, status: ["failed"] })));
    // A batch that retried two rows and crashed before recording them.
    for (const id of failed.slice(0, 2)) {
      await retryExecution({ sql, caller: ownerCaller(owner), temporal: null, log: quiet }, id, { requestId: `bulk-action:${action.id}` });
    }
    await process({ actionId: action.id, batchSize: 2 });
    expect(await bulkFor(owner).get(action.id)).toMatchObject({ status: "done", matched: 5, done: 5, failed: 0 });
    const retries = await sql`select retry_of, status::text from public.workflow_executions where retry_of = any(${[...failed, ...notMatching]}::uuid[])`;
    expect(retries.map((r) => r.retry_of).sort()).toEqual([...failed].sort());
    expect(retries.every((r) => r.status === "pending")).toBe(true);
  });

  it("a row whose workflow cannot be started fails with its reason; the others are retried", async () => {
    const owner = await createUser(sql);
    const startable = await createWorkflow(sql, owner, { temporalWorkflowType: "completesWorkflow", taskQueue: `bulk-${randomUUID().slice(0, 8)}` });
    const unstartable = await createWorkflow(sql, owner);
    const good = await seed(owner, startable, 2, { status: "failed" });
    const bad = await seed(owner, unstartable, 1, { status: "failed" });
    const action = await accepted(await bulkFor(owner).submit(request("retry", { status: ["failed"] })));
    await process({ actionId: action.id });
    const record = await bulkFor(owner).get(action.id);
    expect(record).toMatchObject({ status: "done", matched: 3, done: 2, failed: 1 });
    expect(record.errors).toEqual([{ executionId: bad[0], reason: expect.stringMatching(/^not_retryable: /) }]);
    expect(good).toHaveLength(2);
  });
});

describe("leases, RLS, reading", () => {
  it("a processor that took the lease and died holds the action until the lease expires; then another resumes it", async () => {
    const owner = await createUser(sql);
    const workflowId = await createWorkflow(sql, owner);
    const ids = await seed(owner, workflowId, 4);
    const action = await accepted(await bulkFor(owner).submit(request("cancel", { workflowId })));
    await withCaller(sql, serviceCaller, (tx) => repo.claimAction(tx, randomUUID(), 30, { id: action.id })); // ...and never comes back
    expect(await process({ actionId: action.id })).toMatchObject({ actions: 0, done: 0 });
    expect(countBy(await statusesOf(ids))).toEqual({ running: 4 });
    await sql`update public.execution_bulk_actions set claimed_until = now() - interval '1 second' where id = ${action.id}`;
    expect(await process({ actionId: action.id })).toMatchObject({ actions: 1, done: 4 });
    expect(await bulkFor(owner).get(action.id)).toMatchObject({ status: "done", done: 4 });
  });

  it("never touches another tenant's rows: not in the snapshot, and an item naming one is skipped as gone under the owner's RLS", async () => {
    const owner = await createUser(sql);
    const stranger = await createUser(sql);
    const workflowId = await createWorkflow(sql, owner);
    const theirs = await seed(stranger, await createWorkflow(sql, stranger), 3);
    const mine = await seed(owner, workflowId, 2);
    const action = await accepted(await bulkFor(owner).submit(request("delete", {})));
    expect(action.matched).toBe(2);
    // Even an item naming a stranger's row (written here by the superuser) is outside the owner's RLS.
    await sql`insert into public.execution_bulk_action_items (action_id, execution_id) values (${action.id}, ${theirs[0]})`;
    await process({ actionId: action.id });
    expect(await bulkFor(owner).get(action.id)).toMatchObject({ status: "done", done: 2, skipped: 1 });
    expect(countBy(await statusesOf(theirs))).toEqual({ running: 3 });
    expect(Object.keys(await statusesOf(mine))).toEqual([]);
    // The stranger cannot read the owner's action, nor write any record directly.
    await expect(bulkFor(stranger).get(action.id)).rejects.toMatchObject({ code: "not_found" });
    expect((await bulkFor(stranger).list({ limit: 20 })).data).toEqual([]);
    await expect(asRole(sql, stranger, (tx) => tx`
      insert into public.execution_bulk_actions (created_by, request_id, action, matched) values (${stranger}, 'x', 'delete', 0)`)).rejects.toMatchObject({ code: "42501" });
    await expect(asRole(sql, owner, (tx) => tx`update public.execution_bulk_actions set done = 99 where id = ${action.id}`)).rejects.toMatchObject({ code: "42501" });
    expect((await bulkFor(owner).list({ limit: 20 })).data.map((a) => a.id)).toEqual([action.id]);
  });

  it("the kick (pg_net to /executions-bulk/process, and the sweeper) is the service role's alone", async () => {
    const owner = await createUser(sql);
    await withCaller(sql, serviceCaller, (tx) => repo.requestProcessing(tx, { stops: true }));
    await expect(asRole(sql, owner, (tx) => tx`select public.execution_bulk_actions_kick(true)`)).rejects.toMatchObject({ code: "42501" });
    await expect(asRole(sql, owner, (tx) => tx`select private.invoke_bulk_processor()`)).rejects.toMatchObject({ code: "42501" });
  });
});

describe("with Temporal: a bulk cancel stops each acted-on run exactly once", () => {
  let temporalServer: TemporalDevServer;
  let worker: TestWorker;
  let temporal: TemporalGateway;
  const taskQueue = `bulk-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    temporalServer = await startTemporalDevServer();
    worker = await startTestWorker({ address: temporalServer.address, namespace: temporalServer.namespace, taskQueue });
    temporal = createHttpTemporalGateway({ baseUrl: temporalServer.httpUrl, namespace: temporalServer.namespace });
  }, 900_000);

  afterAll(async () => {
    await worker?.stop();
    await temporalServer?.stop();
  });

  it("dispatched runs cancelled by filter get one cancel request each in Temporal, whoever processes and however often", async () => {
    const owner = await createUser(sql);
    const workflowId = await createWorkflow(sql, owner, { temporalWorkflowType: "longRunningWorkflow", taskQueue });
    const service = createExecutionService({ sql, caller: userCaller(owner), temporal, log: quiet });
    const runs: { id: string; status: string; temporalWorkflowId: string | null }[] = [];
    for (let i = 0; i < 6; i++) runs.push((await service.createExecution({ workflowId })).execution);
    expect(runs.every((run) => run.status === "running")).toBe(true);

    const body = request("cancel", { workflowId });
    const action = await accepted(await bulkFor(owner, {}, temporal).submit(body));
    // Processed twice over and the request repeated: the stop requests exist once per row.
    await Promise.all([process({ actionId: action.id, batchSize: 2 }, temporal), process({ actionId: action.id, batchSize: 2 }, temporal)]);
    await bulkFor(owner, {}, temporal).submit(body);
    expect(await bulkFor(owner).get(action.id)).toMatchObject({ status: "done", matched: 6, done: 6 });
    // Two stop phases at once, as two sweepers would run them, until every row is confirmed.
    const ended = await until(async () => {
      await Promise.all([1, 2].map(() => processStopRequests({ sql, temporal, log: quiet }, { confirmWithinMs: 200 })));
      return countBy(await statusesOf(runs.map((r) => r.id)));
    }, (counts) => counts.cancelled === 6, 60_000, 100);
    expect(ended).toEqual({ cancelled: 6 });
    const requests = await sql`select count(*)::int as n from public.execution_stop_requests where execution_id = any(${runs.map((r) => r.id)}::uuid[])`;
    expect(requests[0].n).toBe(6);
    for (const run of runs) {
      const events = await temporalEvents(temporalServer, run.temporalWorkflowId!);
      expect(events.WORKFLOW_EXECUTION_CANCEL_REQUESTED ?? 0, run.temporalWorkflowId!).toBe(1);
      expect(events.WORKFLOW_EXECUTION_CANCELED ?? 0).toBe(1);
      expect(events.WORKFLOW_EXECUTION_TERMINATED ?? 0).toBe(0);
    }
  }, 120_000);
});

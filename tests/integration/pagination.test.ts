/**
 * Keyset pagination under concurrent writes: N rows (ties on started_at, microsecond
 * neighbours) paged with limit k while another loop inserts new rows (newer ones through the
 * service, back-dated ones into the middle of the range by SQL). Every original row appears
 * exactly once, newest first on (started_at, id), with no gaps and no repeats; the same oldest
 * first (order=asc), where the new rows land ahead of the reader. A cursor is bound to its order.
 * The export (service.exportExecutions, pages of its own) yields the same rows as the list.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExecutionService } from "../../shared/service.ts";
import type { ExecutionStatus, ListExecutionsFilter } from "../../shared/types.ts";
import { connect, createUser, createWorkflow, databaseUrl, serviceCaller, type Sql, userCaller } from "../support/postgres.ts";

const N = 250;
let sql: Sql;
let user: string;
let workflows: string[];

beforeAll(async () => {
  sql = connect(databaseUrl(), { max: 12 });
  user = await createUser(sql);
  workflows = [await createWorkflow(sql, user), await createWorkflow(sql, user)];
  // Groups of three share a started_at (the id breaks the tie); groups are 337 µs apart, so
  // neighbours differ below the millisecond a JS Date can hold.
  await sql`
    insert into public.workflow_executions (workflow_id, created_by, temporal_workflow_id, status, started_at)
    select (${workflows}::uuid[])[1 + i % 2], ${user}::uuid,
           -- A pending row's Temporal id is derived from its own id (ET012 for a chosen one).
           case when i % 6 = 0 then null else 'page-' || ${user}::text || '-' || i end,
           (array['pending', 'running', 'completed', 'failed', 'cancelled', 'timed_out'])[1 + i % 6],
           date_trunc('second', now()) - interval '1 hour' - (i / 3) * interval '337 microseconds'
      from generate_series(1, ${N}) i`;
});
afterAll(async () => {
  await sql.end({ timeout: 1 });
});

interface Position { id: string; startedAt: string }

/** Exact (started_at, id) of rows, as text that sorts like the database orders them. */
async function positions(ids: string[]): Promise<Map<string, Position>> {
  const rows = await sql`
    select id, to_char(started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') as started_at
      from public.workflow_executions where id = any(${ids}::uuid[])`;
  return new Map(rows.map((r) => [r.id, { id: r.id, startedAt: r.started_at }]));
}

const newerFirst = (a: Position, b: Position) =>
  a.startedAt !== b.startedAt ? (a.startedAt > b.startedAt ? -1 : 1) : a.id > b.id ? -1 : a.id < b.id ? 1 : 0;

async function originalsMatching(filter: { status?: ExecutionStatus[]; workflowId?: string }): Promise<string[]> {
  const rows = await sql`
    select id from public.workflow_executions
     where created_by = ${user} and temporal_workflow_id like 'page-%'
       ${filter.status ? sql`and status = any(${filter.status}::public.execution_status[])` : sql``}
       ${filter.workflowId ? sql`and workflow_id = ${filter.workflowId}` : sql``}`;
  return rows.map((r) => r.id);
}

/** Pages through with `limit` while a concurrent loop inserts; returns every id seen, in order. */
async function pageWhileInserting(filter: ListExecutionsFilter, limit: number, asService = false) {
  const reader = createExecutionService({ sql, caller: asService ? serviceCaller() : userCaller(user), temporal: null });
  const writer = createExecutionService({ sql, caller: userCaller(user), temporal: null });
  let done = false;
  let inserted = 0;
  const insertLoop = (async () => {
    for (let i = 0; !done; i++) {
      if (i % 2 === 0) {
        // A new run, newest of all.
        await writer.createExecution({ workflowId: workflows[i % 4 === 0 ? 0 : 1], temporalWorkflowId: `new-${randomUUID()}` });
      } else {
        // A back-dated run landing between originals (or on one's exact started_at).
        await sql`
          insert into public.workflow_executions (workflow_id, created_by, temporal_workflow_id, status, started_at)
          select ${workflows[i % 3 === 0 ? 0 : 1]}, ${user}, ${`late-${randomUUID()}`}, 'completed',
                 (select started_at from public.workflow_executions
                   where created_by = ${user} and temporal_workflow_id like 'page-%'
                   order by random() limit 1) - ${i % 5 === 0 ? 0 : 1} * interval '1 microsecond'`;
      }
      inserted++;
    }
  })();

  const seen: string[] = [];
  let pages = 0;
  try {
    let cursor: string | undefined;
    do {
      const page = await reader.listExecutions({ ...filter, limit, cursor });
      expect(page.data.length).toBeLessThanOrEqual(limit);
      if (page.nextCursor) expect(page.data).toHaveLength(limit);
      seen.push(...page.data.map((e) => e.id));
      for (const e of page.data) {
        if (filter.status) expect(filter.status).toContain(e.status);
        if (filter.workflowId) expect(e.workflowId).toBe(filter.workflowId);
      }
      cursor = page.nextCursor ?? undefined;
      pages++;
      // Let the writer in between pages.
      await new Promise((resolve) => setTimeout(resolve, 1));
    } while (cursor);
  } finally {
    done = true;
    await insertLoop;
  }
  return { seen, pages, inserted };
}

async function expectComplete(filter: { status?: ExecutionStatus[]; workflowId?: string; order?: "asc" | "desc" }, seen: string[]) {
  const inOrder = filter.order === "asc" ? (a: Position, b: Position) => newerFirst(b, a) : newerFirst;
  // No repeats.
  expect(new Set(seen).size).toBe(seen.length);
  // Every original row, exactly once.
  const originals = await originalsMatching(filter);
  expect(originals.length).toBeGreaterThan(0);
  const seenSet = new Set(seen);
  const missing = originals.filter((id) => !seenSet.has(id));
  expect(missing).toEqual([]);
  // Newest (oldest with asc) first, strictly, across page boundaries.
  const pos = await positions(seen);
  const ordered = seen.map((id) => pos.get(id)!);
  for (let i = 1; i < ordered.length; i++) {
    expect(inOrder(ordered[i - 1], ordered[i]), `rows ${i - 1} and ${i}`).toBe(-1);
  }
  // The originals in exactly the expected order.
  const originalSet = new Set(originals);
  const expected = [...(await positions(originals)).values()].sort(inOrder).map((p) => p.id);
  expect(seen.filter((id) => originalSet.has(id))).toEqual(expected);
}

describe("keyset pagination with concurrent inserts", () => {
  it("all rows, limit 7", async () => {
    const { seen, pages, inserted } = await pageWhileInserting({}, 7);
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(N / 7));
    expect(inserted).toBeGreaterThan(0);
    await expectComplete({}, seen);
  });

  it("status filter, limit 5", async () => {
    const filter = { status: ["completed", "failed", "running"] as ExecutionStatus[] };
    const { seen } = await pageWhileInserting(filter, 5);
    await expectComplete(filter, seen);
  });

  it("one workflow, limit 9, as the service role", async () => {
    const filter = { workflowId: workflows[1] };
    const { seen } = await pageWhileInserting(filter, 9, true);
    await expectComplete(filter, seen);
  });

  it("oldest first (order=asc), limit 7, while newer and back-dated rows are inserted", async () => {
    const { seen, pages, inserted } = await pageWhileInserting({ order: "asc" }, 7);
    expect(pages).toBeGreaterThanOrEqual(Math.ceil(N / 7));
    expect(inserted).toBeGreaterThan(0);
    await expectComplete({ order: "asc" }, seen);
  });

  it("oldest first with one status (the user_status index backwards), limit 4", async () => {
    const filter = { status: ["completed"] as ExecutionStatus[], order: "asc" as const };
    const { seen } = await pageWhileInserting(filter, 4);
    await expectComplete(filter, seen);
  });

  it("a cursor works only with the order it came from", async () => {
    const reader = createExecutionService({ sql, caller: userCaller(user), temporal: null });
    const desc = await reader.listExecutions({ limit: 2 });
    const asc = await reader.listExecutions({ limit: 2, order: "asc" });
    await expect(reader.listExecutions({ limit: 2, order: "asc", cursor: desc.nextCursor! })).rejects.toMatchObject({ code: "validation_failed" });
    await expect(reader.listExecutions({ limit: 2, cursor: asc.nextCursor! })).rejects.toMatchObject({ code: "validation_failed" });
    const next = await reader.listExecutions({ limit: 2, order: "asc", cursor: asc.nextCursor! });
    expect(next.data.map((e) => e.id)).not.toContain(asc.data[1].id);
  });

  it("the export's pages (of 13 here) give the list's rows, either order", async () => {
    const reader = createExecutionService({ sql, caller: userCaller(user), temporal: null });
    for (const order of ["asc", "desc"] as const) {
      const filter = { workflowId: workflows[0], status: ["completed", "failed"] as ExecutionStatus[], order };
      const listed: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await reader.listExecutions({ ...filter, limit: 100, cursor });
        listed.push(...page.data.map((e) => e.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      const exported: string[] = [];
      for await (const page of reader.exportExecutions(filter, 13)) {
        expect(page.length).toBeLessThanOrEqual(13);
        exported.push(...page.map((e) => e.id));
      }
      expect(listed.length).toBeGreaterThan(13);
      expect(exported).toEqual(listed);
    }
  });

  it("limit 1 and limit 100 page the same rows", async () => {
    const all: string[][] = [];
    for (const limit of [1, 100]) {
      const reader = createExecutionService({ sql, caller: userCaller(user), temporal: null });
      const ids: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await reader.listExecutions({ workflowId: workflows[0], status: ["pending"], limit, cursor });
        ids.push(...page.data.map((e) => e.id));
        cursor = page.nextCursor ?? undefined;
      } while (cursor);
      all.push(ids);
    }
    expect(all[0].length).toBeGreaterThan(10);
    expect(all[1]).toEqual(all[0]);
  });

  it("time filters bound the pages", async () => {
    const [{ lo, hi }] = await sql`
      select to_char(min(started_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as lo,
             to_char(max(started_at) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as hi
        from public.workflow_executions where created_by = ${user} and temporal_workflow_id like 'page-%'`;
    const reader = createExecutionService({ sql, caller: userCaller(user), temporal: null });
    const ids: string[] = [];
    let cursor: string | undefined;
    do {
      const page = await reader.listExecutions({ startedAfter: lo, startedBefore: hi, limit: 50, cursor });
      ids.push(...page.data.map((e) => e.id));
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    const [{ n }] = await sql`
      select count(*)::int as n from public.workflow_executions
       where created_by = ${user} and started_at >= ${lo}::text::timestamptz and started_at < ${hi}::text::timestamptz`;
    expect(ids).toHaveLength(n);
    expect(n).toBeGreaterThan(N - 10);
  });
});

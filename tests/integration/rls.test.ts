/**
 * Row Level Security per persona (owner A, other user B, service role), through the service
 * (as the HTTP functions use it) and through a direct `authenticated` connection (set local
 * role + request.jwt.claims, as PostgREST does): B can neither read, list, count, update nor
 * delete A's executions, nor attach executions to A's workflow.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ForbiddenError, NotFoundError } from "../../shared/errors.ts";
import { createExecutionService } from "../../shared/service.ts";
import {
  asRole,
  connect,
  createUser,
  createWorkflow,
  databaseUrl,
  serviceCaller,
  type Sql,
  sqlState,
  userCaller,
} from "../support/postgres.ts";

let sql: Sql;
let userA: string;
let userB: string;
let workflowA: string;
let workflowB: string;
let execA: string; // A's completed execution
let execALive: string; // A's running execution
let execB: string;
const twidA = `rls-a-${randomUUID()}`;
const twidALive = `rls-a-live-${randomUUID()}`;

const service = (userId: string | null) =>
  createExecutionService({ sql, caller: userId ? userCaller(userId) : serviceCaller(), temporal: null, log: () => {} });

beforeAll(async () => {
  sql = connect(databaseUrl());
  [userA, userB] = await Promise.all([createUser(sql), createUser(sql)]);
  [workflowA, workflowB] = await Promise.all([createWorkflow(sql, userA), createWorkflow(sql, userB)]);
  const a = service(userA);
  execA = (await a.createExecution({ workflowId: workflowA, temporalWorkflowId: twidA, input: { secret: "A" } })).execution.id;
  await a.markCompleted(twidA, { result: "A's" }, 1234);
  execALive = (await a.createExecution({ workflowId: workflowA, temporalWorkflowId: twidALive })).execution.id;
  execB = (await service(userB).createExecution({ workflowId: workflowB, temporalWorkflowId: `rls-b-${randomUUID()}` })).execution.id;
});
afterAll(async () => {
  await sql.end({ timeout: 1 });
});

async function rowOf(id: string) {
  const [row] = await sql`select * from public.workflow_executions where id = ${id}`;
  return row;
}

async function expectError<T extends Error>(promise: Promise<unknown>, type: new (...args: never[]) => T) {
  const error = await promise.then(() => null, (e) => e);
  expect(error).toBeInstanceOf(type);
}

describe("through the service", () => {
  it("the owner reads, lists and counts their executions", async () => {
    const a = service(userA);
    expect((await a.getExecution(execA)).workflow).toEqual({ id: workflowA, name: expect.any(String) });
    const page = await a.listExecutions({ limit: 100 });
    expect(page.data.map((e) => e.id).sort()).toEqual([execA, execALive].sort());
    const stats = await a.getStats();
    expect(stats.total).toBe(2);
    expect(stats.byStatus).toMatchObject({ completed: 1, running: 1 });
    expect(stats.avgDurationMs).toBe(1234);
  });

  it("another user can neither read, list nor count them", async () => {
    const b = service(userB);
    await expectError(b.getExecution(execA), NotFoundError);
    expect((await b.listExecutions({ limit: 100 })).data.map((e) => e.id)).toEqual([execB]);
    expect((await b.listExecutions({ workflowId: workflowA })).data).toEqual([]);
    expect((await b.listExecutions({ status: ["completed"] })).data).toEqual([]);
    const stats = await b.getStats();
    expect(stats.total).toBe(1);
    expect(stats.byStatus.completed).toBe(0);
    expect(stats.avgDurationMs).toBeNull();
    expect((await b.getStats({ workflowId: workflowA })).total).toBe(0);
    expect((await b.getStats({ workflowId: workflowA, startedAfter: "2000-01-01T00:00:00Z" })).total).toBe(0);
  });

  it("another user can neither update nor delete them, and nothing changes", async () => {
    const b = service(userB);
    const before = await Promise.all([rowOf(execA), rowOf(execALive)]);
    await expectError(b.updateExecutionByRef({ id: execALive }, { status: "cancelled" }), NotFoundError);
    await expectError(b.updateExecution(twidALive, { status: "failed", errorMessage: "x" }), NotFoundError);
    await expectError(b.markCompleted(twidA, { hijacked: true }), NotFoundError);
    await expectError(b.deleteExecution(execA), NotFoundError);
    await expectError(b.deleteExecution(execALive), NotFoundError);
    expect(await Promise.all([rowOf(execA), rowOf(execALive)])).toEqual(before);
  });

  it("an execution cannot be attached to another user's workflow (404), by a user or by the service role", async () => {
    await expectError(service(userB).createExecution({ workflowId: workflowA, temporalWorkflowId: `rls-x-${randomUUID()}` }), NotFoundError);
    await expectError(
      service(null).createExecution({ workflowId: workflowA, userId: userB, temporalWorkflowId: `rls-y-${randomUUID()}` }),
      NotFoundError,
    );
    const [{ n }] = await sql`select count(*)::int as n from public.workflow_executions where workflow_id = ${workflowA}`;
    expect(n).toBe(2);
  });

  it("a user cannot create executions for someone else (403)", async () => {
    await expectError(service(userB).createExecution({ workflowId: workflowB, userId: userA, temporalWorkflowId: `rls-z-${randomUUID()}` }), ForbiddenError);
    // Naming themselves is fine.
    const own = await service(userB).createExecution({ workflowId: workflowB, userId: userB.toUpperCase(), temporalWorkflowId: `rls-own-${randomUUID()}` });
    expect(own.execution.createdBy).toBe(userB);
    await service(userB).deleteExecution(own.execution.id);
  });

  it("the service role reads everyone's executions and records them for a named owner", async () => {
    const s = service(null);
    expect((await s.getExecution(execA)).createdBy).toBe(userA);
    expect((await s.getExecution(execB)).createdBy).toBe(userB);
    expect((await s.listExecutions({ workflowId: workflowA })).data.map((e) => e.id).sort()).toEqual([execA, execALive].sort());
    expect((await s.getStats({ workflowId: workflowA })).total).toBe(2);
    const created = await s.createExecution({ workflowId: workflowB, userId: userB, temporalWorkflowId: `rls-svc-${randomUUID()}` });
    expect(created.execution.createdBy).toBe(userB);
    await s.deleteExecution(created.execution.id);
  });
});

describe("through a direct authenticated connection (RLS alone)", () => {
  it("user B sees, counts and changes none of A's rows", async () => {
    await asRole(sql, userB, async (tx) => {
      const [counts] = await tx`
        select (select count(*)::int from public.workflow_executions where created_by = ${userA}) as executions,
               (select count(*)::int from public.workflow_executions where id = ${execA}) as by_id,
               (select count(*)::int from public.workflows where id = ${workflowA}) as workflows,
               (select count(*)::int from public.execution_stats where created_by = ${userA}) as stats_view,
               (select count(*)::int from public.execution_duration_histogram where created_by = ${userA}) as histogram_view,
               (select count(*)::int from public.execution_stats_source where created_by = ${userA}) as source_view,
               (select count(*)::int from public.execution_stats_rollup where created_by = ${userA}) as rollup,
               (select count(*)::int from public.execution_duration_bins where created_by = ${userA}) as bins,
               (select count(*)::int from public.execution_owner_duration_histogram where created_by = ${userA}) as owner_histogram_view,
               (select count(*)::int from public.execution_owner_duration_bins where created_by = ${userA}) as owner_bins,
               (select count(*)::int from public.workflow_executions) as all_visible`;
      expect(counts).toEqual({
        executions: 0, by_id: 0, workflows: 0, stats_view: 0, histogram_view: 0, source_view: 0, rollup: 0, bins: 0,
        owner_histogram_view: 0, owner_bins: 0, all_visible: 1,
      });

      const updated = await tx`update public.workflow_executions set status = 'cancelled' where id = ${execALive}`;
      expect(updated.count).toBe(0);
      const deleted = await tx`delete from public.workflow_executions where id in (${execA}, ${execALive})`;
      expect(deleted.count).toBe(0);
      const workflowDeleted = await tx`delete from public.workflows where id = ${workflowA}`;
      expect(workflowDeleted.count).toBe(0);

      const [summaryOfA] = await tx`select * from public.execution_stats_summary(${workflowA})`;
      expect(Number(summaryOfA.total)).toBe(0);
      expect(summaryOfA.avg_duration_ms).toBeNull();
      const [summaryAll] = await tx`select * from public.execution_stats_summary()`;
      expect(Number(summaryAll.total)).toBe(1);
      const [summaryRange] = await tx`select * from public.execution_stats_summary(null, now() - interval '1 day', now() + interval '1 day')`;
      expect(Number(summaryRange.total)).toBe(1);
    });
    expect((await rowOf(execALive)).status).toBe("running");
  });

  it("user B cannot write rows owned by A or attached to A's workflow", async () => {
    await asRole(sql, userB, async (tx) => {
      // RLS with-check: not B's row.
      expect(await sqlState(tx.savepoint((sp) => sp`
        insert into public.workflow_executions (workflow_id, created_by) values (${workflowA}, ${userA})`))).toBe("42501");
      // B's row on A's workflow: the (workflow_id, created_by) foreign key has no match.
      expect(await sqlState(tx.savepoint((sp) => sp`
        insert into public.workflow_executions (workflow_id) values (${workflowA})`))).toBe("23503");
      // Handing B's own row to A.
      expect(await sqlState(tx.savepoint((sp) => sp`
        update public.workflow_executions set created_by = ${userA} where id = ${execB}`))).toMatch(/^(ET002|42501)$/);
      // The rollups are read-only to API roles.
      expect(await sqlState(tx.savepoint((sp) => sp`
        insert into public.execution_stats_rollup (created_by, workflow_id, status, executions) values (${userB}, ${workflowB}, 'completed', 1000)`))).toBe("42501");
      expect(await sqlState(tx.savepoint((sp) => sp`update public.execution_duration_bins set executions = 0`))).toBe("42501");
      expect(await sqlState(tx.savepoint((sp) => sp`select private.rebuild_execution_rollups()`))).toBe("42501");
    });
  });

  it("the owner sees exactly their rows, rollups included", async () => {
    await asRole(sql, userA, async (tx) => {
      const rows = await tx`select id from public.workflow_executions order by id`;
      expect(rows.map((r) => r.id)).toEqual([execA, execALive].sort());
      const rollup = await tx`select distinct created_by from public.execution_stats`; // rollups + unfolded deltas
      expect(rollup.map((r) => r.created_by)).toEqual([userA]);
      const [summary] = await tx`select * from public.execution_stats_summary()`;
      expect({ total: Number(summary.total), completed: Number(summary.completed), avg: summary.avg_duration_ms }).toEqual({ total: 2, completed: 1, avg: 1234 });
    });
  });

  it("anon gets nothing; the service role gets everything", async () => {
    await sql.begin(async (tx) => {
      await tx`set local role anon`;
      expect(await sqlState(tx.savepoint((sp) => sp`select count(*) from public.workflow_executions`))).toBe("42501");
      expect(await sqlState(tx.savepoint((sp) => sp`select * from public.execution_stats_summary()`))).toBe("42501");
    });
    await asRole(sql, null, async (tx) => {
      const [{ n }] = await tx`select count(*)::int as n from public.workflow_executions where id in (${execA}, ${execALive}, ${execB})`;
      expect(n).toBe(3);
      const [summary] = await tx`select * from public.execution_stats_summary(${workflowA})`;
      expect(Number(summary.total)).toBe(2);
    });
  });

  it("a token without sub (auth.uid() null) sees nothing", async () => {
    await sql.begin(async (tx) => {
      await tx`select set_config('role', 'authenticated', true), set_config('request.jwt.claims', '{"role":"authenticated"}', true)`;
      const [{ n }] = await tx`select count(*)::int as n from public.workflow_executions`;
      expect(n).toBe(0);
    });
  });
});

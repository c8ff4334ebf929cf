/**
 * The execution service against the real database: idempotent create (sequential and
 * concurrent), updates by id and by Temporal workflow id, terminal repeats, and the pooled
 * connection case of auth.uid() (a transaction after one that set claims locally).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { withCaller } from "../../shared/db.ts";
import { ConflictError, InvalidTransitionError, NotFoundError, TerminalExecutionError } from "../../shared/errors.ts";
import { createExecutionService } from "../../shared/service.ts";
import { connect, createUser, createWorkflow, databaseUrl, type Sql, userCaller } from "../support/postgres.ts";

let sql: Sql;
let user: string;
let workflow: string;
const service = () => createExecutionService({ sql, caller: userCaller(user), temporal: null, log: () => {} });

beforeAll(async () => {
  sql = connect(databaseUrl(), { max: 12 });
  user = await createUser(sql);
  workflow = await createWorkflow(sql, user, { name: "billing-sync" });
});
afterAll(async () => {
  await sql.end({ timeout: 1 });
});

const countFor = async (temporalWorkflowId: string) =>
  (await sql`select count(*)::int as n from public.workflow_executions where temporal_workflow_id = ${temporalWorkflowId}`)[0].n;

describe("idempotent create", () => {
  it("the same temporalWorkflowId twice gives one row: created, then the existing one", async () => {
    const twid = `idem-${randomUUID()}`;
    const first = await service().createExecution({ workflowId: workflow, temporalWorkflowId: twid, temporalRunId: "run-1", input: { n: 1 } });
    expect(first.outcome).toBe("created");
    expect(first.execution).toMatchObject({
      workflowId: workflow, createdBy: user, temporalWorkflowId: twid, temporalRunId: "run-1", status: "running",
      input: { n: 1 }, output: null, completedAt: null, durationMs: null, activitiesExecuted: 0,
      workflow: { id: workflow, name: "billing-sync" },
    });
    const second = await service().createExecution({ workflowId: workflow, temporalWorkflowId: twid, input: { n: 2 } });
    expect(second.outcome).toBe("existing");
    expect(second.execution).toEqual(first.execution);
    expect(await countFor(twid)).toBe(1);
  });

  it("10 concurrent creates with the same temporalWorkflowId give one row", async () => {
    const twid = `idem-concurrent-${randomUUID()}`;
    const results = await Promise.all(Array.from({ length: 10 }, () =>
      createExecutionService({ sql, caller: userCaller(user), temporal: null }).createExecution({ workflowId: workflow, temporalWorkflowId: twid })
    ));
    expect(results.filter((r) => r.outcome === "created")).toHaveLength(1);
    expect(results.filter((r) => r.outcome === "existing")).toHaveLength(9);
    expect(new Set(results.map((r) => r.execution.id)).size).toBe(1);
    expect(await countFor(twid)).toBe(1);
  });

  it("the same temporalWorkflowId on another of the user's workflows is a conflict; another user's is no clash (ids are unique per owner)", async () => {
    const twid = `idem-clash-${randomUUID()}`;
    await service().createExecution({ workflowId: workflow, temporalWorkflowId: twid });
    const otherWorkflow = await createWorkflow(sql, user);
    await expect(service().createExecution({ workflowId: otherWorkflow, temporalWorkflowId: twid })).rejects.toBeInstanceOf(ConflictError);
    const other = await createUser(sql);
    const theirs = await createWorkflow(sql, other);
    const created = await createExecutionService({ sql, caller: userCaller(other), temporal: null }).createExecution({ workflowId: theirs, temporalWorkflowId: twid });
    expect(created).toMatchObject({ outcome: "created", execution: { createdBy: other, temporalLink: "reported" } });
    expect(await countFor(twid)).toBe(2);
  });

  it("an unknown workflow is not found", async () => {
    await expect(service().createExecution({ workflowId: randomUUID(), temporalWorkflowId: `x-${randomUUID()}` })).rejects.toBeInstanceOf(NotFoundError);
  });

  it("a timeout sets timeout_at", async () => {
    const { execution } = await service().createExecution({ workflowId: workflow, temporalWorkflowId: `t-${randomUUID()}`, timeoutSeconds: 3600 });
    const ahead = new Date(execution.timeoutAt!).getTime() - new Date(execution.startedAt).getTime();
    expect(Math.abs(ahead - 3_600_000)).toBeLessThan(1_000);
  });
});

describe("updates", () => {
  it("by temporalWorkflowId and by id; terminal repeats are idempotent, changes are terminal_execution", async () => {
    const twid = `upd-${randomUUID()}`;
    const { execution } = await service().createExecution({ workflowId: workflow, temporalWorkflowId: twid });
    const progressed = await service().updateExecution(twid, { activitiesExecuted: 3, status: "running" });
    expect(progressed.activitiesExecuted).toBe(3);
    const done = await service().markCompleted(twid, { total: 42, items: ["a", "b"] }, 1500);
    expect(done).toMatchObject({ status: "completed", output: { total: 42, items: ["a", "b"] }, durationMs: 1500, activitiesExecuted: 3 });
    expect(done.completedAt).not.toBeNull();

    // The same report again (jsonb key order aside): unchanged, updated_at included.
    const again = await service().updateExecutionByRef({ id: execution.id }, { status: "completed", output: { items: ["a", "b"], total: 42 }, durationMs: 1500 });
    expect(again).toEqual(done);
    await expect(service().markFailed(twid, "late failure")).rejects.toMatchObject({ code: "terminal_execution", details: { field: "status" } });
    await expect(service().updateExecution(twid, { output: { total: 43 } })).rejects.toMatchObject({ code: "terminal_execution", details: { field: "output" } });
    await expect(service().updateExecution(twid, { output: { total: 43 } })).rejects.toBeInstanceOf(TerminalExecutionError);
    expect(await service().getExecution(execution.id)).toEqual(done);
  });

  it("an illegal transition of a live row is invalid_transition and changes nothing", async () => {
    const twid = `upd-illegal-${randomUUID()}`;
    const { execution } = await service().createExecution({ workflowId: workflow, temporalWorkflowId: twid });
    const error = await service().updateExecution(twid, { status: "pending", activitiesExecuted: 9 }).catch((e) => e);
    expect(error).toBeInstanceOf(InvalidTransitionError);
    expect(error.details).toEqual({ field: "status" });
    expect(await service().getExecution(execution.id)).toEqual(execution);
  });

  it("concurrent terminal reports: one wins, the same report again is accepted, a different one is rejected", async () => {
    const twid = `upd-race-${randomUUID()}`;
    await service().createExecution({ workflowId: workflow, temporalWorkflowId: twid });
    const outcomes = await Promise.allSettled([
      service().markCompleted(twid, { ok: true }, 10),
      service().markCompleted(twid, { ok: true }, 10),
      service().markFailed(twid, "boom", 10),
      service().markCancelled(twid),
    ]);
    const final = await service().updateExecution(twid, {});
    for (const outcome of outcomes) {
      if (outcome.status === "fulfilled") expect(outcome.value).toEqual(final);
      else expect(outcome.reason).toBeInstanceOf(TerminalExecutionError);
    }
    expect(outcomes.some((o) => o.status === "fulfilled")).toBe(true);
  });
});

describe("auth.uid() on a pooled connection", () => {
  it("after a transaction set claims locally, a new transaction on the same connection sees null, not an error", async () => {
    const single = connect(databaseUrl(), { max: 1 });
    try {
      const [{ pid: pidBefore }] = await single`select pg_backend_pid() as pid`;
      await single.begin(async (tx) => {
        await tx`select set_config('request.jwt.claims', ${JSON.stringify({ sub: user, role: "authenticated" })}, true)`;
        const [{ uid }] = await tx`select auth.uid() as uid`;
        expect(uid).toBe(user);
      });
      const [after] = await single`
        select pg_backend_pid() as pid, current_setting('request.jwt.claims', true) as raw, auth.uid() as uid, auth.role() as role, auth.jwt() as jwt`;
      expect(after.pid).toBe(pidBefore); // the same connection
      expect(after.raw).toBe(""); // what a reused connection holds after `set local`
      expect(after).toMatchObject({ uid: null, role: null, jwt: {} });

      // withCaller twice on that one connection, as two users: nothing leaks from the first.
      const other = await createUser(sql);
      const first = await withCaller(single, userCaller(user), (tx) => tx`select auth.uid() as uid, current_user as role`);
      const second = await withCaller(single, userCaller(other), (tx) => tx`select auth.uid() as uid, current_user as role`);
      expect(first[0]).toEqual({ uid: user, role: "authenticated" });
      expect(second[0]).toEqual({ uid: other, role: "authenticated" });
      const [plain] = await single`select auth.uid() as uid, current_user as role`;
      expect(plain).toEqual({ uid: null, role: "postgres" });

      // RLS policies evaluate to "no rows" rather than failing.
      await single.begin(async (tx) => {
        await tx`set local role authenticated`;
        const [{ n }] = await tx`select count(*)::int as n from public.workflow_executions`;
        expect(n).toBe(0);
      });
    } finally {
      await single.end({ timeout: 1 });
    }
  });
});

/**
 * Which Temporal runs the tracker may act on (docs/architecture.md §1, migration
 * 20261201000100_temporal_ownership.sql), through direct SQL as `authenticated` and as the
 * service role (as PostgREST runs them) and through the service:
 * - temporal_link is set by the database at insert (dispatched | registered | reported) and
 *   never changes;
 * - a user's chosen temporalWorkflowId is only ever unique among their own rows: squatting
 *   another tenant's id blocks nobody (the owner's service-role registration and the worker's
 *   update by temporalWorkflowId still reach the owner's row), and a user's clash is only ever
 *   with their own rows, with no other tenant's key in any message;
 * - the `execution-` prefix is reserved for dispatched rows, and a pending row's id is derived;
 * - only registered (workflow type, task queue) pairs can be named by a workflow, and only the
 *   service role writes the registry;
 * - the id shape Temporal and both gateways can address is a CHECK.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ConflictError, NotFoundError, ValidationError } from "../../shared/errors.ts";
import { findExecution } from "../../shared/repository/executions.ts";
import { createExecutionService } from "../../shared/service.ts";
import { createWorkflowService } from "../../shared/workflows.ts";
import { withCaller } from "../../shared/db.ts";
import {
  asRole,
  connect,
  createUser,
  createWorkflow,
  databaseUrl,
  serviceCaller,
  type Sql,
  sqlState,
  type Tx,
  userCaller,
} from "../support/postgres.ts";

let sql: Sql;
let alice: string; // the owner of runs
let mallory: string; // another tenant, squatting
let aliceWorkflow: string;
let malloryWorkflow: string;

const executions = (userId: string | null) =>
  createExecutionService({ sql, caller: userId ? userCaller(userId) : serviceCaller(), temporal: null, log: () => {} });
const workflows = (userId: string | null) => createWorkflowService({ sql, caller: userId ? userCaller(userId) : serviceCaller() });

beforeAll(async () => {
  sql = connect(databaseUrl(), { max: 6 });
  [alice, mallory] = await Promise.all([createUser(sql), createUser(sql)]);
  [aliceWorkflow, malloryWorkflow] = await Promise.all([createWorkflow(sql, alice), createWorkflow(sql, mallory)]);
});
afterAll(async () => {
  await sql.end({ timeout: 1 });
});

/** A direct insert as PostgREST would run it for `userId` (null: the service role); returns the stored row. */
function insertAs(userId: string | null, row: { workflowId: string; owner: string; temporalWorkflowId?: string | null; status?: string; id?: string; temporalLink?: string }) {
  return asRole(sql, userId, async (tx: Tx) => {
    const [stored] = await tx`
      insert into public.workflow_executions (id, workflow_id, created_by, temporal_workflow_id, status ${row.temporalLink ? tx`, temporal_link` : tx``})
      values (${row.id ?? randomUUID()}, ${row.workflowId}, ${row.owner}, ${row.temporalWorkflowId ?? null}, ${row.status ?? "running"}
              ${row.temporalLink ? tx`, ${row.temporalLink}` : tx``})
      returning id, temporal_workflow_id, temporal_link, status, created_by`;
    return stored;
  });
}

/** The PostgreSQL error of a rejected promise. */
async function pgError(promise: Promise<unknown>): Promise<{ code: string; constraint_name?: string; message: string; detail?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: string; constraint_name?: string; message: string; detail?: string };
  }
  throw new Error("expected the statement to fail");
}

const rowOf = async (id: string) => (await sql`select * from public.workflow_executions where id = ${id}`)[0];

describe("temporal_link is set by the database", () => {
  it("a user's row with a chosen id is reported; a pending row is dispatched under execution-<id>; the service role's chosen id is registered", async () => {
    const twid = `link-${randomUUID()}`;
    expect(await insertAs(alice, { workflowId: aliceWorkflow, owner: alice, temporalWorkflowId: twid }))
      .toMatchObject({ temporal_link: "reported", temporal_workflow_id: twid });

    const pending = await insertAs(alice, { workflowId: aliceWorkflow, owner: alice, status: "pending" });
    expect(pending).toMatchObject({ temporal_link: "dispatched", temporal_workflow_id: `execution-${pending.id}` });

    const registered = await insertAs(null, { workflowId: aliceWorkflow, owner: alice, temporalWorkflowId: `link-service-${randomUUID()}` });
    expect(registered.temporal_link).toBe("registered");

    // Without a Temporal id there is nothing to act on, whoever inserts it.
    expect((await insertAs(null, { workflowId: aliceWorkflow, owner: alice })).temporal_link).toBe("reported");
    expect((await insertAs(alice, { workflowId: aliceWorkflow, owner: alice })).temporal_link).toBe("reported");
  });

  it("what a client sends for temporal_link is overridden on insert (or refused by column privileges)", async () => {
    const attempt = insertAs(alice, { workflowId: aliceWorkflow, owner: alice, temporalWorkflowId: `forged-${randomUUID()}`, temporalLink: "registered" });
    const outcome = await attempt.then((row) => row.temporal_link as string, (error) => (error as { code: string }).code);
    expect(["reported", "42501"]).toContain(outcome);
    // The service role cannot choose it either: a chosen id is registered, a pending row dispatched.
    const forged = await insertAs(null, { workflowId: aliceWorkflow, owner: alice, temporalWorkflowId: `forged-${randomUUID()}`, temporalLink: "dispatched" });
    expect(forged.temporal_link).toBe("registered");
  });

  it("temporal_link never changes: ET010 (a user may also be refused the column: 42501)", async () => {
    const reported = await insertAs(alice, { workflowId: aliceWorkflow, owner: alice, temporalWorkflowId: `immutable-${randomUUID()}` });
    const asUser = await sqlState(asRole(sql, alice, (tx) => tx`update public.workflow_executions set temporal_link = 'registered' where id = ${reported.id}`));
    expect(["ET010", "42501"]).toContain(asUser);
    expect(await sqlState(asRole(sql, null, (tx) => tx`update public.workflow_executions set temporal_link = 'registered' where id = ${reported.id}`))).toBe("ET010");
    expect((await rowOf(reported.id)).temporal_link).toBe("reported");
  });

  it("the service exposes temporalLink", async () => {
    const created = await executions(alice).createExecution({ workflowId: aliceWorkflow, temporalWorkflowId: `exposed-${randomUUID()}` });
    expect(created.execution.temporalLink).toBe("reported");
    const registered = await executions(null).createExecution({ workflowId: aliceWorkflow, userId: alice, temporalWorkflowId: `exposed-${randomUUID()}` });
    expect(registered.execution.temporalLink).toBe("registered");
    const pending = await executions(alice).createExecution({ workflowId: await createWorkflow(sql, alice, { temporalWorkflowType: "t", taskQueue: "q" }) });
    expect(pending.execution).toMatchObject({ status: "pending", temporalLink: "dispatched" });
  });
});

describe("squatting another tenant's id blocks nobody", () => {
  it("Mallory reports Alice's predictable id first: Alice's backend still registers it, and the worker's update reaches Alice's row only", async () => {
    const twid = `order-${randomUUID()}`;
    // Mallory records the id before its owner does: directly and through the API.
    const squat = await insertAs(mallory, { workflowId: malloryWorkflow, owner: mallory, temporalWorkflowId: twid });
    expect(squat.temporal_link).toBe("reported");
    expect((await executions(mallory).createExecution({ workflowId: malloryWorkflow, temporalWorkflowId: twid })).outcome).toBe("existing");

    // Alice's backend (service role) registers the run it started.
    const registered = await executions(null).createExecution({ workflowId: aliceWorkflow, userId: alice, temporalWorkflowId: twid });
    expect(registered.outcome).toBe("created");
    expect(registered.execution).toMatchObject({ createdBy: alice, temporalLink: "registered" });

    // The worker's update by temporalWorkflowId (service role) addresses the acted-on row: Alice's.
    const completed = await executions(null).markCompleted(twid, { total: 42 }, 10);
    expect(completed).toMatchObject({ id: registered.execution.id, status: "completed", output: { total: 42 } });
    expect((await rowOf(squat.id)).status).toBe("running");

    // A service-role lookup by temporalWorkflowId never finds the squat.
    const found = await withCaller(sql, serviceCaller(), (tx) => findExecution(tx, { temporalWorkflowId: twid }));
    expect(found?.id).toBe(registered.execution.id);

    // Mallory's update by temporalWorkflowId reaches Mallory's own record, never Alice's run.
    const own = await executions(mallory).updateExecution(twid, { status: "failed", errorMessage: "mine" });
    expect(own.id).toBe(squat.id);
    expect((await rowOf(registered.execution.id)).status).toBe("completed");
  });

  it("a user recording an id another tenant's registered run holds is not a clash (and reveals nothing)", async () => {
    const twid = `shared-name-${randomUUID()}`;
    await executions(null).createExecution({ workflowId: aliceWorkflow, userId: alice, temporalWorkflowId: twid });
    const mine = await executions(mallory).createExecution({ workflowId: malloryWorkflow, temporalWorkflowId: twid });
    expect(mine.outcome).toBe("created");
    expect(mine.execution).toMatchObject({ createdBy: mallory, temporalLink: "reported" });
    // Directly as authenticated too.
    const direct = await insertAs(mallory, { workflowId: await createWorkflow(sql, mallory), owner: mallory, temporalWorkflowId: `${twid}-direct` });
    await insertAs(null, { workflowId: aliceWorkflow, owner: alice, temporalWorkflowId: `${twid}-direct` });
    expect(direct.temporal_link).toBe("reported");
  });

  it("the service role's update by temporalWorkflowId never reaches a row a user only reported", async () => {
    const twid = `reported-only-${randomUUID()}`;
    const reported = await executions(mallory).createExecution({ workflowId: malloryWorkflow, temporalWorkflowId: twid });
    await expect(executions(null).markCompleted(twid, { stolen: true })).rejects.toBeInstanceOf(NotFoundError);
    await expect(executions(null).markCancelled(twid)).rejects.toBeInstanceOf(NotFoundError);
    expect((await rowOf(reported.execution.id)).status).toBe("running");
    // By id, the service role still addresses it.
    expect((await executions(null).updateExecutionByRef({ id: reported.execution.id }, { status: "completed" })).status).toBe("completed");
  });

  it("a lookup by temporalWorkflowId reads a unique index for either caller (the shape of repository/executions.ts refCondition)", async () => {
    const twid = `plan-${randomUUID()}`;
    const explain = (userId: string | null) => asRole(sql, userId, async (tx) => {
      await tx`set local enable_seqscan = off`;
      const rows = await tx`
        explain (costs off) select e.id from public.workflow_executions e where id in (
          select acted.id from public.workflow_executions acted
           where acted.temporal_workflow_id = ${twid} and acted.temporal_link <> 'reported'
             and current_user not in ('authenticated', 'anon')
          union all
          select own.id from public.workflow_executions own
           where own.temporal_workflow_id = ${twid} and own.created_by = (select auth.uid())
             and current_user in ('authenticated', 'anon'))`;
      return rows.map((r) => r["QUERY PLAN"]).join("\n");
    });
    const plan = await explain(null);
    expect(plan).toMatch(/Index (Only )?Scan using workflow_executions_acted_temporal_workflow_id_key on workflow_executions acted\s+Index Cond: \(temporal_workflow_id =/);
    expect(plan).toMatch(/Index (Only )?Scan using workflow_executions_owner_temporal_workflow_id_key on workflow_executions own\s+Index Cond: \(\(created_by = \$\d\) AND \(temporal_workflow_id =/);
  });
});

describe("a user's clash is only ever with their own rows", () => {
  it("the same id twice on one workflow is the same execution; on another of their workflows a conflict", async () => {
    const twid = `own-${randomUUID()}`;
    const first = await executions(alice).createExecution({ workflowId: aliceWorkflow, temporalWorkflowId: twid });
    const again = await executions(alice).createExecution({ workflowId: aliceWorkflow, temporalWorkflowId: twid });
    expect(again).toMatchObject({ outcome: "existing", execution: { id: first.execution.id } });
    const other = await createWorkflow(sql, alice);
    await expect(executions(alice).createExecution({ workflowId: other, temporalWorkflowId: twid })).rejects.toBeInstanceOf(ConflictError);
  });

  it("a direct duplicate fails the per-owner unique, whose message carries only the caller's own keys", async () => {
    const twid = `own-direct-${randomUUID()}`;
    await insertAs(null, { workflowId: malloryWorkflow, owner: mallory, temporalWorkflowId: twid });
    await insertAs(alice, { workflowId: aliceWorkflow, owner: alice, temporalWorkflowId: twid });
    const error = await pgError(insertAs(alice, { workflowId: aliceWorkflow, owner: alice, temporalWorkflowId: twid }));
    expect(error.code).toBe("23505");
    expect(error.constraint_name).toBe("workflow_executions_owner_temporal_workflow_id_key");
    expect(`${error.message} ${error.detail ?? ""}`).not.toContain(mallory);
  });

  it("two service-role registrations of one run for different owners clash (acted-on rows are unique)", async () => {
    const twid = `acted-${randomUUID()}`;
    await executions(null).createExecution({ workflowId: aliceWorkflow, userId: alice, temporalWorkflowId: twid });
    await expect(executions(null).createExecution({ workflowId: malloryWorkflow, userId: mallory, temporalWorkflowId: twid }))
      .rejects.toBeInstanceOf(ConflictError);
    const error = await pgError(insertAs(null, { workflowId: malloryWorkflow, owner: mallory, temporalWorkflowId: twid }));
    expect([error.code, error.constraint_name]).toEqual(["23505", "workflow_executions_acted_temporal_workflow_id_key"]);
  });

  it("a service-role registration of a run the owner only reported themselves is a conflict (the link cannot be upgraded)", async () => {
    const twid = `upgrade-${randomUUID()}`;
    await executions(alice).createExecution({ workflowId: aliceWorkflow, temporalWorkflowId: twid });
    await expect(executions(null).createExecution({ workflowId: aliceWorkflow, userId: alice, temporalWorkflowId: twid }))
      .rejects.toBeInstanceOf(ConflictError);
  });
});

describe("reserved prefix and derived pending ids", () => {
  it("execution- is reserved: any row but a pending one's own derived id is refused (ET011)", async () => {
    const someExecution = (await insertAs(alice, { workflowId: aliceWorkflow, owner: alice, status: "pending" })).id;
    for (const userId of [alice, null]) {
      expect(await sqlState(insertAs(userId, { workflowId: aliceWorkflow, owner: alice, temporalWorkflowId: `execution-${randomUUID()}` }))).toBe("ET011");
      expect(await sqlState(insertAs(userId, { workflowId: aliceWorkflow, owner: alice, temporalWorkflowId: `execution-${someExecution}` }))).toBe("ET011");
    }
    // Nor can a row without an id take one later.
    const bare = await insertAs(alice, { workflowId: aliceWorkflow, owner: alice });
    expect(await sqlState(asRole(sql, alice, (tx) => tx`update public.workflow_executions set temporal_workflow_id = ${`execution-${bare.id}`} where id = ${bare.id}`)))
      .toBe("ET011");
    // Through the service: a 400 naming the field.
    const error = await executions(alice).createExecution({ workflowId: aliceWorkflow, temporalWorkflowId: `execution-${someExecution}` }).catch((e) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.details.fields[0].path).toBe("temporalWorkflowId");
  });

  it("a pending row always has the derived id: a chosen one is refused (ET012), its own derived one accepted", async () => {
    for (const userId of [alice, null]) {
      expect(await sqlState(insertAs(userId, { workflowId: aliceWorkflow, owner: alice, status: "pending", temporalWorkflowId: `chosen-${randomUUID()}` }))).toBe("ET012");
    }
    const id = randomUUID();
    expect(await insertAs(alice, { id, workflowId: aliceWorkflow, owner: alice, status: "pending", temporalWorkflowId: `execution-${id}` }))
      .toMatchObject({ temporal_link: "dispatched", temporal_workflow_id: `execution-${id}` });
  });
});

describe("the id shape Temporal and both gateways can address is a CHECK", () => {
  const bad = ["..", ".", "a/b", "/", "tab\there", "line\nfeed", "bell\u0007", "del\u007f", "c1\u0085", "é".repeat(501)];
  it.each(bad.map((id) => [JSON.stringify(id).slice(0, 40), id]))("refuses %s", async (_, twid) => {
    const error = await pgError(insertAs(alice, { workflowId: aliceWorkflow, owner: alice, temporalWorkflowId: twid }));
    expect([error.code, error.constraint_name]).toEqual(["23514", "workflow_executions_temporal_workflow_id_shape"]);
  });

  it("accepts what Temporal accepts: up to 1000 bytes, dots and unicode inside an id", async () => {
    for (const twid of ["é".repeat(500), `...${randomUUID()}`, `a.b-${randomUUID()}`, `ünïcödé ${randomUUID()}`]) {
      expect((await insertAs(alice, { workflowId: aliceWorkflow, owner: alice, temporalWorkflowId: twid })).temporal_workflow_id).toBe(twid);
    }
  });
});

describe("only the service role decides which workflow types and task queues can be started", () => {
  it("a user cannot write the registry, but reads it", async () => {
    const pair = { type: `Payments-${randomUUID()}`, queue: "internal" };
    expect(await sqlState(asRole(sql, alice, (tx) => tx`insert into public.temporal_workflow_types (workflow_type, task_queue) values (${pair.type}, ${pair.queue})`)))
      .toBe("42501");
    await asRole(sql, null, (tx) => tx`insert into public.temporal_workflow_types (workflow_type, task_queue) values (${pair.type}, ${pair.queue})`);
    expect(await sqlState(asRole(sql, alice, (tx) => tx`update public.temporal_workflow_types set task_queue = 'other' where workflow_type = ${pair.type}`)))
      .toBe("42501");
    expect(await sqlState(asRole(sql, alice, (tx) => tx`delete from public.temporal_workflow_types where workflow_type = ${pair.type}`))).toBe("42501");
    const seen = await asRole(sql, alice, (tx) => tx`select task_queue from public.temporal_workflow_types where workflow_type = ${pair.type}`);
    expect(seen.map((r) => r.task_queue)).toEqual(["internal"]);
  });

  it("a user's workflow cannot name an unregistered type or queue (insert or update), nor only one of the two", async () => {
    const unregistered = `Payments-${randomUUID()}`;
    const insert = (type: string | null, queue: string | null) =>
      asRole(sql, alice, (tx) => tx`
        insert into public.workflows (name, created_by, temporal_workflow_type, task_queue) values ('mine', ${alice}, ${type}, ${queue}) returning id`);
    let error = await pgError(insert(unregistered, "internal"));
    expect([error.code, error.constraint_name]).toEqual(["23503", "workflows_temporal_workflow_type_registered_fkey"]);
    error = await pgError(insert("t", null));
    expect([error.code, error.constraint_name]).toEqual(["23514", "workflows_temporal_workflow_type_pair"]);

    // A registered pair is fine; moving it to an unregistered queue is not; renaming is.
    await sql`insert into public.temporal_workflow_types (workflow_type, task_queue) values ('Reports', 'reports') on conflict do nothing`;
    const [{ id }] = await insert("Reports", "reports");
    error = await pgError(asRole(sql, alice, (tx) => tx`update public.workflows set task_queue = 'internal-payments' where id = ${id}`));
    expect([error.code, error.constraint_name]).toEqual(["23503", "workflows_temporal_workflow_type_registered_fkey"]);
    error = await pgError(asRole(sql, alice, (tx) => tx`update public.workflows set temporal_workflow_type = ${unregistered} where id = ${id}`));
    expect(error.code).toBe("23503");
    await asRole(sql, alice, (tx) => tx`update public.workflows set name = 'renamed', description = 'mine' where id = ${id}`);
    expect((await sql`select name, task_queue from public.workflows where id = ${id}`)[0]).toEqual({ name: "renamed", task_queue: "reports" });
  });

  it("through the service: an unregistered pair is a 400 naming the field", async () => {
    const error = await workflows(alice).createWorkflow({ name: "payments", temporalWorkflowType: `Payments-${randomUUID()}`, taskQueue: "internal" }).catch((e) => e);
    expect(error).toBeInstanceOf(ValidationError);
    expect(error.details.fields[0].path).toBe("temporalWorkflowType");
  });

  it("unregistering a pair clears it from the workflows that name it, so nothing can start it any more", async () => {
    const pair = { workflowType: `Doomed-${randomUUID()}`, taskQueue: "doomed" };
    expect((await workflows(null).registerWorkflowType(pair)).created).toBe(true);
    const workflow = await workflows(alice).createWorkflow({ name: "doomed", temporalWorkflowType: pair.workflowType, taskQueue: pair.taskQueue });
    expect(await workflows(null).unregisterWorkflowType(pair.workflowType, pair.taskQueue)).toEqual({ workflowsCleared: 1 });
    expect(await workflows(alice).getWorkflow(workflow.id)).toMatchObject({ temporalWorkflowType: null, taskQueue: null });
    await expect(workflows(null).unregisterWorkflowType(pair.workflowType, pair.taskQueue)).rejects.toBeInstanceOf(NotFoundError);
  });
});

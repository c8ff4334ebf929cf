/**
 * The lifecycle as the database enforces it (trigger enforce_execution_lifecycle), for every
 * (from, to) pair of the six statuses, through direct SQL as `authenticated` and as
 * `service_role`; and the TypeScript rules (shared/status.ts) against the SQL ones.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { canTransition, type ExecutionStatus, executionStatuses, isTerminal, liveStatuses } from "../../shared/status.ts";
import { asRole, connect, createUser, createWorkflow, databaseUrl, type Sql, sqlState, type Tx } from "../support/postgres.ts";

/** The error a statement fails with (postgres.js PostgresError fields), or throws if it succeeded. */
async function failure(promise: Promise<unknown>): Promise<{ code: string; column_name?: string; constraint_name?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as { code: string; column_name?: string };
  }
  throw new Error("expected the statement to fail");
}

let sql: Sql;
let user: string;
let workflow: string;

beforeAll(async () => {
  sql = connect(databaseUrl());
  user = await createUser(sql);
  workflow = await createWorkflow(sql, user);
});
afterAll(async () => {
  await sql.end({ timeout: 1 });
});

const pairs = executionStatuses.flatMap((from) => executionStatuses.map((to) => [from, to] as [ExecutionStatus, ExecutionStatus]));
const personas = [
  { name: "authenticated", userId: () => user },
  { name: "service_role", userId: () => null },
] as const;

/**
 * Inserts a row in `status`, started 1.5 s before the transaction began. As the service role
 * (a user may only record the start of a run), without a Temporal id of its own (a pending row
 * gets its derived one); the transaction then goes on as `persona`.
 */
async function insertRow(tx: Tx, status: ExecutionStatus, persona: "authenticated" | "service_role"): Promise<string> {
  await tx`select set_config('role', 'service_role', true)`;
  const [row] = await tx`
    insert into public.workflow_executions (workflow_id, created_by, status, started_at)
    values (${workflow}, ${user}, ${status}, now() - interval '1.5 seconds')
    returning id`;
  await tx`select set_config('role', ${persona}, true)`;
  return row.id;
}

/** The run of a pending row is one the tracker acts on: cancelling or timing it out is a stop request (20261201000300). */
const isStop = (from: ExecutionStatus, to: ExecutionStatus) => from === "pending" && (to === "cancelled" || to === "timed_out");

describe.each(personas)("every status pair through direct SQL as $name", (persona) => {
  it.each(pairs)("%s -> %s", async (from, to) => {
    const sqlAllows = from === to || canTransition(from, to);
    const outcome = await asRole(sql, persona.userId(), async (tx) => {
      const id = await insertRow(tx, from, persona.name);
      const [before] = await tx`select * from public.workflow_executions where id = ${id}`;
      // The service role confirms the stop as the tracker does once Temporal closed the run.
      const closes = persona.name === "service_role" && isStop(from, to);
      const state = await sqlState(
        tx.savepoint((sp) => sp`update public.workflow_executions set status = ${to}
                                  ${closes ? sp`, temporal_closed_at = now()` : sp``} where id = ${id}`),
      ).catch(() => null); // null: the update succeeded
      const [after] = await tx`select *, extract(epoch from (completed_at - started_at)) * 1000 as elapsed_ms from public.workflow_executions where id = ${id}`;
      return { state, before, after };
    });

    if (!sqlAllows) {
      // Leaving a terminal state is a change to a finished execution; the one backward move
      // of a live row is an illegal transition.
      expect(outcome.state).toBe(isTerminal(from) ? "ET003" : "ET001");
      const { elapsed_ms: _, ...after } = outcome.after;
      expect(after).toEqual(outcome.before); // nothing changed
      return;
    }
    expect(outcome.state).toBeNull();
    if (persona.name === "authenticated" && isStop(from, to)) {
      // A user's cancel of a run the tracker started is a stop request: the row stays live
      // until Temporal confirms it.
      expect(outcome.after.status).toBe(from);
      expect(outcome.after.stop_requested_at).toBeInstanceOf(Date);
      return;
    }
    expect(outcome.after.status).toBe(to);
    if (isTerminal(to)) {
      // Entering (or being created in) a terminal state fixes completed_at; the duration is
      // measured from running_at, and a run that never ran (from pending) has none.
      expect(outcome.after.completed_at).toBeInstanceOf(Date);
      if (from === "pending") {
        expect(outcome.after.running_at).toBeNull();
        expect(outcome.after.duration_ms).toBeNull();
      } else {
        expect(Number(outcome.after.duration_ms)).toBe(Math.round(Number(outcome.after.elapsed_ms)));
        expect(Number(outcome.after.duration_ms)).toBe(1500);
      }
    } else {
      expect(outcome.after.completed_at).toBeNull();
      expect(outcome.after.duration_ms).toBeNull();
      // pending -> running starts the clock now; a row recorded running started at started_at.
      if (to === "running") expect(outcome.after.running_at).toBeInstanceOf(Date);
      else expect(outcome.after.running_at).toBeNull();
    }
  });
});

describe("terminal rows", () => {
  it("repeating a terminal row unchanged is allowed and keeps updated_at; changing any field is ET003 naming it", async () => {
    await asRole(sql, user, async (tx) => {
      const id = await insertRow(tx, "running", "authenticated");
      await tx`update public.workflow_executions set status = 'completed', output = '{"ok":true}' where id = ${id}`;
      const [done] = await tx`select * from public.workflow_executions where id = ${id}`;
      await tx`update public.workflow_executions set status = 'completed', output = '{"ok":true}' where id = ${id}`;
      const [again] = await tx`select * from public.workflow_executions where id = ${id}`;
      expect(again).toEqual(done);
      for (const [column, change] of [
        ["output", (sp: Tx) => sp`update public.workflow_executions set output = '{"ok":false}' where id = ${id}`],
        ["error_message", (sp: Tx) => sp`update public.workflow_executions set error_message = 'late' where id = ${id}`],
        ["activities_executed", (sp: Tx) => sp`update public.workflow_executions set activities_executed = 3 where id = ${id}`],
        ["duration_ms", (sp: Tx) => sp`update public.workflow_executions set duration_ms = 1 where id = ${id}`],
        ["status", (sp: Tx) => sp`update public.workflow_executions set status = 'failed', error_message = 'late' where id = ${id}`],
      ] as const) {
        const error = await failure(tx.savepoint(change));
        expect(error.code, column).toBe("ET003");
        expect(error.column_name, column).toBe(column);
      }
    });
  });

  it("a terminal row keeps a duration_ms that was given", async () => {
    await asRole(sql, null, async (tx) => {
      const id = await insertRow(tx, "running", "service_role");
      await tx`update public.workflow_executions set status = 'failed', duration_ms = 42 where id = ${id}`;
      const [row] = await tx`select duration_ms, completed_at from public.workflow_executions where id = ${id}`;
      expect(Number(row.duration_ms)).toBe(42);
      expect(row.completed_at).toBeInstanceOf(Date);
    });
  });

  it("immutable columns cannot change (ET002 naming the column), for the service role too", async () => {
    const other = await createWorkflow(sql, user);
    for (const persona of personas) {
      await asRole(sql, persona.userId(), async (tx) => {
        const id = await insertRow(tx, "running", persona.name);
        await tx`select set_config('role', 'service_role', true)`;
        await tx`update public.workflow_executions set temporal_workflow_id = ${`lifecycle-${randomUUID()}`} where id = ${id}`;
        await tx`select set_config('role', ${persona.name}, true)`;
        for (const [column, change] of [
          ["workflow_id", (sp: Tx) => sp`update public.workflow_executions set workflow_id = ${other} where id = ${id}`],
          ["started_at", (sp: Tx) => sp`update public.workflow_executions set started_at = now() where id = ${id}`],
          ["created_at", (sp: Tx) => sp`update public.workflow_executions set created_at = now() - interval '1 day' where id = ${id}`],
          ["temporal_workflow_id", (sp: Tx) => sp`update public.workflow_executions set temporal_workflow_id = 'renamed' where id = ${id}`],
          ["id", (sp: Tx) => sp`update public.workflow_executions set id = gen_random_uuid() where id = ${id}`],
        ] as const) {
          const error = await failure(tx.savepoint(change));
          expect(error.code, column).toBe("ET002");
          expect(error.column_name, column).toBe(column);
        }
        // running_at is the database's: users have no UPDATE privilege on it at all.
        const error = await failure(tx.savepoint((sp) => sp`update public.workflow_executions set running_at = now() where id = ${id}`));
        if (persona.name === "service_role") expect(error).toMatchObject({ code: "ET002", column_name: "running_at" });
        else expect(error.code).toMatch(/^(ET002|42501)$/);
      });
    }
  });
});

describe("TypeScript rules against SQL execution_transition_allowed", () => {
  it("agree on all 36 pairs", async () => {
    const rows = await sql`
      select f::text as from_status, t::text as to_status, public.execution_transition_allowed(f, t) as allowed
        from unnest(${[...executionStatuses]}::text[]) f, unnest(${[...executionStatuses]}::text[]) t`;
    expect(rows).toHaveLength(36);
    expect(new Set(rows.map((r) => r.from_status))).toEqual(new Set(executionStatuses));
    for (const { from_status, to_status, allowed } of rows) {
      const from = from_status as ExecutionStatus;
      const to = to_status as ExecutionStatus;
      if (from !== to) {
        // A status change: the very rule the trigger applies.
        expect(canTransition(from, to), `${from}->${to}`).toBe(allowed);
      } else {
        // No change of status: SQL's function only judges changes (the trigger never asks it
        // then), and answers false; TypeScript lets a live row stay live (heartbeats), and a
        // terminal row is final in both.
        expect(allowed, `${from}->${to}`).toBe(false);
        expect(canTransition(from, to), `${from}->${to}`).toBe(!isTerminal(from));
      }
    }
    const [terminal] = await sql`
      select array_agg(s::text order by o) as statuses from unnest(${[...executionStatuses]}::text[]) with ordinality u(s, o)
       where public.execution_status_is_terminal(s)`;
    expect(terminal.statuses).toEqual(executionStatuses.filter(isTerminal));
    const [live] = await sql`
      select array_agg(s::text order by o) as statuses from unnest(${[...executionStatuses]}::text[]) with ordinality u(s, o)
       where public.execution_status_is_live(s)`;
    expect(live.statuses).toEqual([...liveStatuses]);
    // The status domain accepts exactly the six statuses.
    for (const status of executionStatuses) await sql`select ${status}::public.execution_status`;
    expect(await sqlState(sql`select 'paused'::public.execution_status`)).toBe("23514");
  });
});

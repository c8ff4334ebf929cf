/**
 * Execution integrity (migration 20261201000200) through direct SQL, as `authenticated` and as
 * `service_role`: timestamps finite and in bounds (named CHECKs), one SQLSTATE per condition
 * naming its column or constraint and its typed error, live-only user inserts, a delete and
 * re-insert that cannot write a terminal history, durations only for runs that ran and only
 * from when they started running, stats rollups exact throughout; and the migration's fix of
 * rows written before it.
 */
import { randomUUID } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { translateDatabaseError } from "../../shared/database-errors.ts";
import {
  ExecutionError,
  ImmutableFieldError,
  InvalidTransitionError,
  NotFoundError,
  TerminalExecutionError,
  ValidationError,
} from "../../shared/errors.ts";
import { toExecutionRow } from "../../shared/repository/executions.ts";
import { createExecutionService } from "../../shared/service.ts";
import { liveStatuses, terminalStatuses } from "../../shared/status.ts";
import {
  asRole,
  connect,
  createUser,
  createWorkflow,
  databaseUrl,
  dropDatabase,
  REPO_ROOT,
  serviceCaller,
  type Sql,
  type Tx,
  userCaller,
  withDatabase,
} from "../support/postgres.ts";

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

interface PgError {
  code: string;
  column_name?: string;
  constraint_name?: string;
}

/** The PostgreSQL error a statement fails with, or throws if it succeeded. */
async function failure(promise: Promise<unknown>): Promise<PgError & Error> {
  try {
    await promise;
  } catch (error) {
    return error as PgError & Error;
  }
  throw new Error("expected the statement to fail");
}

/** Runs `work` in a savepoint as the given role and returns its failure. */
const failsAs = (tx: Tx, work: (sp: Tx) => Promise<unknown>) => failure(tx.savepoint(work));

/** A running row recorded as the service role (started 1.5 s before the transaction); the transaction goes on as `persona`. */
async function runningRow(tx: Tx, persona: "authenticated" | "service_role"): Promise<string> {
  await tx`select set_config('role', 'service_role', true)`;
  const [row] = await tx`
    insert into public.workflow_executions (workflow_id, created_by, status, started_at)
    values (${workflow}, ${user}, 'running', now() - interval '1.5 seconds')
    returning id`;
  await tx`select set_config('role', ${persona}, true)`;
  return row.id;
}

/** The rollups plus the unfolded stat deltas (the execution_stats view, one snapshot) hold exactly the aggregates of the user's rows. */
async function expectRollupsExact(owner: string) {
  const [fresh, rollup] = await Promise.all([
    sql`select workflow_id, status::text, count(*)::int as executions, count(duration_ms)::int as timed, coalesce(sum(duration_ms), 0)::text as ms
          from public.workflow_executions where created_by = ${owner} group by 1, 2 order by 1, 2`,
    sql`select workflow_id, status::text, executions::int, durations_counted::int as timed, duration_ms_sum::text as ms
          from public.execution_stats where created_by = ${owner} order by 1, 2`,
  ]);
  expect(rollup).toEqual(fresh);
}

const personas = [
  { name: "authenticated" as const, userId: () => user },
  { name: "service_role" as const, userId: () => null },
];

describe("timestamps are finite and in [2000-01-01, 2200-01-01)", () => {
  const outOfRange = ["infinity", "-infinity", "2200-01-01T00:00:00Z", "1999-12-31T23:59:59.999999Z", "294276-12-31T00:00:00Z"];

  it.each(personas)("an insert with an out-of-range time is 23514 naming the column's constraint ($name)", async (persona) => {
    await asRole(sql, persona.userId(), async (tx) => {
      for (const value of outOfRange) {
        // (created_at and updated_at are the database's: users may not insert them at all.)
        const columns = persona.name === "authenticated" ? ["started_at", "timeout_at"] as const : ["started_at", "timeout_at", "created_at", "updated_at"] as const;
        for (const column of columns) {
          const error = await failsAs(tx, (sp) => sp`
            insert into public.workflow_executions (workflow_id, created_by, status, ${sp(column)})
            values (${workflow}, ${user}, 'running', ${value}::text::timestamptz)`);
          expect(error.code, `${column} = ${value}`).toBe("23514");
          expect(error.constraint_name, `${column} = ${value}`).toBe(`workflow_executions_${column}_in_range`);
          // ...which the service answers as a 400 naming the field.
          const translated = translateDatabaseError(error);
          expect(translated).toBeInstanceOf(ValidationError);
          expect((translated as ValidationError).issues.map((i) => i.path)).toEqual([column.replace(/_(\w)/g, (_, c) => c.toUpperCase())]);
        }
      }
    });
  });

  it.each(personas)("an update to an out-of-range time is rejected the same way ($name)", async (persona) => {
    await asRole(sql, persona.userId(), async (tx) => {
      const id = await runningRow(tx, persona.name);
      for (const value of ["infinity", "-infinity"]) {
        const deadline = await failsAs(tx, (sp) => sp`update public.workflow_executions set timeout_at = ${value}::text::timestamptz where id = ${id}`);
        expect(deadline).toMatchObject({ code: "23514", constraint_name: "workflow_executions_timeout_at_in_range" });
        // Ending the run at infinity: the bound, not a datetime overflow in the duration.
        const end = await failsAs(tx, (sp) => sp`
          update public.workflow_executions set status = 'completed', completed_at = ${value}::text::timestamptz where id = ${id}`);
        expect(end).toMatchObject({ code: "23514", constraint_name: "workflow_executions_completed_at_in_range" });
      }
    });
  });

  it("workflows' timestamps too", async () => {
    for (const column of ["created_at", "updated_at"] as const) {
      const error = await failure(sql`
        insert into public.workflows (name, created_by, ${sql(column)}) values ('bounded', ${user}, 'infinity')`);
      expect(error).toMatchObject({ code: "23514", constraint_name: `workflows_${column}_in_range` });
    }
  });

  it("the bounds themselves are valid, and such rows map and list without error", async () => {
    const [row] = await sql`
      insert into public.workflow_executions (workflow_id, created_by, status, started_at, completed_at, timeout_at, duration_ms)
      values (${workflow}, ${user}, 'completed', '2000-01-01T00:00:00Z', '2199-12-31T23:59:59.999999Z', '2199-12-31T23:59:59.999999Z', 9223372036854775807)
      returning id`;
    const service = createExecutionService({ sql, caller: serviceCaller(), temporal: null });
    const execution = await service.getExecution(row.id);
    expect(execution).toMatchObject({
      startedAt: "2000-01-01T00:00:00.000Z",
      completedAt: "2199-12-31T23:59:59.999Z",
      timeoutAt: "2199-12-31T23:59:59.999Z",
      durationMs: 9223372036854775807,
    });
    const page = await service.listExecutions({ limit: 100 });
    expect(page.data.length).toBeGreaterThan(0);
    await sql`delete from public.workflow_executions where id = ${row.id}`;
  });

  it("the row mapping never throws on a value postgres.js hands over", async () => {
    const [row] = await sql`select e.*, 'x' as workflow_name, '2026-01-01T00:00:00.000000Z' as position_started_at
                              from public.workflow_executions e where created_by = ${user} limit 1`
      .then(async (rows) => rows.length ? rows : await sql`
        insert into public.workflow_executions (workflow_id, created_by) values (${workflow}, ${user})
        returning *, 'x' as workflow_name, '2026-01-01T00:00:00.000000Z' as position_started_at`);
    const odd = { ...row, started_at: new Date(Number.NaN), completed_at: "infinity", timeout_at: new Date(8.64e15 + 1), updated_at: undefined, duration_ms: "not a number" };
    const mapped = toExecutionRow(odd).execution;
    expect(mapped).toMatchObject({ startedAt: null, completedAt: null, timeoutAt: null, updatedAt: null, durationMs: null });
  });
});

describe("the SQL error contract: one SQLSTATE per condition, the column or constraint named, one typed error each", () => {
  it.each(personas)("ET001 illegal transition, ET003 terminal row, ET002 immutable column, 23514 bad value, 42501 non-live insert ($name)", async (persona) => {
    await asRole(sql, persona.userId(), async (tx) => {
      const id = await runningRow(tx, persona.name);
      const transition = await failsAs(tx, (sp) => sp`update public.workflow_executions set status = 'pending' where id = ${id}`);
      expect(transition).toMatchObject({ code: "ET001", column_name: "status" });
      expect(translateDatabaseError(transition)).toBeInstanceOf(InvalidTransitionError);
      expect(translateDatabaseError(transition)).toMatchObject({ status: 409, code: "invalid_transition", details: { field: "status" } });

      const immutable = await failsAs(tx, (sp) => sp`update public.workflow_executions set started_at = now() where id = ${id}`);
      expect(immutable).toMatchObject({ code: "ET002", column_name: "started_at" });
      expect(translateDatabaseError(immutable)).toBeInstanceOf(ImmutableFieldError);
      expect(translateDatabaseError(immutable)).toMatchObject({ status: 409, code: "immutable_field", details: { field: "startedAt" } });

      const bad = await failsAs(tx, (sp) => sp`update public.workflow_executions set duration_ms = -1, status = 'completed' where id = ${id}`);
      expect(bad).toMatchObject({ code: "23514", constraint_name: "workflow_executions_duration_ms_check" });
      expect(translateDatabaseError(bad)).toMatchObject({ status: 400, code: "validation_failed", details: { fields: [{ path: "durationMs" }] } });

      await tx`update public.workflow_executions set status = 'completed', output = '{"n":1}' where id = ${id}`;
      for (const [column, change] of [
        ["status", (sp: Tx) => sp`update public.workflow_executions set status = 'failed' where id = ${id}`],
        ["output", (sp: Tx) => sp`update public.workflow_executions set output = '{"n":2}' where id = ${id}`],
        ["error_message", (sp: Tx) => sp`update public.workflow_executions set error_message = 'late' where id = ${id}`],
      ] as const) {
        const terminal = await failsAs(tx, change);
        expect(terminal).toMatchObject({ code: "ET003", column_name: column });
        expect(translateDatabaseError(terminal)).toBeInstanceOf(TerminalExecutionError);
        expect((translateDatabaseError(terminal) as ExecutionError).status).toBe(409);
      }
      // The immutable columns are checked first, on a terminal row too.
      expect(await failsAs(tx, (sp) => sp`update public.workflow_executions set created_at = now() - interval '1 day' where id = ${id}`))
        .toMatchObject({ code: "ET002", column_name: "created_at" });

      if (persona.name === "authenticated") {
        const insert = await failsAs(tx, (sp) => sp`
          insert into public.workflow_executions (workflow_id, created_by, status) values (${workflow}, ${user}, 'completed')`);
        expect(insert.code).toBe("42501");
        expect(translateDatabaseError(insert)).toBeInstanceOf(NotFoundError);
      }
    });
  });

  it("no message of ours is needed to tell the conditions apart: every code maps without reading message or detail", () => {
    for (const code of ["ET001", "ET002", "ET003"]) {
      const bare = Object.assign(new Error(""), { code, column_name: "status" });
      expect(translateDatabaseError(bare)).toBeInstanceOf(ExecutionError);
    }
  });
});

describe("a user inserts only the start of a run", () => {
  it("pending or running, without output; terminal statuses are refused whatever else is given", async () => {
    await asRole(sql, user, async (tx) => {
      for (const status of terminalStatuses) {
        expect((await failsAs(tx, (sp) => sp`
          insert into public.workflow_executions (workflow_id, created_by, status) values (${workflow}, ${user}, ${status})`)).code, status).toBe("42501");
        expect((await failsAs(tx, (sp) => sp`
          insert into public.workflow_executions (workflow_id, created_by, status, completed_at, duration_ms, output)
          values (${workflow}, ${user}, ${status}, now(), 5, '{"forged":true}')`)).code, status).toBe("42501");
      }
      expect((await failsAs(tx, (sp) => sp`
        insert into public.workflow_executions (workflow_id, created_by, status, output) values (${workflow}, ${user}, 'running', '{"early":1}')`)).code).toBe("42501");
      for (const status of liveStatuses) {
        const [row] = await tx`
          insert into public.workflow_executions (workflow_id, created_by, status, duration_ms, completed_at)
          values (${workflow}, ${user}, ${status}, 86400000, now())
          returning status, duration_ms, completed_at, running_at, started_at`;
        // A live row has no end and no duration, whatever was sent.
        expect(row).toMatchObject({ status, duration_ms: null, completed_at: null });
        if (status === "running") expect(row.running_at).toEqual(row.started_at);
        else expect(row.running_at).toBeNull();
      }
    });
  });

  it("a delete and a re-insert of the same id cannot rewrite a terminal history", async () => {
    const owner = await createUser(sql);
    const wf = await createWorkflow(sql, owner);
    const id = randomUUID();
    await asRole(sql, owner, async (tx) => {
      await tx`insert into public.workflow_executions (id, workflow_id, created_by, status, started_at)
               values (${id}, ${wf}, ${owner}, 'running', now() - interval '3 seconds')`;
    });
    await asRole(sql, owner, (tx) => tx`update public.workflow_executions set status = 'failed', error_message = 'boom' where id = ${id}`);
    const [failed] = await sql`select * from public.workflow_executions where id = ${id}`;
    expect(failed).toMatchObject({ status: "failed", error_message: "boom" });
    expect(Number(failed.duration_ms)).toBeGreaterThanOrEqual(3000);

    await asRole(sql, owner, async (tx) => {
      await tx`delete from public.workflow_executions where id = ${id}`;
      // The forged history: the same id, completed, with an output and a duration of one's choosing.
      for (const status of ["completed", "failed"] as const) {
        expect((await failsAs(tx, (sp) => sp`
          insert into public.workflow_executions (id, workflow_id, created_by, status, started_at, completed_at, duration_ms, output)
          values (${id}, ${wf}, ${owner}, ${status}, ${failed.started_at}, ${failed.completed_at}, 1, '{"ok":true}')`)).code).toBe("42501");
      }
      expect((await failsAs(tx, (sp) => sp`
        insert into public.workflow_executions (id, workflow_id, created_by, status, output) values (${id}, ${wf}, ${owner}, 'running', '{"ok":true}')`)).code)
        .toBe("42501");
      // What can be inserted is a new live run: no end, no duration, no output.
      const [again] = await tx`
        insert into public.workflow_executions (id, workflow_id, created_by, status, duration_ms, completed_at)
        values (${id}, ${wf}, ${owner}, 'running', 1, ${failed.completed_at})
        returning status, output, completed_at, duration_ms, error_message`;
      expect(again).toEqual({ status: "running", output: null, completed_at: null, duration_ms: null, error_message: null });
    });
    await expectRollupsExact(owner);
    const stats = await createExecutionService({ sql, caller: userCaller(owner), temporal: null }).getStats();
    expect(stats).toMatchObject({ total: 1, byStatus: { running: 1, failed: 0, completed: 0 }, avgDurationMs: null, successRate: null });
  });
});

describe("durations", () => {
  it("a duration reported while the run is live counts nowhere; the terminal duration is measured then", async () => {
    const owner = await createUser(sql);
    const wf = await createWorkflow(sql, owner);
    const service = createExecutionService({ sql, caller: userCaller(owner), temporal: null });
    const { execution } = await service.createExecution({ workflowId: wf, temporalWorkflowId: `live-${randomUUID()}` });
    const reported = await service.updateExecutionByRef({ id: execution.id }, { status: "running", durationMs: 600_000, activitiesExecuted: 2 });
    expect(reported).toMatchObject({ status: "running", durationMs: null, activitiesExecuted: 2 });
    await sql`update public.workflow_executions set duration_ms = 700000 where id = ${execution.id}`; // even as superuser
    const stats = await service.getStats();
    expect(stats).toMatchObject({ total: 1, avgDurationMs: null, p50DurationMs: null, p95DurationMs: null });
    await expectRollupsExact(owner);
    const done = await service.markCompleted(execution.temporalWorkflowId!);
    expect(done.durationMs).toBeLessThan(60_000); // measured from when it started running, not the 600,000 reported
    expect((await service.getStats()).avgDurationMs).toBe(done.durationMs);
    await expectRollupsExact(owner);
  });

  it("a pending run's clock starts when it starts running; a run that never ran has no duration", async () => {
    const owner = await createUser(sql);
    const wf = await createWorkflow(sql, owner);
    // Queued for ten minutes (Temporal was down), then started, then done two seconds later.
    const [queued] = await asRole(sql, owner, (tx) => tx`
      insert into public.workflow_executions (workflow_id, created_by, status, started_at)
      values (${wf}, ${owner}, 'pending', now() - interval '10 minutes') returning id, running_at`);
    expect(queued.running_at).toBeNull();
    const [started] = await asRole(sql, null, (tx) => tx`
      update public.workflow_executions set status = 'running', temporal_run_id = 'run-1' where id = ${queued.id} returning started_at, running_at`);
    expect(started.running_at.getTime() - started.started_at.getTime()).toBeGreaterThanOrEqual(600_000);
    const [done] = await asRole(sql, null, (tx) => tx`
      update public.workflow_executions set status = 'completed', completed_at = running_at + interval '2 seconds'
       where id = ${queued.id} returning duration_ms`);
    expect(Number(done.duration_ms)).toBe(2000);

    // Never ran: pending straight to failed (a dispatch Temporal refused); a duration given is dropped.
    const [never] = await asRole(sql, owner, (tx) => tx`
      insert into public.workflow_executions (workflow_id, created_by, status, started_at)
      values (${wf}, ${owner}, 'pending', now() - interval '5 minutes') returning id`);
    const [failed] = await asRole(sql, null, (tx) => tx`
      update public.workflow_executions set status = 'failed', error_message = 'refused', duration_ms = 300000
       where id = ${never.id} returning duration_ms, completed_at, running_at`);
    expect(failed).toMatchObject({ duration_ms: null, running_at: null });
    expect(failed.completed_at).toBeInstanceOf(Date);

    const stats = await createExecutionService({ sql, caller: userCaller(owner), temporal: null }).getStats();
    expect(stats).toMatchObject({ total: 2, avgDurationMs: 2000, byStatus: { completed: 1, failed: 1 } });
    await expectRollupsExact(owner);
  });
});

describe("the migration fixes rows written before it", () => {
  const migrations = readdirSync(join(REPO_ROOT, "supabase", "migrations")).filter((f) => f.endsWith(".sql")).sort();
  const mine = "20261201000200_execution_integrity.sql";
  const name = `et_integrity_${Date.now()}_${randomUUID().slice(0, 8)}`;
  let db: Sql;

  beforeAll(async () => {
    await sql.unsafe(`create database "${name}"`);
    db = connect(withDatabase(databaseUrl(), name), { max: 1 });
    await db.unsafe(readFileSync(join(REPO_ROOT, "local", "platform-bootstrap.sql"), "utf8"));
    for (const file of migrations.filter((f) => f < mine)) await db.unsafe(readFileSync(join(REPO_ROOT, "supabase", "migrations", file), "utf8"));
  });
  afterAll(async () => {
    await db?.end({ timeout: 1 });
    await dropDatabase(databaseUrl(), name);
  });

  it("out-of-range times and live durations are fixed, the constraints hold, the rollups stay exact", async () => {
    const owner = await createUser(db);
    const wf = await createWorkflow(db, owner);
    const rows = await db`
      insert into public.workflow_executions (workflow_id, created_by, temporal_workflow_id, status, started_at, timeout_at, completed_at, duration_ms)
      values (${wf}, ${owner}, 'poison-started', 'running', 'infinity', '-infinity', null, null),
             (${wf}, ${owner}, 'poison-deadline', 'running', now() - interval '1 hour', 'infinity', null, null),
             (${wf}, ${owner}, 'poison-ended', 'completed', '-infinity', null, null, 9),
             (${wf}, ${owner}, 'poison-completed', 'failed', now() - interval '1 minute', null, 'infinity', 5),
             (${wf}, ${owner}, 'healthy', 'completed', now() - interval '1 minute', null, now(), 60000)
      returning temporal_workflow_id, started_at, completed_at`;
    expect(rows).toHaveLength(5);
    await db`update public.workflow_executions set duration_ms = 77 where temporal_workflow_id = 'poison-deadline'`;
    const healthyColumns = ["id", "status", "started_at", "completed_at", "duration_ms", "timeout_at", "created_at", "updated_at"];
    const [healthyBefore] = await db`select ${db(healthyColumns)} from public.workflow_executions where temporal_workflow_id = 'healthy'`;

    for (const file of migrations.filter((f) => f >= mine)) await db.unsafe(readFileSync(join(REPO_ROOT, "supabase", "migrations", file), "utf8"));

    const after: Record<string, Record<string, Date | null> & { status: string; duration_ms: number | null }> = Object.fromEntries((await db`
      select temporal_workflow_id, status, started_at, running_at, completed_at, timeout_at, duration_ms::int, created_at
        from public.workflow_executions where created_by = ${owner}`).map((r) => [r.temporal_workflow_id, r]));
    const [{ now }] = await db`select now()`;
    const finite = (d: Date | null) => d === null || (d.getUTCFullYear() >= 2000 && d.getUTCFullYear() < 2200);
    for (const row of Object.values(after)) {
      for (const column of ["started_at", "running_at", "completed_at", "timeout_at", "created_at"]) expect(finite(row[column]), column).toBe(true);
    }
    expect(after["poison-started"]).toMatchObject({ status: "running", duration_ms: null });
    expect(after["poison-started"].started_at).toEqual(after["poison-started"].created_at); // from created_at
    expect(after["poison-started"].running_at).toEqual(after["poison-started"].started_at);
    expect(after["poison-started"].timeout_at!.getTime()).toBeLessThanOrEqual(now.getTime() + 1000); // overdue: the sweeper ends it next
    expect(after["poison-deadline"]).toMatchObject({ timeout_at: null, duration_ms: null }); // no deadline; the live duration dropped
    expect(after["poison-ended"]).toMatchObject({ status: "completed", duration_ms: 9 });
    expect(after["poison-completed"]).toMatchObject({ status: "failed", duration_ms: 5 });
    expect(after["poison-completed"].completed_at).toBeInstanceOf(Date);
    const [healthyAfter] = await db`select ${db(healthyColumns)}, running_at from public.workflow_executions where temporal_workflow_id = 'healthy'`;
    expect(healthyAfter).toEqual({ ...healthyBefore, running_at: null }); // untouched

    const constraints = await db`
      select conname, convalidated from pg_constraint
       where conrelid in ('public.workflow_executions'::regclass, 'public.workflows'::regclass) and conname like '%\\_in\\_range'`;
    expect(constraints.map((c) => c.conname).sort()).toEqual(expect.arrayContaining([
      "workflow_executions_completed_at_in_range", "workflow_executions_created_at_in_range", "workflow_executions_running_at_in_range",
      "workflow_executions_started_at_in_range", "workflow_executions_temporal_checked_at_in_range", "workflow_executions_timeout_at_in_range",
      "workflow_executions_updated_at_in_range", "workflows_created_at_in_range", "workflows_updated_at_in_range",
    ]));
    for (const c of constraints) expect(c.convalidated, c.conname).toBe(true);

    const [fresh, rollup] = await Promise.all([
      db`select status::text, count(*)::int as n, count(duration_ms)::int as timed, coalesce(sum(duration_ms), 0)::text as ms
           from public.workflow_executions where created_by = ${owner} group by 1 order by 1`,
      db`select status::text, executions::int as n, durations_counted::int as timed, duration_ms_sum::text as ms
           from public.execution_stats where created_by = ${owner} order by 1`,
    ]);
    expect(rollup).toEqual(fresh);
  });
});

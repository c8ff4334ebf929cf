/**
 * The repository selects an execution's timestamps as ISO text in SQL (no Date decoding): the
 * API's values must be what decoding to a Date and `toISOString()` gave before (UTC,
 * milliseconds, the microseconds truncated), for every timestamp of the row, whatever the
 * session's time zone, through the get, the list (both its paths) and an update's answer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createExecutionService } from "../../shared/service.ts";
import { connect, createUser, createWorkflow, databaseUrl, type Sql, userCaller } from "../support/postgres.ts";

let sql: Sql;
let user: string;
let id: string;
const fields = ["startedAt", "completedAt", "timeoutAt", "createdAt", "updatedAt", "stopRequestedAt", "temporalClosedAt"] as const;

beforeAll(async () => {
  // A session time zone far from UTC: the text must still be UTC.
  sql = connect(databaseUrl(), { max: 2, connection: { TimeZone: "Pacific/Kiritimati" } });
  user = await createUser(sql);
  const workflow = await createWorkflow(sql, user);
  [{ id }] = await sql`
    insert into public.workflow_executions (workflow_id, created_by, temporal_workflow_id, status, started_at, tags, timeout_at)
    values (${workflow}, ${user}, 'iso-text', 'running', '2026-11-30 23:59:59.999999+00', '{nightly}', '2199-12-31 23:59:59.000500+00')
    returning id`;
  await sql`update public.workflow_executions set status = 'completed' where id = ${id}`;
});
afterAll(async () => {
  await sql?.end({ timeout: 1 });
});

/** The row's timestamps as postgres.js decodes them to Dates, then toISOString (the old way). */
async function decodedTimes(): Promise<Record<string, string | null>> {
  const [row] = await sql`
    select started_at, completed_at, timeout_at, created_at, updated_at, stop_requested_at, temporal_closed_at
      from public.workflow_executions where id = ${id}`;
  const columns = ["started_at", "completed_at", "timeout_at", "created_at", "updated_at", "stop_requested_at", "temporal_closed_at"];
  return Object.fromEntries(fields.map((field, i) => [field, row[columns[i]] ? (row[columns[i]] as Date).toISOString() : null]));
}

const timesOf = (execution: object) => Object.fromEntries(fields.map((field) => [field, (execution as Record<string, unknown>)[field]]));

describe("execution timestamps selected as ISO text", () => {
  it("equal the Date-decoded values in the get, both list paths and an update's answer", async () => {
    const service = createExecutionService({ sql, caller: userCaller(user), temporal: null, log: () => {} });
    const expected = await decodedTimes();
    expect(expected).toMatchObject({ startedAt: "2026-11-30T23:59:59.999Z", timeoutAt: "2199-12-31T23:59:59.000Z" });
    expect(expected.completedAt).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);

    expect(timesOf(await service.getExecution(id))).toEqual(expected);
    const [listed] = (await service.listExecutions({ limit: 1 })).data;
    expect(timesOf(listed)).toEqual(expected);
    const [tagged] = (await service.listExecutions({ limit: 1, tags: ["nightly"] })).data;
    expect(timesOf(tagged)).toEqual(expected);

    // The repeat of a terminal status (allowed, a no-op) answers with the row through the UPDATE.
    const updated = await service.updateExecutionByRef({ id }, { status: "completed" });
    expect(timesOf(updated)).toEqual(await decodedTimes());
  });
});

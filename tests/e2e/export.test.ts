/**
 * GET /executions-list/export over HTTP through the real handler on Deno: NDJSON and CSV of a
 * filter equal the rows the list pages through with the same filter (either order), another
 * user's rows never appear (RLS), 3,000 rows arrive complete (the export reads pages of 500),
 * CSV quoting and the formula guard, and the 400s: a bad format, a bad order, a cursor of the
 * other order in the list.
 */
import type { SupabaseClient } from "@supabase/supabase-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { csvColumns } from "../../shared/export.ts";
import { createUser, createWorkflow } from "../support/postgres.ts";
import { serviceToken, userToken } from "../support/tokens.ts";
import { clientFor, type E2E, invoke, raw, startE2E } from "./support.ts";

const ROWS = 3_000;
let e2e: E2E;
let alice: string;
let bob: string;
let workflows: string[];
let aliceToken: string;
let aliceClient: SupabaseClient;

beforeAll(async () => {
  e2e = await startE2E();
  [alice, bob] = await Promise.all([createUser(e2e.sql), createUser(e2e.sql)]);
  workflows = [await createWorkflow(e2e.sql, alice), await createWorkflow(e2e.sql, alice)];
  const bobWorkflow = await createWorkflow(e2e.sql, bob);
  aliceToken = await userToken(alice);
  aliceClient = clientFor(e2e, aliceToken);
  // Alice: ROWS rows, ties on started_at in pairs, every status; error messages, inputs and
  // metadata that need quoting or the formula guard; tags on most; every 100th (from the 51st)
  // a retry of the row before it, inserted after the others. Bob: rows in the same period,
  // which must never show.
  const aliceRows = (which: ReturnType<typeof e2e.sql>, retryOf: ReturnType<typeof e2e.sql>) => e2e.sql`
    insert into public.workflow_executions
      (workflow_id, created_by, temporal_workflow_id, status, started_at, input, error_message, tags, metadata, retry_of)
    select (${workflows}::uuid[])[1 + i % 2], ${alice}::uuid,
           case when i % 6 = 0 then null else 'export-' || i end,
           (array['pending', 'running', 'completed', 'failed', 'cancelled', 'timed_out'])[1 + i % 6],
           timestamptz '2007-07-07 00:00:00+00' + (i / 2) * interval '1 second 1 microsecond',
           case when i % 5 = 0 then null else jsonb_build_object('n', i, 'text', 'a, "b"' || chr(10) || 'c') end,
           case when i % 6 = 3 then (array['=HYPERLINK("http://x")', '+1', '-2', '@SUM(A1)', 'plain, "quoted"'])[1 + i % 5] end,
           case when i % 5 = 1 then '{}'::text[] else array['all', 'n' || (i % 7)] end,
           case when i % 5 = 2 then '{}'::jsonb else jsonb_build_object('team', 'a,"b"', 'n', i % 7, 'ok', i % 2 = 0) end,
           ${retryOf}
      from generate_series(1, ${ROWS}) i where ${which}`;
  await aliceRows(e2e.sql`i % 100 <> 51`, e2e.sql`null::uuid`);
  await aliceRows(e2e.sql`i % 100 = 51`, e2e.sql`(select o.id from public.workflow_executions o
     where o.created_by = ${alice}::uuid and o.temporal_workflow_id = 'export-' || (i - 1))`);
  await e2e.sql`
    insert into public.workflow_executions (workflow_id, created_by, temporal_workflow_id, status, started_at)
    select ${bobWorkflow}, ${bob}::uuid, 'export-bob-' || i, 'failed', timestamptz '2007-07-07 00:00:00+00' + i * interval '1 second'
      from generate_series(1, 50) i`;
}, 180_000);
afterAll(async () => {
  await e2e?.stop();
});

const auth = (token: string) => ({ headers: { Authorization: `Bearer ${token}` } });

/** Every row the list returns for `params`, page after page. */
async function listAll(params: Record<string, string>) {
  const rows: Record<string, unknown>[] = [];
  let cursor: string | null = null;
  do {
    const query = new URLSearchParams({ ...params, limit: "100", ...(cursor ? { cursor } : {}) });
    const answer = await invoke(aliceClient, `executions-list?${query}`, { method: "GET" });
    expect(answer.status).toBe(200);
    rows.push(...answer.body.data);
    cursor = answer.body.nextCursor;
  } while (cursor);
  return rows;
}

/** RFC 4180 (as the export writes it): quoted cells with doubled quotes, CRLF between records. */
function parseCsv(text: string): string[][] {
  const records: string[][] = [];
  let record: string[] = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') (cell += '"'), i++;
      else if (ch === '"') quoted = false;
      else cell += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ",") record.push(cell), (cell = "");
    else if (ch === "\r" && text[i + 1] === "\n") record.push(cell), records.push(record), (record = []), (cell = ""), i++;
    else cell += ch;
  }
  expect(cell).toBe("");
  expect(record).toEqual([]);
  return records;
}

/** A cell as the export should write it, before quoting: JSON text for JSON, guarded formulas. */
function expectedCell(value: unknown, json: boolean): string {
  if (value === null || value === undefined) return "";
  const text = json ? JSON.stringify(value) : String(value);
  return /^[=+\-@\t\r]/.test(text) ? `'${text}` : text;
}

async function exportOf(params: Record<string, string>, token = aliceToken) {
  const response = await fetch(`${e2e.server.functionsUrl}/executions-list/export?${new URLSearchParams(params)}`, auth(token));
  return { response, text: await response.text() };
}

describe("GET /executions-list/export", () => {
  it("NDJSON of a filter equals the list's rows, in order, and has the content type and a filename", async () => {
    for (const order of ["desc", "asc"]) {
      const params = { status: "failed,running", workflowId: workflows[1], order };
      const expected = await listAll(params);
      expect(expected.length).toBeGreaterThan(100);
      const { response, text } = await exportOf({ ...params, format: "ndjson" });
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toBe("application/x-ndjson");
      expect(response.headers.get("content-disposition")).toMatch(/^attachment; filename="executions-[\w-]+\.ndjson"$/);
      expect(response.headers.get("x-request-id")).toBeTruthy();
      expect(text.endsWith("\n")).toBe(true);
      expect(text.trimEnd().split("\n").map((line) => JSON.parse(line))).toEqual(expected);
    }
  });

  it("CSV of a filter equals the list's rows: fixed header, RFC 4180 quoting, JSON columns as JSON text, formulas guarded", async () => {
    const params = { status: "failed", startedAfter: "2007-07-07T00:05:00Z", startedBefore: "2007-07-07T00:30:00Z" };
    const expected = await listAll(params);
    expect(expected.length).toBeGreaterThan(50);
    const { response, text } = await exportOf({ ...params, format: "csv" });
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toBe("text/csv; charset=utf-8");
    expect(response.headers.get("content-disposition")).toMatch(/^attachment; filename="executions-[\w-]+\.csv"$/);
    const [header, ...records] = parseCsv(text);
    expect(header).toEqual(csvColumns.map(([name]) => name));
    expect(header).toEqual([
      "id", "workflowId", "workflowName", "createdBy", "status", "startedAt", "completedAt", "durationMs", "timeoutAt",
      "temporalWorkflowId", "temporalRunId", "temporalLink", "stopRequestedAt", "stopReason", "temporalClosedAt",
      "input", "output", "errorMessage", "activitiesExecuted", "createdAt", "updatedAt", "tags", "metadata", "retryOf",
    ]);
    expect(records.every((r) => r.length === 24)).toBe(true);
    const fields = header.map((name) => (name === "workflowName" ? ["workflow", "name"] : [name]));
    const jsonFields = new Set(["input", "output", "metadata"]);
    const want = expected.map((e) =>
      fields.map((path) => {
        const value = path.reduce((v: any, k) => v?.[k], e);
        return path[0] === "tags" ? (value as string[]).join(";") : expectedCell(value, jsonFields.has(path[0]));
      })
    );
    expect(records).toEqual(want);
    // The new columns carry something in this range: tags, metadata and retries.
    const column = (name: string) => records.map((r) => r[header.indexOf(name)]);
    expect(column("tags")).toContain("");
    expect(new Set(column("tags").filter((t) => /^all;n\d$/.test(t))).size).toBeGreaterThan(1);
    expect(column("metadata").some((m) => JSON.parse(m).team === 'a,"b"')).toBe(true);
    expect(column("metadata")).toContain("{}");
    const retries = expected.filter((e) => e.retryOf !== null);
    expect(retries.length).toBeGreaterThan(0);
    expect(column("retryOf").filter((id) => id !== "")).toEqual(retries.map((e) => e.retryOf));
    // The guard and the quoting, as a spreadsheet meets them.
    const messages = new Set(records.map((r) => r[header.indexOf("errorMessage")]));
    expect(messages).toEqual(new Set(["'=HYPERLINK(\"http://x\")", "'+1", "'-2", "'@SUM(A1)", 'plain, "quoted"']));
    expect(text).toContain('"\'=HYPERLINK(""http://x"")"');
    const input = records.find((r) => r[header.indexOf("input")] !== "")![header.indexOf("input")];
    expect(JSON.parse(input)).toMatchObject({ text: 'a, "b"\nc' });
  });

  it("3,000 rows arrive complete and in order (pages of 500), and another user's rows never appear", async () => {
    for (const format of ["ndjson", "csv"]) {
      const { response, text } = await exportOf({ format, order: "asc" });
      expect(response.status).toBe(200);
      const ids = format === "ndjson"
        ? text.trimEnd().split("\n").map((line) => JSON.parse(line))
          .map((e) => (expect(e.createdBy).toBe(alice), e.id as string))
        : parseCsv(text).slice(1).map((r) => (expect(r[3]).toBe(alice), r[0]));
      expect(ids).toHaveLength(ROWS);
      expect(new Set(ids).size).toBe(ROWS);
      const stored = await e2e.sql`select id from public.workflow_executions where created_by = ${alice} order by started_at, id`;
      expect(ids).toEqual(stored.map((r) => r.id));
    }
    // Bob sees his 50 and nothing of Alice's.
    const { text } = await exportOf({ format: "ndjson" }, await userToken(bob));
    const bobs = text.trimEnd().split("\n").map((line) => JSON.parse(line));
    expect(bobs).toHaveLength(50);
    expect(new Set(bobs.map((e) => e.createdBy))).toEqual(new Set([bob]));
  });

  it("an export with no rows is the header alone (CSV) or empty (NDJSON)", async () => {
    const params = { startedAfter: "1999-01-01T00:00:00Z", startedBefore: "1999-01-02T00:00:00Z" };
    expect((await exportOf({ ...params, format: "ndjson" })).text).toBe("");
    expect((await exportOf({ ...params, format: "csv" })).text).toBe(csvColumns.map(([name]) => name).join(",") + "\r\n");
  });

  it("400 for a bad or missing format, a bad order, an unknown parameter; 401 without a token", async () => {
    for (const query of ["format=xml", "", "format=csv&order=up", "format=csv&limit=5", "format=csv&status=nope"]) {
      const answer = await raw(e2e, `executions-list/export?${query}`, auth(aliceToken));
      expect(answer.status, query).toBe(400);
      expect(answer.body.error.code).toBe("validation_failed");
    }
    expect((await raw(e2e, "executions-list/export?format=csv")).status).toBe(401);
  });

  it("the service role exports every owner's rows", async () => {
    const { text } = await exportOf({ format: "ndjson", startedBefore: "2007-07-08T00:00:00Z", startedAfter: "2007-07-07T00:00:00Z" }, await serviceToken());
    const owners = new Set(text.trimEnd().split("\n").map((line) => JSON.parse(line).createdBy));
    // Every owner with rows in the window (other files share this database: a date only this file uses), alice and bob among them.
    const stored = await e2e.sql`
      select distinct created_by from public.workflow_executions
       where started_at >= '2007-07-07T00:00:00Z' and started_at < '2007-07-08T00:00:00Z'`;
    expect(owners).toEqual(new Set(stored.map((row) => row.created_by)));
    expect([...owners]).toEqual(expect.arrayContaining([alice, bob]));
  });
});

describe("GET /executions-list?order=", () => {
  it("asc is oldest first; a cursor of one order is a 400 in the other", async () => {
    const asc = await invoke(aliceClient, `executions-list?order=asc&limit=3`, { method: "GET" });
    expect(asc.status).toBe(200);
    const stored = await e2e.sql`select id from public.workflow_executions where created_by = ${alice} order by started_at, id limit 3`;
    expect(asc.body.data.map((e: { id: string }) => e.id)).toEqual(stored.map((r) => r.id));
    const desc = await invoke(aliceClient, `executions-list?limit=3`, { method: "GET" });
    for (const [cursor, order] of [[asc.body.nextCursor, "desc"], [desc.body.nextCursor, "asc"]]) {
      const answer = await invoke(aliceClient, `executions-list?${new URLSearchParams({ order, cursor })}`, { method: "GET" });
      expect(answer.status).toBe(400);
      expect(answer.body.error.details.fields?.[0]?.path ?? answer.body.error.details[0]?.path).toBe("cursor");
    }
    const bad = await invoke(aliceClient, `executions-list?order=sideways`, { method: "GET" });
    expect(bad.status).toBe(400);
  });
});

/**
 * Bad input always gets a clear 4xx, and what is stored is what was sent (issue 7 §3), over
 * HTTP through the real handlers on Deno: a NUL in every field and in a token's claims, JSON
 * depth (64 allowed, 65 and 5,000 not), `__proto__` keys stored as sent, the 409s of the SQL
 * error contract, durations reported while live or accrued while pending, and the service
 * role's list over odd but valid rows.
 */
import { createHmac, randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, createWorkflow } from "../support/postgres.ts";
import { serviceToken, signHs256, TEST_JWT_SECRET, userToken } from "../support/tokens.ts";
import { type Answer, type E2E, raw, startE2E, storedRow } from "./support.ts";

let e2e: E2E;
let alice: string;
let aliceToken: string;
let service: string;
let workflow: string;

beforeAll(async () => {
  e2e = await startE2E();
  alice = await createUser(e2e.sql);
  workflow = await createWorkflow(e2e.sql, alice);
  aliceToken = await userToken(alice);
  service = await serviceToken();
});
afterAll(async () => {
  await e2e?.stop();
});

/** A POST with a body given as JSON text (escapes such as \u0000 stay exactly as written). */
const post = (name: string, body: string, token = aliceToken) =>
  raw(e2e, name, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body });
const get = (path: string, token = aliceToken) => raw(e2e, path, { headers: { authorization: `Bearer ${token}` } });

const NUL = "\\u0000"; // as written in JSON text

/** A 400 validation_failed whose details name `path` (and only fields, never SQL). */
function expectInvalid(answer: Answer, path: string | RegExp) {
  expect(answer.status, JSON.stringify(answer.body)).toBe(400);
  expect(answer.body.error.code).toBe("validation_failed");
  const paths = answer.body.error.details.fields.map((f: { path: string }) => f.path);
  if (typeof path === "string") expect(paths).toContain(path);
  else expect(paths.some((p: string) => path.test(p)), paths.join(", ")).toBe(true);
  expect(JSON.stringify(answer.body)).not.toMatch(/SQLSTATE|violates|constraint|insert into|22021|22P05/i);
}

/** A running execution of alice's, created over HTTP. */
async function running(): Promise<{ id: string; temporalWorkflowId: string }> {
  const created = await post("executions-create", JSON.stringify({ workflowId: workflow, temporalWorkflowId: `lim-${randomUUID()}` }));
  expect(created.status).toBe(201);
  return created.body;
}

/** An HS256 JWT over claims given as JSON text. */
function signRawHs256(claims: string): string {
  const part = (text: string) => Buffer.from(text).toString("base64url");
  const signingInput = `${part('{"alg":"HS256","typ":"JWT"}')}.${part(claims)}`;
  return `${signingInput}.${createHmac("sha256", TEST_JWT_SECRET).update(signingInput).digest("base64url")}`;
}

const nested = (depth: number, leaf = "1") => "[".repeat(depth) + leaf + "]".repeat(depth);

describe("a NUL in any string is a 400 naming the field, and nothing is stored", () => {
  it("in each field of a create", async () => {
    const tw = () => `"lim-${randomUUID()}"`;
    const cases: [string, string | RegExp][] = [
      [`{"workflowId":"${workflow}${NUL}"}`, "workflowId"],
      [`{"workflowId":"${workflow}","temporalWorkflowId":"a${NUL}b"}`, "temporalWorkflowId"],
      [`{"workflowId":"${workflow}","temporalWorkflowId":${tw()},"temporalRunId":"run${NUL}"}`, "temporalRunId"],
      [`{"workflowId":"${workflow}","temporalWorkflowId":${tw()},"input":"${NUL}"}`, "input"],
      [`{"workflowId":"${workflow}","temporalWorkflowId":${tw()},"input":{"a":[1,{"b":"x${NUL}y"}]}}`, "input.a.1.b"],
      [`{"workflowId":"${workflow}","temporalWorkflowId":${tw()},"input":{"k${NUL}":1}}`, /^input\.k\\u0000$/],
      [`{"workflowId":"${workflow}","temporalWorkflowId":${tw()},"userId":"${alice}${NUL}"}`, "userId"],
    ];
    const [{ n: before }] = await e2e.sql`select count(*)::int as n from public.workflow_executions where created_by = ${alice}`;
    for (const [body, path] of cases) expectInvalid(await post("executions-create", body), path);
    const [{ n: after }] = await e2e.sql`select count(*)::int as n from public.workflow_executions where created_by = ${alice}`;
    expect(after).toBe(before);
  });

  it("in each field of an update", async () => {
    const run = await running();
    const before = await storedRow(e2e.sql, run.id);
    const cases: [string, string][] = [
      [`{"id":"${run.id}${NUL}","status":"completed"}`, "id"],
      [`{"temporalWorkflowId":"${run.temporalWorkflowId}${NUL}","status":"completed"}`, "temporalWorkflowId"],
      [`{"id":"${run.id}","status":"completed${NUL}"}`, "status"],
      [`{"id":"${run.id}","status":"completed","output":{"text":"${NUL}"}}`, "output.text"],
      [`{"id":"${run.id}","status":"failed","errorMessage":"boom${NUL}"}`, "errorMessage"],
      [`{"id":"${run.id}","temporalRunId":"r${NUL}"}`, "temporalRunId"],
    ];
    for (const [body, path] of cases) expectInvalid(await post("executions-update", body), path);
    expect(await storedRow(e2e.sql, run.id)).toEqual(before);
  });

  it("in a query parameter or a path id", async () => {
    expectInvalid(await get(`executions-list?workflowId=${workflow}%00`), "workflowId");
    expectInvalid(await get("executions-list?cursor=abc%00"), "cursor");
    expectInvalid(await get("executions-list?status=running%00"), "status");
    expectInvalid(await get("executions-stats?startedAfter=2026-01-01T00:00:00Z%00"), "startedAfter");
    expectInvalid(await get(`executions-list/${randomUUID()}%00`), "id");
    expectInvalid(await raw(e2e, `executions-update/${randomUUID()}%00`, { method: "DELETE", headers: { authorization: `Bearer ${aliceToken}` } }), "id");
  });

  it("an unpaired surrogate is refused too (the driver would store U+FFFD instead)", async () => {
    const run = await running();
    expectInvalid(await post("executions-update", `{"id":"${run.id}","errorMessage":"half \\ud800 a pair"}`), "errorMessage");
    expectInvalid(await post("executions-update", `{"id":"${run.id}","output":{"x":"\\udc00"}}`), "output.x");
  });
});

describe("a token whose claims PostgreSQL cannot hold is 401, never 500", () => {
  it("a NUL in sub or in any other claim, for a user and for the service role, or claims nested absurdly deep", async () => {
    const now = Math.floor(Date.now() / 1000);
    const user = { iss: "supabase-test", role: "authenticated", aud: "authenticated", iat: now, exp: now + 600 };
    // jose cannot even sign claims this deep (it copies them recursively): signed by hand.
    const deepClaims = `{"sub":"${alice}","role":"authenticated","aud":"authenticated","iat":${now},"exp":${now + 600},"app_metadata":{"k":${nested(5000, '"x"')}}}`;
    const tokens = [
      await signHs256({ ...user, sub: `${alice}\u0000` }),
      await signHs256({ ...user, sub: alice, email: "a\u0000@example.com" }),
      await signHs256({ ...user, sub: alice, user_metadata: { name: "\u0000" } }),
      signRawHs256(deepClaims),
      await signHs256({ iss: "supabase-test", role: "service_role", iat: now, exp: now + 600, note: "\u0000" }),
    ];
    for (const token of tokens) {
      for (const answer of [
        await get("executions-list", token),
        await post("executions-create", JSON.stringify({ workflowId: workflow, temporalWorkflowId: `claim-${randomUUID()}`, userId: alice }), token),
      ]) {
        expect(answer.status, JSON.stringify(answer.body)).toBe(401);
        expect(answer.body.error.code).toBe("unauthorized");
      }
    }
  });
});

describe("JSON depth", () => {
  it("input and output nest at most 64 levels: 64 is stored as sent, 65 and 5,000 are a 400 naming the field", async () => {
    const at64 = nested(64);
    const created = await post("executions-create", `{"workflowId":"${workflow}","temporalWorkflowId":"deep-${randomUUID()}","input":${at64}}`);
    expect(created.status).toBe(201);
    const [{ same }] = await e2e.sql`select input = ${at64}::text::jsonb as same from public.workflow_executions where id = ${created.body.id}`;
    expect(same).toBe(true);

    for (const depth of [65, 5000]) {
      expectInvalid(await post("executions-create", `{"workflowId":"${workflow}","temporalWorkflowId":"deep-${randomUUID()}","input":${nested(depth)}}`), "input");
      expectInvalid(await post("executions-update", `{"id":"${created.body.id}","output":${nested(depth, '{"a":1}')}}`), "output");
    }
    expect((await post("executions-update", `{"id":"${created.body.id}","output":${nested(63, '{"a":1}')}}`)).status).toBe(200);
  });

  it("a body nesting 5,000 levels anywhere is a 400, not a stack overflow", async () => {
    expectInvalid(await post("executions-create", `{"workflowId":"${workflow}","extra":${nested(5000)}}`), "extra");
    expectInvalid(await post("executions-update", nested(5000)), "(body)");
    const huge = 200_000; // still under the 1 MiB body limit
    expectInvalid(await post("executions-update", `{"output":${nested(huge)}}`), "output");
  });

  it("a number JSON cannot carry back (1e400) is a 400", async () => {
    const run = await running();
    expectInvalid(await post("executions-update", `{"id":"${run.id}","output":{"n":1e400}}`), "output.n");
  });
});

describe("__proto__ keys are stored as sent", () => {
  it("in input and output, through create, update, get and list", async () => {
    const input = `{"__proto__":{"polluted":true},"constructor":{"prototype":{"x":1}},"plain":[{"__proto__":null}]}`;
    const created = await post("executions-create", `{"workflowId":"${workflow}","temporalWorkflowId":"proto-${randomUUID()}","input":${input}}`);
    expect(created.status).toBe(201);
    const output = `{"__proto__":{"admin":true},"ok":1}`;
    expect((await post("executions-update", `{"id":"${created.body.id}","status":"completed","output":${output}}`)).status).toBe(200);

    const [stored] = await e2e.sql`
      select input = ${input}::text::jsonb as input_same, output = ${output}::text::jsonb as output_same, input::text, output::text
        from public.workflow_executions where id = ${created.body.id}`;
    expect(stored, JSON.stringify(stored)).toMatchObject({ input_same: true, output_same: true });

    // The API answers it back as sent (an own "__proto__" key, not a prototype).
    const got = await get(`executions-list/${created.body.id}`);
    expect(got.status).toBe(200);
    expect(Object.keys(got.body.input)).toEqual(expect.arrayContaining(["__proto__", "constructor", "plain"]));
    expect(Object.getOwnPropertyDescriptor(got.body.input, "__proto__")?.value).toEqual({ polluted: true });
    expect(Object.getOwnPropertyDescriptor(got.body.output, "__proto__")?.value).toEqual({ admin: true });
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});

describe("the SQL error contract over HTTP", () => {
  it("409 invalid_transition and 409 terminal_execution name the field; an unchanged repeat is 200", async () => {
    const run = await running();
    const backwards = await post("executions-update", JSON.stringify({ id: run.id, status: "pending" }));
    expect(backwards.status).toBe(409);
    expect(backwards.body.error).toMatchObject({ code: "invalid_transition", details: { field: "status" } });

    const done = await post("executions-update", JSON.stringify({ id: run.id, status: "completed", output: { n: 1 } }));
    expect(done.status).toBe(200);
    expect((await post("executions-update", JSON.stringify({ id: run.id, status: "completed", output: { n: 1 } }))).status).toBe(200);
    for (const [body, field] of [
      [{ id: run.id, output: { n: 2 } }, "output"],
      [{ id: run.id, status: "failed", errorMessage: "late" }, "status"],
      [{ id: run.id, errorMessage: "late" }, "errorMessage"],
      [{ id: run.id, durationMs: 999_999 }, "durationMs"],
    ] as const) {
      const answer = await post("executions-update", JSON.stringify(body));
      expect(answer.status, JSON.stringify(answer.body)).toBe(409);
      expect(answer.body.error).toMatchObject({ code: "terminal_execution", details: { field } });
    }
    expect(await storedRow(e2e.sql, run.id)).toMatchObject({ status: "completed", output: { n: 1 }, error_message: null });
  });
});

describe("durations", () => {
  it("a durationMs reported while the run is live is not kept and not counted", async () => {
    const wf = await createWorkflow(e2e.sql, alice);
    const created = await post("executions-create", JSON.stringify({ workflowId: wf, temporalWorkflowId: `dur-${randomUUID()}` }));
    const progress = await post("executions-update", JSON.stringify({ id: created.body.id, status: "running", durationMs: 600_000, activitiesExecuted: 1 }));
    expect(progress.status).toBe(200);
    expect(progress.body).toMatchObject({ status: "running", durationMs: null, activitiesExecuted: 1 });
    const stats = await get(`executions-stats?workflowId=${wf}`);
    expect(stats.body).toMatchObject({ total: 1, avgDurationMs: null, p95DurationMs: null });
  });

  it("a pending run's wait for Temporal is not part of its duration", async () => {
    const wf = await createWorkflow(e2e.sql, alice);
    // Queued ten minutes ago (Temporal down), as the tracker leaves it; now a worker starts and finishes it.
    const [queued] = await e2e.sql`
      insert into public.workflow_executions (workflow_id, created_by, status, started_at)
      values (${wf}, ${alice}, 'pending', now() - interval '10 minutes') returning id`;
    const started = await post("executions-update", JSON.stringify({ id: queued.id, status: "running" }));
    expect(started.status, JSON.stringify(started.body)).toBe(200);
    const done = await post("executions-update", JSON.stringify({ id: queued.id, status: "completed" }));
    expect(done.status).toBe(200);
    expect(done.body.durationMs).toBeLessThan(60_000);
    const stats = await get(`executions-stats?workflowId=${wf}`);
    expect(stats.body.avgDurationMs).toBe(done.body.durationMs);
  });
});

describe("the service role's list over odd but valid rows", () => {
  it("answers 200 with every row, at the time bounds, with the largest duration, unicode and __proto__ keys", async () => {
    const wf = await createWorkflow(e2e.sql, alice, { name: "odd rows 🧪" });
    const rows = await e2e.sql`
      insert into public.workflow_executions
        (workflow_id, created_by, temporal_workflow_id, status, started_at, completed_at, timeout_at, duration_ms, input, output, error_message)
      values
        (${wf}, ${alice}, ${`odd-${randomUUID()}`}, 'completed', '2000-01-01T00:00:00Z', '2199-12-31T23:59:59.999999Z', null,
         9223372036854775807, '{"__proto__":{"x":1}}', '[]', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢 ✓ \t tab'),
        (${wf}, ${alice}, ${`odd-${randomUUID()}`}, 'running', '2000-01-01T00:00:00.000001Z', null, '2199-12-31T23:59:59.999999Z',
         null, '"just a string"', null, null),
        (${wf}, ${alice}, ${`odd-${randomUUID()}`}, 'failed', '2199-12-31T23:59:59.999998Z', '2199-12-31T23:59:59.999999Z', null,
         0, 'null', ${nested(60)}::jsonb, ${"e".repeat(100_000)})
      returning id`;
    const ids = rows.map((r) => r.id as string).sort();

    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Answer = await get(`executions-list?workflowId=${wf}&limit=1${cursor ? `&cursor=${cursor}` : ""}`, service);
      expect(page.status, JSON.stringify(page.body).slice(0, 300)).toBe(200);
      seen.push(...page.body.data.map((e: { id: string }) => e.id));
      cursor = page.body.nextCursor;
    } while (cursor);
    expect(seen.sort()).toEqual(ids);

    const all = await get("executions-list?limit=100", service);
    expect(all.status).toBe(200);
    const old = await get(`executions-list?startedBefore=2000-01-02T00:00:00Z&workflowId=${wf}`, service);
    expect(old.status).toBe(200);
    expect(old.body.data.map((e: { startedAt: string }) => e.startedAt).sort()).toEqual(["2000-01-01T00:00:00.000Z", "2000-01-01T00:00:00.000Z"]);
    const biggest = old.body.data.find((e: { durationMs: number | null }) => e.durationMs !== null);
    expect(biggest.durationMs).toBe(9223372036854775807);
    for (const id of ids) expect((await get(`executions-list/${id}`, service)).status).toBe(200);
    const stats = await get(`executions-stats?workflowId=${wf}`, service);
    expect(stats.status).toBe(200);
    expect(stats.body.total).toBe(3);
  });
});

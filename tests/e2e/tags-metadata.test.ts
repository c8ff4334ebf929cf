/**
 * Tags, metadata and retryOf over HTTP, through the real handlers on Deno (docs/architecture.md
 * §5.1): create with tags and metadata, replace them with executions-update while live (409
 * terminal_execution once terminal), the filters `tag=a,b`, `metadata.<key>=<value>` and
 * `retryOf=` on the list, the export and the stats (summary and series), another user's rows
 * never in an answer, and the 400s: every limit names its field and changes nothing. Every
 * answer is checked against the OpenAPI document (tests/e2e/support.ts).
 */
import type { SupabaseClient } from "@supabase/supabase-js";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, createWorkflow } from "../support/postgres.ts";
import { userToken } from "../support/tokens.ts";
import { clientFor, type E2E, invoke, raw, startE2E, storedRow } from "./support.ts";

let e2e: E2E;
let alice: string;
let bob: string;
let workflow: string;
let bobWorkflow: string;
let aliceToken: string;
let aliceClient: SupabaseClient;
let bobClient: SupabaseClient;
const run = randomUUID().slice(0, 8);

beforeAll(async () => {
  e2e = await startE2E();
  [alice, bob] = await Promise.all([createUser(e2e.sql), createUser(e2e.sql)]);
  workflow = await createWorkflow(e2e.sql, alice);
  bobWorkflow = await createWorkflow(e2e.sql, bob);
  aliceToken = await userToken(alice);
  aliceClient = clientFor(e2e, aliceToken);
  bobClient = clientFor(e2e, await userToken(bob));
}, 180_000);
afterAll(async () => {
  await e2e?.stop();
});

const create = (client: SupabaseClient, body: Record<string, unknown>) => invoke(client, "executions-create", { body });
const list = (client: SupabaseClient, query: string) => invoke(client, `executions-list?${query}`, { method: "GET" });
const fieldsOf = (body: { error: { details?: { fields?: { path: string }[] } } }) => (body.error.details?.fields ?? []).map((f) => f.path);

describe("create and update", () => {
  it("stores tags (a sorted set) and metadata, returns them and retryOf on every execution, replaces them while live", async () => {
    const created = await create(aliceClient, {
      workflowId: workflow,
      temporalWorkflowId: `tm-e2e-${randomUUID()}`,
      tags: ["prod", "billing", "prod"],
      metadata: { orderId: "1234", amount: 99.5, rush: true },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ tags: ["billing", "prod"], metadata: { orderId: "1234", amount: 99.5, rush: true }, retryOf: null });
    const id = created.body.id;

    const updated = await invoke(aliceClient, "executions-update", { body: { id, tags: ["eu"], metadata: { orderId: "5678" } } });
    expect(updated.status).toBe(200);
    expect(updated.body).toMatchObject({ tags: ["eu"], metadata: { orderId: "5678" } });
    expect((await invoke(aliceClient, `executions-list/${id}`, { method: "GET" })).body).toMatchObject({ tags: ["eu"], metadata: { orderId: "5678" } });

    await invoke(aliceClient, "executions-update", { body: { id, status: "completed" } });
    const before = await storedRow(e2e.sql, id);
    const refused = await invoke(aliceClient, "executions-update", { body: { id, tags: ["late"] } });
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({ code: "terminal_execution", details: { field: "tags" } });
    expect(await storedRow(e2e.sql, id)).toEqual(before);
  });

  it("refuses every limit with a 400 naming the field, and changes nothing", async () => {
    const id = (await create(aliceClient, { workflowId: workflow, temporalWorkflowId: `tm-e2e-${randomUUID()}`, tags: ["keep"] })).body.id;
    const before = await storedRow(e2e.sql, id);
    const bad: [Record<string, unknown>, string][] = [
      [{ tags: Array.from({ length: 11 }, (_, i) => `t${i}`) }, "tags"],
      [{ tags: ["with space"] }, "tags.0"],
      [{ tags: ["x".repeat(65)] }, "tags.0"],
      [{ metadata: Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i])) }, "metadata"],
      [{ metadata: { nested: { a: 1 } } }, "metadata.nested"],
      [{ metadata: { "bad key": 1 } }, "metadata.bad key"],
      [{ metadata: { long: "x".repeat(257) } }, "metadata.long"],
      [{ metadata: Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, "x".repeat(250)])) }, "metadata"],
    ];
    for (const [extra, field] of bad) {
      const update = await invoke(aliceClient, "executions-update", { body: { id, ...extra } });
      expect(update.status, JSON.stringify(extra).slice(0, 80)).toBe(400);
      expect(update.body.error.code).toBe("validation_failed");
      expect(fieldsOf(update.body)).toContain(field);
      const created = await create(aliceClient, { workflowId: workflow, temporalWorkflowId: `tm-e2e-${randomUUID()}`, ...extra });
      expect(created.status).toBe(400);
      expect(fieldsOf(created.body)).toContain(field);
    }
    // retryOf is the tracker's (POST /executions-retry/:id), never a create's.
    const withRetryOf = await create(aliceClient, { workflowId: workflow, temporalWorkflowId: `tm-e2e-${randomUUID()}`, retryOf: id });
    expect(withRetryOf.status).toBe(400);
    expect(await storedRow(e2e.sql, id)).toEqual(before);
  });
});

describe("filters", () => {
  let ids: { all: string[]; billing: string[]; billingEu: string[]; order42: string[] };

  beforeAll(async () => {
    // 24 of alice's rows: tags by i, metadata orderId by i % 3, region by i % 2; bob has the same tags.
    const rows = [];
    for (let i = 0; i < 24; i++) {
      const tags = [`run-${run}`, ...(i % 2 === 0 ? ["billing"] : []), ...(i % 4 === 0 ? ["eu"] : [])];
      const answer = await create(aliceClient, {
        workflowId: workflow,
        temporalWorkflowId: `tm-e2e-f-${run}-${i}`,
        tags,
        metadata: { orderId: String(40 + (i % 3)), region: i % 2 ? "us" : "eu" },
      });
      expect(answer.status).toBe(201);
      rows.push({ id: answer.body.id as string, i, tags });
      if (i % 6 === 0) await invoke(aliceClient, "executions-update", { body: { id: answer.body.id, status: "failed", errorMessage: "x", durationMs: 100 + i } });
    }
    await create(bobClient, { workflowId: bobWorkflow, temporalWorkflowId: `tm-e2e-bob-${run}`, tags: [`run-${run}`, "billing"], metadata: { orderId: "42" } });
    // Newest first: the create order is the started_at order.
    const newest = [...rows].reverse();
    ids = {
      all: newest.map((r) => r.id),
      billing: newest.filter((r) => r.tags.includes("billing")).map((r) => r.id),
      billingEu: newest.filter((r) => r.tags.includes("billing") && r.tags.includes("eu")).map((r) => r.id),
      order42: newest.filter((r) => r.i % 3 === 2).map((r) => r.id),
    };
  }, 120_000);

  /** Every id of a list query, page by page over HTTP. */
  async function listAll(query: Record<string, string>): Promise<string[]> {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const answer = await list(aliceClient, new URLSearchParams({ ...query, limit: "5", ...(cursor ? { cursor } : {}) }).toString());
      expect(answer.status).toBe(200);
      seen.push(...answer.body.data.map((e: { id: string }) => e.id));
      cursor = answer.body.nextCursor;
    } while (cursor);
    return seen;
  }

  it("tag=a,b (all of), metadata.<key>=<value> (all keys), both orders, paged; never another user's rows", async () => {
    expect(await listAll({ tag: `run-${run}` })).toEqual(ids.all);
    expect(await listAll({ tag: `run-${run},billing` })).toEqual(ids.billing);
    expect(await listAll({ tag: `billing,run-${run},eu` })).toEqual(ids.billingEu);
    expect(await listAll({ tag: `run-${run},billing`, order: "asc" })).toEqual([...ids.billing].reverse());
    expect(await listAll({ tag: `run-${run}`, "metadata.orderId": "42" })).toEqual(ids.order42);
    expect(await listAll({ "metadata.orderId": "42", "metadata.region": "eu", tag: `run-${run}` }))
      .toEqual(ids.order42.filter((id) => ids.billing.includes(id)));
    expect(await listAll({ tag: `run-${run}`, status: "failed" })).toHaveLength(4);
    expect(await listAll({ tag: `run-${run}`, "metadata.orderId": "nothing" })).toEqual([]);
  });

  it("retryOf= lists the retries of an execution (none here), and is a UUID", async () => {
    expect((await list(aliceClient, `retryOf=${ids.all[0]}`)).body.data).toEqual([]);
    const bad = await list(aliceClient, "retryOf=nope");
    expect(bad.status).toBe(400);
    expect(fieldsOf(bad.body)).toEqual(["retryOf"]);
  });

  it("the export streams the same rows as the list for the same filter", async () => {
    const answer = await raw(e2e, `executions-list/export?${new URLSearchParams({ format: "ndjson", tag: `run-${run},billing` })}`, {
      headers: { Authorization: `Bearer ${aliceToken}` },
    });
    expect(answer.status).toBe(200);
    const lines = String(answer.body).trim().split("\n").map((line) => JSON.parse(line));
    expect(lines.map((e) => e.id)).toEqual(ids.billing);
    expect(lines.every((e) => e.tags.includes("billing") && typeof e.metadata.orderId === "string")).toBe(true);
  });

  it("stats and a series of a tag or metadata filter count exactly the matching rows", async () => {
    const stats = await invoke(aliceClient, `executions-stats?${new URLSearchParams({ tag: `run-${run},billing` })}`, { method: "GET" });
    expect(stats.status).toBe(200);
    expect(stats.body.total).toBe(ids.billing.length);
    expect(stats.body.byStatus.failed).toBe(4); // i = 0, 6, 12, 18: all even
    const byMetadata = await invoke(aliceClient, `executions-stats?${new URLSearchParams({ tag: `run-${run}`, "metadata.orderId": "42" })}`, { method: "GET" });
    expect(byMetadata.body.total).toBe(ids.order42.length);
    const series = await invoke(aliceClient, `executions-stats?${new URLSearchParams({ bucket: "hour", tag: `run-${run}` })}`, { method: "GET" });
    expect(series.status).toBe(200);
    expect(series.body.buckets).toHaveLength(24);
    expect(series.body.buckets.reduce((n: number, b: { total: number }) => n + b.total, 0)).toBe(ids.all.length);
    // Bob's own filter sees his one row only.
    const bobs = await invoke(bobClient, `executions-stats?${new URLSearchParams({ tag: `run-${run}` })}`, { method: "GET" });
    expect(bobs.body.total).toBe(1);
  });

  it("a bad filter is a 400 naming the parameter", async () => {
    for (const [query, field] of [
      [{ tag: "with space" }, "tag.0"],
      [{ tag: Array.from({ length: 11 }, (_, i) => `t${i}`).join(",") }, "tag"],
      [{ "metadata.bad key": "1" }, "metadata.bad key"],
      [{ "metadata.k": "x".repeat(257) }, "metadata.k"],
      [{ "metadata.": "1" }, "metadata."],
    ] as const) {
      for (const path of ["executions-list", "executions-stats"]) {
        const answer = await invoke(aliceClient, `${path}?${new URLSearchParams(query as Record<string, string>)}`, { method: "GET" });
        expect(answer.status, `${path} ${JSON.stringify(query)}`).toBe(400);
        expect(fieldsOf(answer.body)).toContain(field);
      }
    }
  });
});

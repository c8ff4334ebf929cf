/**
 * GET /executions-stats?bucket=hour|day over HTTP through the real handler on Deno: every bucket
 * of the range (UTC, empty ones zero-filled) against the rows, RLS (a user sees only their own;
 * the service role everyone's), ranged stats from the same rollups, and the 400s: a bad bucket,
 * more than 1,000 buckets, startedAfter not before startedBefore.
 */
import { randomUUID } from "node:crypto";
import type { SupabaseClient } from "@supabase/supabase-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { executionStatuses, isTerminal } from "../../shared/status.ts";
import { createUser, createWorkflow } from "../support/postgres.ts";
import { serviceToken, userToken } from "../support/tokens.ts";
import { clientFor, type E2E, invoke, startE2E } from "./support.ts";

const HOUR = 3_600_000;
let e2e: E2E;
let alice: string;
let bob: string;
let workflow: string;
let aliceClient: SupabaseClient;
let bobClient: SupabaseClient;
let serviceClient: SupabaseClient;
// A period only this file writes: 2004-04-04, 00:00 to 06:00 UTC.
const base = Date.parse("2004-04-04T00:00:00Z");

beforeAll(async () => {
  e2e = await startE2E();
  [alice, bob] = await Promise.all([createUser(e2e.sql), createUser(e2e.sql)]);
  workflow = await createWorkflow(e2e.sql, alice);
  const bobWorkflow = await createWorkflow(e2e.sql, bob);
  aliceClient = clientFor(e2e, await userToken(alice));
  bobClient = clientFor(e2e, await userToken(bob));
  serviceClient = clientFor(e2e, await serviceToken());
  // Alice: hours 0, 1 and 3 (none in hour 2), every status; Bob: 5 in hour 1.
  const rows = [
    ...Array.from({ length: 36 }, (_, i) => ({ owner: alice, wf: workflow, hour: [0, 1, 3][i % 3], minute: (i * 7) % 60, status: executionStatuses[i % 6], duration: 1000 + i * 250 })),
    ...Array.from({ length: 5 }, (_, i) => ({ owner: bob, wf: bobWorkflow, hour: 1, minute: i * 11, status: "completed" as const, duration: 500 })),
  ];
  for (const r of rows) {
    await e2e.sql`
      insert into public.workflow_executions (workflow_id, created_by, temporal_workflow_id, status, started_at, duration_ms)
      values (${r.wf}, ${r.owner}, ${r.status === "pending" ? null : `series-e2e-${randomUUID()}`}, ${r.status},
              ${new Date(base + r.hour * HOUR + r.minute * 60_000)}, ${isTerminal(r.status) ? r.duration : null})`;
  }
});
afterAll(async () => {
  await e2e?.stop();
});

const query = (params: Record<string, string>) => `executions-stats?${new URLSearchParams(params)}`;
const at = (hours: number) => new Date(base + hours * HOUR).toISOString();

describe("GET /executions-stats?bucket=", () => {
  it("hourly buckets over HTTP equal the rows, empty hours zero-filled, edges counted inside the range only", async () => {
    const rows = await e2e.sql`select status, started_at, duration_ms::float8 as d from public.workflow_executions where created_by = ${alice}`;
    const answer = await invoke(aliceClient, query({ bucket: "hour", startedAfter: at(0.5), startedBefore: at(4) }), { method: "GET" });
    expect(answer.status).toBe(200);
    expect(answer.body.bucket).toBe("hour");
    expect(answer.body.buckets.map((b: { start: string }) => b.start)).toEqual([0, 1, 2, 3].map((h) => new Date(base + h * HOUR).toISOString()));
    for (const [h, b] of answer.body.buckets.entries()) {
      const from = Math.max(base + h * HOUR, base + 0.5 * HOUR);
      const inBucket = rows.filter((r) => r.started_at.getTime() >= from && r.started_at.getTime() < base + (h + 1) * HOUR);
      expect(b.total, `hour ${h}`).toBe(inBucket.length);
      for (const s of executionStatuses) expect(b.byStatus[s], `hour ${h} ${s}`).toBe(inBucket.filter((r) => r.status === s).length);
      const durations = inBucket.map((r) => r.d).filter((d): d is number => d !== null).sort((x, y) => x - y);
      if (!durations.length) {
        expect([b.avgDurationMs, b.p50DurationMs, b.p95DurationMs, b.successRate]).toEqual([null, null, null, null]);
        continue;
      }
      expect(b.avgDurationMs).toBeCloseTo(durations.reduce((x, y) => x + y, 0) / durations.length, 9);
      const rank = (p: number) => durations[Math.ceil(p * durations.length) - 1];
      expect(Math.abs(b.p50DurationMs - rank(0.5))).toBeLessThanOrEqual(0.02 * rank(0.5));
      expect(Math.abs(b.p95DurationMs - rank(0.95))).toBeLessThanOrEqual(0.02 * rank(0.95));
    }
    expect(answer.body.buckets[2].total).toBe(0);
  });

  it("daily buckets, RLS and the service role", async () => {
    const range = { startedAfter: at(0), startedBefore: at(48) };
    const day = (client: SupabaseClient, extra: Record<string, string> = {}) =>
      invoke(client, query({ bucket: "day", ...range, ...extra }), { method: "GET" });
    const mine = await day(aliceClient);
    expect(mine.body.buckets.map((b: { total: number }) => b.total)).toEqual([36, 0]);
    expect((await day(bobClient)).body.buckets[0].total).toBe(5);
    expect((await day(bobClient, { workflowId: workflow })).body.buckets[0].total).toBe(0);
    expect((await day(serviceClient)).body.buckets[0].total).toBe(41);
    expect((await day(serviceClient, { workflowId: workflow })).body.buckets[0].total).toBe(36);
    // The plain stats of the same range: the bucket's counts, success rate and average (its
    // percentiles from the bins, within 2% of the summary's, which reads the rows exactly here).
    const ranged = await invoke(aliceClient, query(range), { method: "GET" });
    expect(ranged.status).toBe(200);
    const { start: _start, p50DurationMs, p95DurationMs, ...bucket } = mine.body.buckets[0];
    // The summary says which numbers include pruned runs (history); a bucket does not (the series says it once).
    const { p50DurationMs: p50, p95DurationMs: p95, history, ...summary } = ranged.body;
    expect(history).toEqual(mine.body.history);
    expect(summary).toEqual(bucket);
    expect(Math.abs(p50DurationMs - p50)).toBeLessThanOrEqual(0.02 * p50);
    expect(Math.abs(p95DurationMs - p95)).toBeLessThanOrEqual(0.02 * p95);
  });

  it("400 for a bad bucket, too many buckets, or an empty range", async () => {
    const bad: Record<string, string>[] = [
      { bucket: "week" },
      { bucket: "" },
      { bucket: "hour", startedAfter: "2026-01-01T00:00:00Z", startedBefore: "2026-03-01T00:00:00Z" }, // 1,416 hours
      { bucket: "day", startedAfter: "2020-01-01T00:00:00Z" },
      { bucket: "hour", startedAfter: at(2), startedBefore: at(1) },
      { bucket: "hour", startedAfter: "yesterday" },
    ];
    for (const params of bad) {
      const answer = await invoke(aliceClient, query(params), { method: "GET" });
      expect(answer.status, JSON.stringify(params)).toBe(400);
      expect(answer.body.error.code).toBe("validation_failed");
      expect(answer.body.error.details.fields.length).toBeGreaterThan(0);
    }
    const thousand = await invoke(aliceClient, query({ bucket: "hour", startedAfter: at(0), startedBefore: at(1000) }), { method: "GET" });
    expect(thousand.status).toBe(200);
    expect(thousand.body.buckets).toHaveLength(1000);
  });
});

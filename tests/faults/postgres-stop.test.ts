/**
 * Fault tier: PostgreSQL stopped for several seconds (`pg_ctl stop -m fast`, then start).
 *
 * A cluster of this file's own, migrated; `npm start` with DATABASE_URL on it. While the
 * database is down, 8 clients keep creating and listing for 4 s: every answer must be a clean
 * 503 `unavailable` with Retry-After, fast (each well under 5 s: no wait for a connection
 * that cannot come, no reconnect backoff of many seconds). Then PostgreSQL starts again and,
 * without restarting the server, creates succeed within 5 s and a burst of them all succeeds.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createUser, createWorkflow, type PostgresHandle, startPostgres } from "../support/postgres.ts";
import { userToken } from "../support/tokens.ts";
import { createRequest, isClean503, type Outcome, request, type ServerProcess, sleep, startNpmStart } from "./postgres-support.ts";

const clients = 8;
const downMs = 4_000;

let pg: PostgresHandle;
let server: ServerProcess | undefined;

beforeAll(async () => {
  pg = await startPostgres({ throwaway: true });
}, 180_000);

afterAll(async () => {
  await server?.stop();
  await pg?.stop();
});

describe("PostgreSQL stopped for several seconds", () => {
  it("answers fast 503s with Retry-After while it is down, and serves again once it is back, without a restart", async () => {
    const userId = await createUser(pg.adminSql);
    const workflowId = await createWorkflow(pg.adminSql, userId);
    const token = await userToken(userId);
    server = await startNpmStart(pg.url);
    const tag = randomUUID().slice(0, 6);
    let n = 0;
    const create = () =>
      request(`${server!.functionsUrl}/executions-create`, createRequest(token, { workflowId, temporalWorkflowId: `stop-${tag}-${n++}` }), 15_000);
    const list = () => request(`${server!.functionsUrl}/executions-list?limit=5`, { headers: { authorization: `Bearer ${token}` } }, 15_000);

    // Warm: the server's connections are open and in use.
    for (const outcome of await Promise.all(Array.from({ length: 16 }, create))) expect(outcome.status).toBe(201);

    await pg.server!.halt("fast");
    const down: Outcome[] = [];
    const until = performance.now() + downMs;
    await Promise.all(Array.from({ length: clients }, async (_, c) => {
      while (performance.now() < until) {
        down.push(await (c % 2 ? list() : create()));
        await sleep(50);
      }
    }));

    await pg.server!.resume();
    const backAt = performance.now();
    let recoveredMs = -1;
    while (performance.now() - backAt < 10_000) {
      const outcome = await create();
      if (outcome.status === 201) {
        recoveredMs = performance.now() - backAt;
        break;
      }
      expect(isClean503(outcome), JSON.stringify(outcome)).toBe(true);
      await sleep(50);
    }
    const after = await Promise.all(Array.from({ length: 32 }, (_, i) => (i % 2 ? list() : create())));

    const maxMs = Math.max(...down.map((o) => o.ms));
    const statuses = down.reduce<Record<number, number>>((acc, o) => ((acc[o.status] = (acc[o.status] ?? 0) + 1), acc), {});
    console.log(
      `faults: pg-stop down_ms=${downMs} requests=${down.length} 503s=${down.filter(isClean503).length} ` +
        `500s=${statuses[500] ?? 0} unanswered=${statuses[0] ?? 0} max_latency_ms=${Math.round(maxMs)} ` +
        `p50_latency_ms=${Math.round(down.map((o) => o.ms).sort((a, b) => a - b)[Math.floor(down.length / 2)])} ` +
        `retry_after=${[...new Set(down.map((o) => o.retryAfter))].join(",")} recovered_ms=${Math.round(recoveredMs)} ` +
        `after=${after.filter((o) => o.status === 200 || o.status === 201).length}/${after.length}`,
    );

    expect(server.exitCode(), `the server died:\n${server.output().slice(-4000)}`).toBeUndefined();
    expect(down.length).toBeGreaterThan(clients * 4);
    expect(down.filter((o) => !isClean503(o)), "answers while down that are not a clean 503").toEqual([]);
    expect(maxMs, "slowest answer while down").toBeLessThan(5_000);
    expect(recoveredMs, "ms from PostgreSQL back to the first create that succeeded").toBeGreaterThanOrEqual(0);
    expect(recoveredMs).toBeLessThan(5_000);
    expect(after.map((o) => o.status).filter((s) => s !== 200 && s !== 201)).toEqual([]);
  }, 90_000);
});

/**
 * Fault tier: PostgreSQL restarted (`pg_ctl restart -m fast`) under 32 concurrent writers.
 *
 * A cluster of this file's own (restarting it cannot disturb other files), migrated; `npm
 * start` with DATABASE_URL on it (the functions, the pg_net stand-in, LISTEN). 32 clients
 * create executions (each with its own temporalWorkflowId) for ~1.5 s, the cluster is
 * restarted, and they go on until 5 s after it is back. Checked: the server process never
 * dies and still answers; every request got an answer within its bound (no hang); every
 * answer is a 201 or a clean 503 `unavailable` with Retry-After (no 500); every acknowledged
 * (201) create is in the table exactly once; creates succeed again within 5 s of PostgreSQL.
 * The same restart against a plain Node caller of the shared module (createDatabase + the
 * service, in this process) follows.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, DatabaseUnavailableError } from "../../shared/db.ts";
import { createExecutionService } from "../../shared/service.ts";
import { connect, createUser, createWorkflow, type PostgresHandle, startPostgres, userCaller } from "../support/postgres.ts";
import { userToken } from "../support/tokens.ts";
import { createRequest, isClean503, type Outcome, request, type ServerProcess, sleep, startNpmStart } from "./postgres-support.ts";

const writers = 32;
const users = 8;

let pg: PostgresHandle;
let server: ServerProcess | undefined;
const owners: { userId: string; workflowId: string; token: string }[] = [];

beforeAll(async () => {
  pg = await startPostgres({ throwaway: true });
  for (let i = 0; i < users; i++) {
    const userId = await createUser(pg.adminSql);
    owners.push({ userId, workflowId: await createWorkflow(pg.adminSql, userId), token: await userToken(userId) });
  }
}, 180_000);

afterAll(async () => {
  await server?.stop();
  await pg?.stop();
});

type Sent = Outcome & { twid: string; sentAt: number };

interface Tally {
  outcomes: Sent[];
  restartedAt: number;
  backAt: number;
}

/** Runs `writers` create loops; restarts PostgreSQL after `beforeMs`; stops `afterMs` after it is back. */
async function restartUnderLoad(create: (owner: (typeof owners)[number], twid: string) => Promise<Outcome>, tag: string): Promise<Tally> {
  const outcomes: Tally["outcomes"] = [];
  let running = true;
  let restartedAt = 0;
  let backAt = 0;
  const loops = Array.from({ length: writers }, async (_, w) => {
    for (let i = 0; running; i++) {
      const twid = `fault-${tag}-${w}-${i}`;
      const sentAt = performance.now();
      const outcome = await create(owners[w % users], twid);
      outcomes.push({ ...outcome, twid, sentAt });
      // A failed request: the next one (a new id) after a short pause, so the load stays on.
      if (outcome.status !== 201) await sleep(20);
    }
  });
  await sleep(1_500);
  restartedAt = performance.now();
  await pg.server!.restart("fast");
  backAt = performance.now();
  await sleep(5_000);
  running = false;
  await Promise.all(loops);
  return { outcomes, restartedAt, backAt };
}

async function check(name: string, tally: Tally) {
  const { outcomes } = tally;
  const acknowledged = outcomes.filter((o) => o.status === 201).map((o) => o.twid);
  const unavailable = outcomes.filter((o) => o.status === 503);
  const internal = outcomes.filter((o) => o.status === 500);
  const unanswered = outcomes.filter((o) => o.status === 0);
  const other = outcomes.filter((o) => ![0, 201, 500, 503].includes(o.status));
  const maxMs = Math.max(...outcomes.map((o) => o.ms));
  // From PostgreSQL accepting connections again to the end of the first create that succeeded after it.
  const recoveredMs = Math.min(...outcomes.filter((o) => o.status === 201 && o.sentAt >= tally.backAt).map((o) => o.sentAt + o.ms)) - tally.backAt;

  const sql = connect(pg.url, { max: 2 });
  let present = 0;
  let duplicates = 0;
  try {
    const rows = await sql<{ twid: string; n: number }[]>`
      select temporal_workflow_id as twid, count(*)::int as n from public.workflow_executions
       where temporal_workflow_id = any(${acknowledged}::text[]) group by 1`;
    present = rows.length;
    duplicates = rows.filter((r) => r.n > 1).length;
  } finally {
    await sql.end({ timeout: 1 });
  }
  console.log(
    `faults: ${name} requests=${outcomes.length} acknowledged=${acknowledged.length} present=${present} ` +
      `duplicates=${duplicates} 503s=${unavailable.length} 500s=${internal.length} unanswered=${unanswered.length} ` +
      `max_latency_ms=${Math.round(maxMs)} restart_ms=${Math.round(tally.backAt - tally.restartedAt)} recovered_ms=${Math.round(recoveredMs)}`,
  );
  expect(unanswered.map((o) => o.error), "requests without an answer (a dead process or a hang)").toEqual([]);
  expect(internal.length, "500s").toBe(0);
  expect(other.map((o) => o.status)).toEqual([]);
  expect(unavailable.filter((o) => !isClean503(o)), "503s without code unavailable and Retry-After").toEqual([]);
  expect(unavailable.length, "the restart was felt by some request").toBeGreaterThan(0);
  expect(present).toBe(acknowledged.length);
  expect(duplicates).toBe(0);
  // Service is back within a few seconds of PostgreSQL: the requests sent 3 s after it
  // accepted connections again all succeeded.
  const late = outcomes.filter((o) => o.sentAt > tally.backAt + 3_000);
  expect(late.length).toBeGreaterThan(0);
  expect(late.filter((o) => o.status !== 201).map((o) => o.status)).toEqual([]);
  expect(recoveredMs).toBeLessThan(5_000);
}

describe("PostgreSQL restarted under 32 concurrent writers", () => {
  it("npm start survives: every answer a 201 or a clean 503, every acknowledged create present once, service back", async () => {
    server = await startNpmStart(pg.url);
    const { functionsUrl } = server;
    const tally = await restartUnderLoad(
      (owner, twid) =>
        request(`${functionsUrl}/executions-create`, createRequest(owner.token, { workflowId: owner.workflowId, temporalWorkflowId: twid }), 15_000),
      `http-${randomUUID().slice(0, 6)}`,
    );
    expect(server.exitCode(), `the server died:\n${server.output().slice(-4000)}`).toBeUndefined();
    const health = await request(`${server.url}/health`, {}, 5_000);
    expect(health.status).toBe(200);
    await check("pg-restart", tally);
    expect(server.output()).not.toMatch(/Uncaught|reading 'write'/);
  }, 90_000);

  it("a plain Node caller of the shared module (createDatabase + the service) survives the same restart", async () => {
    const sql = createDatabase({ url: pg.url, poolSize: 8 });
    const services = owners.map((owner) => createExecutionService({ sql, caller: userCaller(owner.userId), temporal: null }));
    try {
      const tally = await restartUnderLoad(async (owner, twid) => {
        const started = performance.now();
        const service = services[owners.indexOf(owner)];
        try {
          await service.createExecution({ workflowId: owner.workflowId, temporalWorkflowId: twid });
          return { status: 201, retryAfter: null, code: null, ms: performance.now() - started };
        } catch (error) {
          if (error instanceof DatabaseUnavailableError) {
            return { status: 503, retryAfter: String(error.retryAfterSeconds), code: error.code, ms: performance.now() - started };
          }
          return { status: 500, retryAfter: null, code: null, ms: performance.now() - started, error: String(error) };
        }
      }, `node-${randomUUID().slice(0, 6)}`);
      await check("pg-restart-node", tally);
    } finally {
      await sql.end({ timeout: 1 });
    }
  }, 90_000);
});

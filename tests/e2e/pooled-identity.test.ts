/**
 * Identity through a transaction pooler. On Supabase, Edge Functions reach Postgres through
 * Supavisor in transaction mode: one server connection serves many requests of many users in
 * turn. Each request runs as one transaction in the caller's role with the caller's claims
 * (`set_config(..., true)`, i.e. `set local`), so nothing of one user's request may be visible
 * to the next transaction on that connection. Here the functions (the real Hono handlers on
 * Deno) reach the database through PgBouncer in transaction mode with 2 server connections:
 *
 *   - three users hammer create, list, get, stats and update concurrently (interleaved with
 *     service-role reads that bypass RLS), and each only ever sees its own rows and counts;
 *   - meanwhile a probe that sets no role and no claims runs on the same pooled server
 *     connections, and never sees a role, claims, an auth.uid(), the stop-claim marker or
 *     any other setting changed for the session;
 *   - with ONE server connection, a transaction without claims right after each user request
 *     sees none, and a positive control shows the probe would see a session-level leak.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, createUser, createWorkflow, type Sql, type Tx } from "../support/postgres.ts";
import { serviceToken, userToken } from "../support/tokens.ts";
import { type E2E, startE2E } from "./support.ts";

const pooled = process.env.ET_TEST_POOLER !== "direct";

interface User {
  id: string;
  token: string;
  workflow: string;
  /** Prefix of this user's temporalWorkflowIds. */
  tag: string;
  createsIssued: number;
  /** Ids whose create answered 201. */
  created: string[];
  /** Created and not (being) completed. */
  live: string[];
  completionsIssued: number;
  completionsConfirmed: number;
}

interface Answer {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
}

async function call(server: E2E, token: string, method: string, path: string, body?: unknown): Promise<Answer> {
  const response = await fetch(`${server.server.functionsUrl}/${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : null };
}

/** What a transaction that sets no role and no claims sees of its session. */
interface Probe {
  pid: number;
  current_user: string;
  session_user: string;
  role: string;
  claims: string | null;
  uid: string | null;
  jwt_role: string | null;
  stop_claim: string | null;
  /**
   * Server settings changed for the session (a SET, or set_config(..., false)), other than those
   * PgBouncer itself syncs per client. Custom settings such as request.jwt.claims are not listed in
   * pg_settings: they are read one by one above.
   */
  session_settings: string[];
}
const probeQuery = (sql: Sql | Tx) => sql<Probe[]>`
  select pg_backend_pid() as pid, current_user, session_user, current_setting('role') as role,
         current_setting('request.jwt.claims', true) as claims, auth.uid() as uid, auth.role() as jwt_role,
         current_setting('execution_tracker.stop_claim', true) as stop_claim,
         array(select name from pg_settings
                where source = 'session'
                  and name <> all (array['application_name', 'client_encoding', 'DateStyle', 'TimeZone', 'standard_conforming_strings'])
                order by name) as session_settings`;

/** Nothing of any earlier transaction: no role switched to, no claims, no user. */
function expectClean(probe: Probe) {
  expect(probe.current_user, JSON.stringify(probe)).toBe(probe.session_user);
  expect(probe.role, JSON.stringify(probe)).toBe("none");
  // '' once any transaction on the connection set it locally (the placeholder stays defined).
  expect([null, ""], JSON.stringify(probe)).toContain(probe.claims);
  expect(probe.uid, JSON.stringify(probe)).toBeNull();
  expect(probe.jwt_role, JSON.stringify(probe)).toBeNull();
  // The sweeper's and stop processing's transaction-local marker that suppresses webhooks.
  expect([null, ""], JSON.stringify(probe)).toContain(probe.stop_claim);
  expect(probe.session_settings, JSON.stringify(probe)).toEqual([]);
}

async function newUser(e2e: E2E): Promise<User> {
  const id = await createUser(e2e.sql);
  return {
    id,
    token: await userToken(id),
    workflow: await createWorkflow(e2e.sql, id, { name: "pooled" }),
    tag: `pooled-${randomUUID().slice(0, 8)}-`,
    createsIssued: 0,
    created: [],
    live: [],
    completionsIssued: 0,
    completionsConfirmed: 0,
  };
}

describe.skipIf(!pooled)("identity through PgBouncer in transaction mode", () => {
  let e2e: E2E;
  let users: User[];
  let service: string;

  beforeAll(async () => {
    e2e = await startE2E({ poolerSize: 2 });
    expect(e2e.pgbouncer?.poolSize).toBe(2);
    users = await Promise.all([newUser(e2e), newUser(e2e), newUser(e2e)]);
    service = await serviceToken();
  });
  afterAll(async () => {
    await e2e?.stop();
  });

  it("users hammering concurrently each see only their own rows and counts, and no transaction inherits an identity", async () => {
    const OPS_PER_WORKER = 40;
    const WORKERS_PER_USER = 4;
    const started = Date.now();
    let requests = 0;
    let serviceSawOthers = 0;

    const others = (user: User) => users.filter((u) => u !== user);
    const ops: ((user: User) => Promise<void>)[] = [
      async function create(user) {
        const n = ++user.createsIssued;
        const answer = await call(e2e, user.token, "POST", "executions-create", {
          workflowId: user.workflow, temporalWorkflowId: `${user.tag}${n}-${randomUUID()}`, input: { n },
        });
        expect(answer.status, JSON.stringify(answer.body)).toBe(201);
        expect(answer.body.createdBy).toBe(user.id);
        expect(answer.body.temporalWorkflowId.startsWith(user.tag)).toBe(true);
        user.created.push(answer.body.id);
        user.live.push(answer.body.id);
      },
      async function list(user) {
        const answer = await call(e2e, user.token, "GET", "executions-list?limit=100");
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        for (const row of answer.body.data) {
          expect(row.createdBy, `a row of someone else in ${user.id}'s list`).toBe(user.id);
          expect(row.temporalWorkflowId.startsWith(user.tag)).toBe(true);
        }
        expect(answer.body.data.length).toBeLessThanOrEqual(Math.min(100, user.createsIssued));
      },
      async function stats(user) {
        const atLeast = user.created.length;
        const completedAtLeast = user.completionsConfirmed;
        const answer = await call(e2e, user.token, "GET", "executions-stats");
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        const { total, byStatus } = answer.body;
        // Exactly this user's rows: never fewer than those confirmed before asking, never more than
        // those asked for by the time the answer came (another user's row would push it over).
        expect(total).toBeGreaterThanOrEqual(atLeast);
        expect(total).toBeLessThanOrEqual(user.createsIssued);
        expect(byStatus.completed).toBeGreaterThanOrEqual(completedAtLeast);
        expect(byStatus.completed).toBeLessThanOrEqual(user.completionsIssued);
        expect(byStatus.running + byStatus.completed).toBe(total);
      },
      async function complete(user) {
        const id = user.live.shift();
        if (!id) return;
        user.completionsIssued++;
        const answer = await call(e2e, user.token, "POST", "executions-update", { id, status: "completed", durationMs: 1000 + user.completionsIssued });
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        expect(answer.body).toMatchObject({ id, createdBy: user.id, status: "completed" });
        user.completionsConfirmed++;
      },
      async function get(user) {
        const id = user.created[user.created.length - 1];
        if (!id) return;
        const answer = await call(e2e, user.token, "GET", `executions-list/${id}`);
        expect(answer.status, JSON.stringify(answer.body)).toBe(200);
        expect(answer.body.createdBy).toBe(user.id);
      },
      async function getSomeoneElses(user) {
        const theirs = others(user).map((u) => u.created[0]).find(Boolean);
        if (!theirs) return;
        const answer = await call(e2e, user.token, "GET", `executions-list/${theirs}`);
        expect(answer.status, JSON.stringify(answer.body)).toBe(404);
      },
      async function serviceReads(user) {
        // The service role bypasses RLS, and its transactions run on the same server connections:
        // it reads this user's latest row and another user's.
        const mine = user.created[user.created.length - 1];
        const other = others(user).find((u) => u.created.length > 0);
        if (!mine || !other) return;
        for (const [id, owner] of [[mine, user.id], [other.created[0], other.id]]) {
          const answer = await call(e2e, service, "GET", `executions-list/${id}`);
          expect(answer.status, JSON.stringify(answer.body)).toBe(200);
          expect(answer.body.createdBy).toBe(owner);
        }
        serviceSawOthers++;
      },
    ];

    const worker = async (user: User, index: number) => {
      for (let i = 0; i < OPS_PER_WORKER; i++) {
        await ops[(i * 3 + index) % ops.length](user);
        requests++;
      }
    };

    // The probe: plain statements and explicit transactions that set nothing, through the same
    // PgBouncer, so they run on the server connections the users' requests just used.
    const probe = connect(e2e.pgbouncer!.url, { max: 2, connection: { application_name: "et-leak-probe" } });
    const probePids = new Set<number>();
    let probes = 0;
    let hammering = true;
    const probing = (async () => {
      while (hammering) {
        const [plain] = await probeQuery(probe);
        const [inTransaction] = (await probe.begin((tx) => probeQuery(tx))) as Probe[];
        for (const seen of [plain, inTransaction]) {
          expectClean(seen);
          probePids.add(seen.pid);
          probes++;
        }
      }
    })();

    try {
      await Promise.all(users.flatMap((user) => Array.from({ length: WORKERS_PER_USER }, (_, index) => worker(user, index))));
    } finally {
      hammering = false;
      await probing.finally(() => probe.end({ timeout: 1 }));
    }
    const elapsed = Date.now() - started;

    expect(requests).toBe(users.length * WORKERS_PER_USER * OPS_PER_WORKER);
    expect(elapsed, `${requests} requests took ${elapsed} ms`).toBeLessThan(60_000);
    expect(serviceSawOthers, "the service role read several users' rows in between").toBeGreaterThan(0);
    expect(probes).toBeGreaterThan(20);
    // The probes ran on PgBouncer's server connections (at most poolSize of them).
    expect(probePids.size).toBeGreaterThanOrEqual(1);
    expect(probePids.size).toBeLessThanOrEqual(e2e.pgbouncer!.poolSize);

    // In the end each user's rows and counts are exactly their own.
    for (const user of users) {
      const [row] = await e2e.sql`
        select count(*)::int as n, count(*) filter (where status = 'completed')::int as completed
          from public.workflow_executions where created_by = ${user.id}`;
      expect(row).toEqual({ n: user.created.length, completed: user.completionsConfirmed });
      const stats = await call(e2e, user.token, "GET", "executions-stats");
      expect(stats.body).toMatchObject({ total: user.created.length, byStatus: { completed: user.completionsConfirmed } });
    }
  }, 120_000);
});

describe.skipIf(!pooled)("identity through ONE pooled server connection", () => {
  let e2e: E2E;
  let alice: User;
  let bob: User;

  beforeAll(async () => {
    e2e = await startE2E({ poolerSize: 1 });
    [alice, bob] = await Promise.all([newUser(e2e), newUser(e2e)]);
  });
  afterAll(async () => {
    await e2e?.stop();
  });

  it("a transaction without claims right after each user request sees no role, claims or user", async () => {
    const probe = connect(e2e.pgbouncer!.url, { max: 1, connection: { application_name: "et-leak-probe" } });
    const pids = new Set<number>();
    try {
      for (let i = 0; i < 20; i++) {
        const user = i % 2 ? bob : alice;
        const created = await call(e2e, user.token, "POST", "executions-create", { workflowId: user.workflow, temporalWorkflowId: `${user.tag}${i}` });
        expect(created.status, JSON.stringify(created.body)).toBe(201);
        user.created.push(created.body.id);
        const [seen] = await probeQuery(probe);
        expectClean(seen);
        pids.add(seen.pid);
        const listed = await call(e2e, user.token, "GET", "executions-list?limit=100");
        expect(listed.body.data.map((row: { id: string }) => row.id).sort()).toEqual([...user.created].sort());
      }
    } finally {
      await probe.end({ timeout: 1 });
    }
    // One server connection served every request and every probe.
    expect(pids.size).toBe(1);
  });

  it("the probe would see a leak: a session-level setting does reach the next client on that connection", async () => {
    const leaker = connect(e2e.pgbouncer!.url, { max: 1 });
    const next = connect(e2e.pgbouncer!.url, { max: 1 });
    try {
      // What `set` instead of `set local` would do.
      await leaker`select set_config('request.jwt.claims', ${JSON.stringify({ sub: alice.id, role: "authenticated" })}, false)`;
      const [seen] = await probeQuery(next);
      expect(seen.uid).toBe(alice.id);
      await leaker`set statement_timeout = '59s'`;
      const [again] = await probeQuery(next);
      expect(again.session_settings).toEqual(["statement_timeout"]);
      await next`reset all`;
      const [after] = await probeQuery(next);
      expectClean(after);
      expect(after.pid).toBe(seen.pid);
    } finally {
      await leaker.end({ timeout: 1 });
      await next.end({ timeout: 1 });
    }
  });
});

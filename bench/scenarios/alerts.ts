/**
 * Failure alerts (docs/architecture.md §5.5), two parts:
 *
 * 1. Fan-out: 10,000 executions of one user fail (updates of 100 rows each, as fast as the
 *    database takes them) while the user's endpoint points at a receiver on 127.0.0.1 that is
 *    down for the first 3 s; the deliverer (shared/alerts/deliver.ts, as alerts-deliver runs it)
 *    sends from the outbox. The receiver verifies every signature and counts deliveries by
 *    delivery id: all 10,000 must arrive, each once after dedup. Reported: time to drain from
 *    the first failure and from the receiver coming up, requests, duplicates, failed attempts.
 *    Beside it the naive way: each failure's writer POSTs inline, one by one, with the same
 *    outage: what it loses, and how long the writes take.
 * 2. The trigger's write cost on a failing single-row update (synchronous_commit off, so the
 *    statement's work is compared, not the WAL flush): the alert trigger disabled, on with no
 *    endpoint, with one and with three matching endpoints.
 */
import { createServer, type Server } from "node:http";
import postgres from "postgres";
import { deliverDueAlerts } from "../../shared/alerts/deliver.ts";
import { createAlertService } from "../../shared/alerts/service.ts";
import { DELIVERY_HEADER, SIGNATURE_HEADER, verifyAlertSignature } from "../../shared/alerts/signing.ts";
import type { BenchContext } from "../lib/context.ts";
import { serviceCaller } from "../lib/context.ts";
import { log, type Measurement, round3, summarize } from "../lib/measure.ts";

export interface AlertsResult {
  failures: number;
  receiverDownMs: number;
  fanOut: {
    deliveryRows: number;
    deliveredRows: number;
    receivedRequests: number;
    uniqueDelivered: number;
    duplicates: number;
    invalidSignatures: number;
    failedAttempts: number;
    failMs: number;
    drainMs: number;
    drainAfterUpMs: number;
    deliveriesPerSecondAfterUp: number;
    exactlyOnce: boolean;
  };
  naive: { sent: number; lost: number; totalMs: number; perFailureMs: number };
  writeCost: Measurement[];
}

const FAILURES = 10_000;
const DOWN_MS = 3_000;

/** A receiver on 127.0.0.1 that verifies signatures and counts deliveries by id; listens only while `up`. */
class CountingReceiver {
  readonly counts = new Map<string, number>();
  requests = 0;
  invalid = 0;
  private server: Server | null = null;
  secret = "";
  constructor(readonly port: number) {}
  get url() {
    return `http://127.0.0.1:${this.port}/alerts`;
  }
  async up() {
    this.server = createServer((req, res) => {
      const chunks: Uint8Array[] = [];
      req.on("data", (chunk) => chunks.push(chunk));
      req.on("end", async () => {
        this.requests++;
        const body = new TextDecoder().decode(concat(chunks));
        const id = String(req.headers[DELIVERY_HEADER] ?? "");
        if (!(await verifyAlertSignature(this.secret, String(req.headers[SIGNATURE_HEADER] ?? ""), body))) this.invalid++;
        this.counts.set(id, (this.counts.get(id) ?? 0) + 1);
        res.statusCode = 204;
        res.end();
      });
    });
    await new Promise<void>((resolve) => this.server!.listen(this.port, "127.0.0.1", resolve));
  }
  async down() {
    const server = this.server;
    this.server = null;
    if (!server) return;
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}

function concat(chunks: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const chunk of chunks) (out.set(chunk, at), at += chunk.length);
  return out;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function runAlerts(ctx: BenchContext, opts: { quick: boolean }): Promise<AlertsResult> {
  const admin = ctx.db.admin;
  const newUser = async () => {
    const [{ id }] = await admin`insert into auth.users (id, email, role) select u, u || '@bench.alerts', 'authenticated' from gen_random_uuid() u returning id`;
    const [{ workflow }] = await admin`insert into public.workflows (name, created_by) values ('bench-alerts', ${id}) returning id as workflow`;
    return { id: id as string, workflow: workflow as string };
  };
  const running = async (owner: { id: string; workflow: string }, n: number): Promise<string[]> => {
    const rows = await admin`
      insert into public.workflow_executions (workflow_id, created_by, status)
      select ${owner.workflow}, ${owner.id}, 'running' from generate_series(1, ${n}) returning id`;
    return rows.map((r) => r.id as string);
  };
  const alerts = createAlertService({ sql: ctx.sql, caller: serviceCaller, allowPrivateUrls: true });

  // ---------------------------------------------------------------------------------------
  // 1. Fan-out through the outbox, receiver down for the first DOWN_MS.
  // ---------------------------------------------------------------------------------------
  const receiver = new CountingReceiver(await freePort());
  const owner = await newUser();
  const endpoint = await alerts.createEndpoint({ url: receiver.url, userId: owner.id });
  receiver.secret = endpoint.secret;
  const ids = await running(owner, FAILURES);
  log(`alerts: ${FAILURES} running executions inserted; failing them with the receiver down for ${DOWN_MS} ms`);

  const t0 = performance.now();
  let upAt = 0;
  const comingUp = sleep(DOWN_MS).then(async () => {
    await receiver.up();
    upAt = performance.now();
  });
  let delivering = true;
  const deliverer = (async () => {
    while (delivering) {
      const report = await deliverDueAlerts({ sql: ctx.sql, log }, {
        allowPrivateUrls: true, budgetMs: 5_000, concurrency: 32, perEndpoint: 32, batchSize: 100,
        backoffBaseSeconds: 0.5, backoffCapSeconds: 2, maxAttempts: 100, pollMs: 50,
      });
      if (!report.claimed) await sleep(50);
    }
  })();
  for (let i = 0; i < ids.length; i += 100) {
    await admin`update public.workflow_executions set status = 'failed', error_message = 'bench failure' where id = any(${ids.slice(i, i + 100)}::uuid[])`;
  }
  const failMs = performance.now() - t0;
  await comingUp;
  for (;;) {
    const [{ delivered }] = await admin`select count(*)::int as delivered from public.alert_deliveries where endpoint_id = ${endpoint.id} and status = 'delivered'`;
    if (delivered >= FAILURES || performance.now() - t0 > 600_000) break;
    await sleep(20);
  }
  const drainedAt = performance.now();
  delivering = false;
  await deliverer;
  const [counts] = await admin`
    select count(*)::int as rows, count(*) filter (where status = 'delivered')::int as delivered,
           coalesce(sum(attempts), 0)::int as attempts
      from public.alert_deliveries where endpoint_id = ${endpoint.id}`;
  await receiver.down();
  const unique = receiver.counts.size;
  const fanOut = {
    deliveryRows: counts.rows,
    deliveredRows: counts.delivered,
    receivedRequests: receiver.requests,
    uniqueDelivered: unique,
    duplicates: receiver.requests - unique,
    invalidSignatures: receiver.invalid,
    failedAttempts: counts.attempts - counts.delivered,
    failMs: Math.round(failMs),
    drainMs: Math.round(drainedAt - t0),
    drainAfterUpMs: Math.round(drainedAt - upAt),
    deliveriesPerSecondAfterUp: Math.round(FAILURES / ((drainedAt - upAt) / 1000)),
    exactlyOnce: unique === FAILURES && counts.delivered === FAILURES && counts.rows === FAILURES,
  };
  log(`alerts fan-out: ${JSON.stringify(fanOut)}`);

  // ---------------------------------------------------------------------------------------
  // The naive way: the writer POSTs each failure inline, one by one, with the same outage.
  // ---------------------------------------------------------------------------------------
  const naiveCount = opts.quick ? 2_000 : FAILURES;
  const naiveReceiver = new CountingReceiver(await freePort());
  naiveReceiver.secret = endpoint.secret;
  const naiveOwner = await newUser();
  const naiveIds = await running(naiveOwner, naiveCount);
  const writer = postgres(ctx.db.url, { max: 1, prepare: true, onnotice: () => {} });
  let lost = 0;
  const n0 = performance.now();
  const naiveUp = sleep(DOWN_MS).then(() => naiveReceiver.up());
  for (const id of naiveIds) {
    await writer`update public.workflow_executions set status = 'failed', error_message = 'bench failure' where id = ${id}`;
    try {
      const response = await fetch(naiveReceiver.url, { method: "POST", body: JSON.stringify({ id }), headers: { [DELIVERY_HEADER]: id }, signal: AbortSignal.timeout(5_000) });
      await response.body?.cancel();
      if (!response.ok) lost++;
    } catch {
      lost++;
    }
  }
  const naiveMs = performance.now() - n0;
  await naiveUp;
  await naiveReceiver.down();
  const naive = { sent: naiveCount - lost, lost, totalMs: Math.round(naiveMs), perFailureMs: round3(naiveMs / naiveCount) };
  log(`alerts naive (inline, one by one): ${JSON.stringify(naive)}`);

  // ---------------------------------------------------------------------------------------
  // 2. The trigger's cost on a failing single-row update (1 client, prepared).
  // ---------------------------------------------------------------------------------------
  const perCase = opts.quick ? 500 : 2_000;
  const writeCost: Measurement[] = [];
  // Without waiting for the WAL flush of each commit (synchronous_commit off for this session),
  // so that what is compared is the statement's own work, not the disk's fsync.
  const costWriter = postgres(ctx.db.url, { max: 1, prepare: true, onnotice: () => {}, connection: { synchronous_commit: "off" } });
  const cases: [string, number, boolean][] = [
    ["failing update, alert trigger disabled", 1, false],
    ["failing update, no endpoint", 0, true],
    ["failing update, 1 matching endpoint", 1, true],
    ["failing update, 3 matching endpoints", 3, true],
  ];
  for (const [name, endpointCount, triggerOn] of cases) {
    const user = await newUser();
    for (let i = 0; i < endpointCount; i++) await alerts.createEndpoint({ url: `http://127.0.0.1:9/bench-${i}`, userId: user.id, enabled: true });
    // Not sent: the deliverer is not running, and the rows are removed below.
    const rows = await running(user, perCase);
    if (!triggerOn) await admin`alter table public.workflow_executions disable trigger execution_status_alert`;
    const latencies: number[] = [];
    const started = performance.now();
    try {
      for (const id of rows) {
        const t = performance.now();
        await costWriter`update public.workflow_executions set status = 'failed', error_message = 'bench failure' where id = ${id}`;
        latencies.push(performance.now() - t);
      }
    } finally {
      if (!triggerOn) await admin`alter table public.workflow_executions enable trigger execution_status_alert`;
    }
    const wallMs = performance.now() - started;
    writeCost.push(summarize(name, latencies, { concurrency: 1, warmup: 0, errors: 0, throughput: Math.round(rows.length / (wallMs / 1000)), wallMs: Math.round(wallMs), note: `${endpointCount} endpoint(s), trigger ${triggerOn ? "on" : "off"}` }));
    await admin`delete from public.alert_endpoints where created_by = ${user.id}`;
  }
  for (const m of writeCost) log(`  ${m.name}: p50 ${m.p50} ms, mean ${m.mean} ms, ${m.throughput}/s`);
  await Promise.all([writer.end({ timeout: 1 }), costWriter.end({ timeout: 1 })]);
  await admin`delete from public.alert_endpoints where created_by = ${owner.id} or created_by = ${naiveOwner.id}`;
  return { failures: FAILURES, receiverDownMs: DOWN_MS, fanOut, naive, writeCost };
}

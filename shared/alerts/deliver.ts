/**
 * The alert deliverer: sends due rows of the outbox (public.alert_deliveries) to their
 * endpoints, run by POST /alerts-deliver (pg_cron every minute) and, locally, by the dev
 * server's alerts-delivery plugin every second.
 *
 * One run keeps a bounded number of requests in flight (`concurrency`), at most
 * `perEndpoint` rows of one endpoint per claim, each request with its own timeout, and claims
 * more whenever a request finishes or every `pollMs`: a slow or dead receiver holds only its
 * own slots, never another endpoint's deliveries. Each row is claimed with a lease (repository
 * `claimDueDeliveries`) and its outcome recorded under that lease: 2xx -> delivered;
 * anything else (an error status, a redirect, a timeout, a refused connection, an address the
 * URL policy refuses) -> attempts + 1 and backoff, dead after `maxAttempts`. A deliverer that
 * dies mid-send leaves its rows to come due when their leases expire, so sending is
 * at-least-once; receivers dedupe on the delivery id. Each run first prunes the log: finished
 * rows older than `logRetentionDays`, at most `pruneLimit` of them.
 */
import { type Sql, withCaller } from "../db.ts";
import { serviceCaller } from "../identity.ts";
import type { Logger } from "../http/runtime.ts";
import * as repo from "../repository/alerts.ts";
import type { DeliverReport } from "./schemas.ts";
import { DELIVERY_HEADER, EVENT_HEADER, SIGNATURE_HEADER, signAlert } from "./signing.ts";
import { deliveryAddressProblem, type ResolveHost, resolveHost } from "./url-policy.ts";

export interface DeliverDeps {
  sql: Sql;
  log: Logger;
  /** Replaceable in tests and the bench; default globalThis.fetch. */
  fetch?: typeof fetch;
  resolve?: ResolveHost;
}

export interface DeliverOptions {
  /** ALERTS_ALLOW_PRIVATE_URLS: skip the resolved-address check. */
  allowPrivateUrls?: boolean;
  /** Stop claiming after this long; requests in flight still finish (each within `timeoutMs`). Default 25 s. */
  budgetMs?: number;
  /** Keep polling for new rows while nothing is due, until the budget ends (pg_cron's run); default: return when nothing is due. */
  keepPolling?: boolean;
  /** Requests in flight at once. Default 32. */
  concurrency?: number;
  /** At most this many rows of one endpoint per claim (and no claim for an endpoint with this many in flight). Default 8. */
  perEndpoint?: number;
  /** Rows per claim at most. Default 100. */
  batchSize?: number;
  /** One request's timeout. Default 5 s. */
  timeoutMs?: number;
  /** The claim's lease; longer than a request's timeout. Default 30 s. */
  leaseSeconds?: number;
  /** While requests are in flight, claim newly due rows this often. Default 200 ms. */
  pollMs?: number;
  maxAttempts?: number;
  backoffBaseSeconds?: number;
  backoffCapSeconds?: number;
  /** ALERTS_LOG_RETENTION_DAYS: delivered and dead rows older than this are deleted; absent or null keeps them. */
  logRetentionDays?: number | null;
  /** At most this many log rows pruned per run (one statement). Default 10,000: a run a minute keeps up with 14M alerts a day. */
  pruneLimit?: number;
}

export const deliverDefaults: Required<Omit<DeliverOptions, "allowPrivateUrls" | "keepPolling" | "logRetentionDays">> = {
  budgetMs: 25_000,
  concurrency: 32,
  perEndpoint: 8,
  batchSize: 100,
  timeoutMs: 5_000,
  leaseSeconds: 30,
  pollMs: 200,
  maxAttempts: 8,
  backoffBaseSeconds: 5,
  backoffCapSeconds: 3_600,
  pruneLimit: 10_000,
};

/** The JSON body of one delivery, as signed and sent (the same bytes on every attempt). */
export function deliveryBody(row: Pick<repo.ClaimedDelivery, "id" | "event" | "createdAt" | "payload">): string {
  return JSON.stringify({ id: row.id, event: row.event, createdAt: row.createdAt, execution: row.payload });
}

export async function deliverDueAlerts(deps: DeliverDeps, options: DeliverOptions = {}): Promise<DeliverReport> {
  const o = { ...deliverDefaults, ...definedOnly(options) };
  const started = performance.now();
  const deadline = started + o.budgetMs;
  const policy = { maxAttempts: o.maxAttempts, backoffBaseSeconds: o.backoffBaseSeconds, backoffCapSeconds: o.backoffCapSeconds };
  const report: DeliverReport = { claimed: 0, delivered: 0, retried: 0, dead: 0, pruned: 0, complete: false, durationMs: 0 };
  if (o.logRetentionDays) report.pruned = await pruneLog(deps, o.logRetentionDays, o.pruneLimit);
  const inFlight = new Set<Promise<void>>();
  const perEndpoint = new Map<string, number>();
  let finished: repo.DeliveryOutcome[] = [];
  let drained = false;

  const count = (statuses: string[]) => {
    for (const status of statuses) report[status === "delivered" ? "delivered" : status === "dead" ? "dead" : "retried"]++;
  };
  /** Records what finished and claims up to `limit` more, in one transaction (one round trip set per batch). */
  const flushAndClaim = async (limit: number): Promise<repo.ClaimedDelivery[] | null> => {
    const batch = finished;
    finished = [];
    const busy = [...perEndpoint].filter(([, n]) => n >= o.perEndpoint).map(([id]) => id);
    try {
      return await withCaller(deps.sql, serviceCaller, async (tx) => {
        count(await repo.recordDeliveryOutcomes(tx, batch, policy));
        return limit > 0 ? await repo.claimDueDeliveries(tx, { limit, perEndpoint: o.perEndpoint, leaseSeconds: o.leaseSeconds, excludeEndpoints: busy }) : [];
      });
    } catch (error) {
      // Not recorded: those rows come due again when their leases expire and are sent again.
      deps.log(`alerts: recording ${batch.length} delivery outcomes or claiming more failed`, error);
      return null;
    }
  };

  const start = (row: repo.ClaimedDelivery) => {
    perEndpoint.set(row.endpointId, (perEndpoint.get(row.endpointId) ?? 0) + 1);
    const task: Promise<void> = sendOne(deps, row, o).then((outcome) => {
      finished.push(outcome);
      const left = perEndpoint.get(row.endpointId)! - 1;
      if (left) perEndpoint.set(row.endpointId, left);
      else perEndpoint.delete(row.endpointId);
      inFlight.delete(task);
    });
    inFlight.add(task);
  };

  // Claims wait for a quarter of the slots to be free (or for the poll), so that each claim
  // and each flush is one statement for many rows rather than one per finished request.
  const claimAt = Math.max(1, Math.floor(o.concurrency / 4));
  let polled = true;
  while (performance.now() < deadline) {
    const free = o.concurrency - inFlight.size;
    let claimed = 0;
    if (free >= claimAt || (free > 0 && polled) || !inFlight.size) {
      const rows = await flushAndClaim(Math.min(free, o.batchSize));
      if (!rows && !inFlight.size) break; // the database failed: the next run picks it up
      rows?.forEach(start);
      claimed = rows?.length ?? 0;
      report.claimed += claimed;
    }
    if (!inFlight.size && !claimed) {
      if (!o.keepPolling) {
        drained = true;
        break;
      }
      await sleep(Math.min(1_000, Math.max(0, deadline - performance.now())));
      continue;
    }
    // A slot came free, or it is time to look for newly due rows.
    if (inFlight.size) polled = await Promise.race([Promise.race(inFlight).then(() => false), sleep(o.pollMs).then(() => true)]);
  }
  await Promise.all(inFlight);
  if (finished.length) await flushAndClaim(0);
  report.complete = drained;
  report.durationMs = Math.round(performance.now() - started);
  return report;
}

async function sendOne(deps: DeliverDeps, row: repo.ClaimedDelivery, o: { timeoutMs: number; allowPrivateUrls?: boolean }): Promise<repo.DeliveryOutcome> {
  const outcome = (ok: boolean, statusCode: number | null, error: string | null) => ({ id: row.id, claimedUntil: row.claimedUntil, ok, statusCode, error });
  const problem = await deliveryAddressProblem(row.url, o.allowPrivateUrls ?? false, deps.resolve ?? resolveHost);
  if (problem) return outcome(false, null, `refused: ${problem}`);
  const body = deliveryBody(row);
  try {
    const response = await (deps.fetch ?? fetch)(row.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "user-agent": "execution-tracker-alerts",
        [SIGNATURE_HEADER]: await signAlert(row.secret, body),
        [DELIVERY_HEADER]: row.id,
        [EVENT_HEADER]: row.event,
      },
      body,
      redirect: "manual", // a redirect could lead anywhere (SSRF): it is a failure, never followed
      signal: AbortSignal.timeout(o.timeoutMs),
    });
    await response.body?.cancel().catch(() => {});
    const ok = response.status >= 200 && response.status < 300;
    return outcome(ok, response.status, ok ? null : `HTTP ${response.status}`);
  } catch (error) {
    const name = (error as { name?: string }).name;
    if (name === "TimeoutError" || name === "AbortError") return outcome(false, null, `no answer within ${o.timeoutMs} ms`);
    const cause = (error as { cause?: { code?: string; message?: string } }).cause;
    return outcome(false, null, `request failed: ${cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error))}`);
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

function definedOnly<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The log's retention step; a failure is logged and never stops the sending. */
async function pruneLog(deps: DeliverDeps, olderThanDays: number, limit: number): Promise<number> {
  try {
    return await withCaller(deps.sql, serviceCaller, (tx) => repo.pruneFinishedDeliveries(tx, olderThanDays, limit));
  } catch (error) {
    deps.log("alerts: pruning the delivery log failed", error);
    return 0;
  }
}

/**
 * The pg_net stand-in's worker. local/platform-bootstrap.sql defines `net.http_post`, which
 * queues the request in net.http_request_queue and NOTIFYs channel `net_http_request` with its
 * id; the notification arrives when the transaction commits, as pg_net only sends committed
 * requests. For each id this worker reads the queued row, performs the HTTP request (method,
 * url, headers, JSON body, timeout), records status / content / error in net._http_response
 * (the delivery record, kept) and deletes the row from the queue once it is delivered.
 *
 * Queued rows are also picked up at start (notifications missed while nothing listened) and by
 * a periodic sweep of the queue (notifications that went to another client of the embedded
 * database; see local/embedded-postgres.ts). Delivery is at least once: a request whose POST
 * succeeded but whose bookkeeping failed (the process stopped) is sent again on the next start.
 * No database connection is held during an HTTP request, so a request may target a function of
 * this same server.
 *
 * Nothing is sent before `ready` resolves (the dev server resolves it once its functions
 * answer), so what was queued while the server was down is delivered to the started server,
 * not to its 503 of "starting".
 *
 * Where this stand-in differs from the real pg_net, on purpose: a request that fails to connect,
 * times out, or is answered 5xx, 408 or 429 stays queued and is sent again with exponential
 * backoff (`retryBaseMs`, doubling, at most `retryMaxMs`), up to `maxAttempts` sends; its
 * response row shows the last attempt meanwhile. The real pg_net sends each request once and
 * never retries: on Supabase a webhook lost that way is not sent again, and the timeout
 * sweeper is what still produces every effect a lost webhook would have caused (dispatch,
 * stop). Any other answer (2xx, 4xx) is final, as with pg_net.
 *
 * Runtime-neutral (fetch, timers, postgres.js). Not used where the real pg_net is installed.
 */
import type { Sql } from "../shared/db.ts";

export const PG_NET_CHANNEL = "net_http_request";

/** Subscribes to a channel: `onNotify` per notification, `onListen` whenever listening (re)starts. Resolves to an unsubscribe. */
export type ListenFn = (
  channel: string,
  onNotify: (payload: string) => void,
  onListen: () => void,
) => Promise<() => Promise<void>>;

export interface PgNetWorkerOptions {
  sql: Sql;
  /** Wake-ups by notification; without it the worker only polls. */
  listen?: ListenFn;
  /** Period of the queue sweep in ms; 0 disables it. Default 2000. */
  pollIntervalMs?: number;
  /** Requests in flight at once. Default 4. */
  concurrency?: number;
  fetch?: typeof fetch;
  log?: (message: string, error?: unknown) => void;
  /** Nothing is sent before this resolves (the server's handlers are ready). Default: at once. */
  ready?: Promise<unknown>;
  /** Sends of one request at most (connection errors, timeouts, 5xx/408/429 are retried). Default 12. */
  maxAttempts?: number;
  /** Backoff after the first failed send, doubling per attempt. Default 500 ms. */
  retryBaseMs?: number;
  /** Backoff cap. Default 30 s. */
  retryMaxMs?: number;
}

export interface PgNetWorker {
  /** Schedules every queued request; resolves to how many were newly scheduled. */
  drain(): Promise<number>;
  /** Resolves when nothing is scheduled, in flight or waiting for a retry (tests). */
  idle(): Promise<void>;
  /** What it did so far: sends, deliveries (final answers), retries scheduled, requests given up. */
  counts(): { sent: number; delivered: number; retried: number; givenUp: number };
  /** Stops listening and polling; waits for requests in flight (at most `timeoutMs`). Queued rows stay for the next start. */
  stop(timeoutMs?: number): Promise<void>;
}

interface QueuedRequest {
  id: string;
  method: string;
  url: string;
  headers: Record<string, unknown> | null;
  body: unknown;
  timeout_milliseconds: number;
}

/** True when this database has the stand-in (net.http_request_queue) and not the real pg_net extension. */
export async function hasPgNetStandIn(sql: Sql): Promise<boolean> {
  const [row] = await sql<{ standIn: boolean }[]>`
    select to_regclass('net.http_request_queue') is not null
       and not exists (select from pg_extension where extname = 'pg_net') as "standIn"`;
  return row.standIn;
}

export async function startPgNetWorker(options: PgNetWorkerOptions): Promise<PgNetWorker> {
  const { sql } = options;
  const doFetch = options.fetch ?? fetch;
  const log = options.log ?? ((message, error) => console.error(`[pg-net] ${message}`, error ?? ""));
  const concurrency = Math.max(1, options.concurrency ?? 4);
  const pollIntervalMs = options.pollIntervalMs ?? 2000;
  const maxAttempts = Math.max(1, options.maxAttempts ?? 12);
  const retryBaseMs = options.retryBaseMs ?? 500;
  const retryMaxMs = options.retryMaxMs ?? 30_000;
  let ready = options.ready === undefined;
  const whenReady = (options.ready ?? Promise.resolve()).then(() => void (ready = true));

  const scheduled = new Set<string>(); // waiting, in flight, or backing off before its next send
  const waiting: string[] = [];
  const attempts = new Map<string, number>(); // sends so far, in this process
  const retryTimers = new Map<string, ReturnType<typeof setTimeout>>();
  const counts = { sent: 0, delivered: 0, retried: 0, givenUp: 0 };
  let active = 0;
  let stopped = false;
  let idleWaiters: (() => void)[] = [];

  const settleIdle = () => {
    if (scheduled.size === 0) {
      const waiters = idleWaiters;
      idleWaiters = [];
      for (const resolve of waiters) resolve();
    }
  };

  const schedule = (id: string): boolean => {
    if (stopped || !/^\d+$/.test(id) || scheduled.has(id)) return false;
    scheduled.add(id);
    waiting.push(id);
    pump();
    return true;
  };

  const pump = () => {
    while (!stopped && ready && active < concurrency && waiting.length) {
      const id = waiting.shift()!;
      active++;
      handle(id)
        .catch((error) => {
          log(`request ${id} failed`, error);
          return "done" as const;
        })
        .then((result) => {
          active--;
          if (result === "retry" && !stopped) {
            const delay = Math.min(retryMaxMs, retryBaseMs * 2 ** ((attempts.get(id) ?? 1) - 1));
            counts.retried++;
            retryTimers.set(id, setTimeout(() => {
              retryTimers.delete(id);
              waiting.push(id);
              pump();
            }, delay));
          } else {
            attempts.delete(id);
            scheduled.delete(id);
            settleIdle();
          }
          pump();
        });
    }
  };
  void whenReady.then(pump);

  /** One send of a queued request: "retry" when it stays queued for another one. */
  async function handle(id: string): Promise<"done" | "retry"> {
    const [request] = await sql<QueuedRequest[]>`
      select id::text as id, method, url, headers, body, timeout_milliseconds
        from net.http_request_queue where id = ${id}`;
    if (!request) return "done"; // already handled
    const attempt = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, attempt);
    counts.sent++;
    const response = await send(request);
    const retryable = response.status === null || response.status >= 500 || response.status === 408 || response.status === 429;
    // Kept queued for another send; when the worker is stopping, for the next start.
    const retry = retryable && attempt < maxAttempts;
    const error = retry
      ? `${response.error ?? `HTTP ${response.status}`} (attempt ${attempt} of ${maxAttempts}; the pg_net stand-in sends it again)`
      : response.error;
    // The response row is the delivery record: the last attempt while retrying, the final answer
    // after, written in the statement that takes the request off the queue (one statement, no
    // transaction block: postgres.js's sql.begin can crash the process when the server restarts).
    await sql`
      with done as (delete from net.http_request_queue where id = ${request.id} and ${!retry} returning id)
      insert into net._http_response (id, status_code, content, error_msg)
      values (${request.id}, ${response.status}, ${response.content}, ${error})
      on conflict (id) do update
        set status_code = excluded.status_code, content = excluded.content,
            error_msg = excluded.error_msg, created = now()`;
    if (retry) return stopped ? "done" : "retry";
    if (retryable) {
      counts.givenUp++;
      log(`${request.method} ${request.url} (request ${request.id}): given up after ${attempt} attempts: ${error}`);
    } else {
      counts.delivered++;
      if (response.error) log(`${request.method} ${request.url} (request ${request.id}): ${response.error}`);
    }
    return "done";
  }

  async function send(request: QueuedRequest): Promise<{ status: number | null; content: string | null; error: string | null }> {
    const headers = new Headers();
    for (const [name, value] of Object.entries(request.headers ?? {})) {
      if (value !== null && value !== undefined) headers.set(name, typeof value === "string" ? value : JSON.stringify(value));
    }
    const method = (request.method || "POST").toUpperCase();
    const hasBody = request.body !== null && request.body !== undefined && method !== "GET" && method !== "HEAD";
    const timeoutMs = request.timeout_milliseconds > 0 ? request.timeout_milliseconds : 5000;
    try {
      const response = await doFetch(request.url, {
        method,
        headers,
        body: hasBody ? JSON.stringify(request.body) : undefined,
        signal: AbortSignal.timeout(timeoutMs),
      });
      return { status: response.status, content: await response.text(), error: null };
    } catch (error) {
      const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
      // pg_net's wording for a timeout.
      return { status: null, content: null, error: timedOut ? `Timeout of ${timeoutMs} ms reached` : errorText(error) };
    }
  }

  async function drain(): Promise<number> {
    if (stopped) return 0;
    const rows = await sql<{ id: string }[]>`select id::text as id from net.http_request_queue order by id limit 1000`;
    return rows.filter((row) => schedule(row.id)).length;
  }

  let draining: Promise<unknown> | null = null;
  const drainQuietly = () => {
    draining ??= drain()
      .catch((error) => {
        if (!stopped) log("reading net.http_request_queue failed", error);
      })
      .finally(() => (draining = null));
    return draining;
  };

  const unlisten = options.listen
    ? await options.listen(PG_NET_CHANNEL, (payload) => schedule(payload.trim()), () => void drainQuietly())
    : null;
  await drainQuietly();
  const timer = pollIntervalMs > 0 ? setInterval(drainQuietly, pollIntervalMs) : null;

  return {
    drain,
    counts: () => ({ ...counts }),
    idle: () => (scheduled.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve))),
    async stop(timeoutMs = 5000) {
      if (stopped) return;
      stopped = true;
      if (timer) clearInterval(timer);
      // Requests not started (or waiting for a retry) stay queued in the database for the next start.
      for (const [id, retryTimer] of retryTimers) {
        clearTimeout(retryTimer);
        scheduled.delete(id);
      }
      retryTimers.clear();
      for (const id of waiting.splice(0)) scheduled.delete(id);
      settleIdle();
      await unlisten?.().catch(() => {});
      const inFlight = scheduled.size === 0 ? Promise.resolve() : new Promise<void>((resolve) => idleWaiters.push(resolve));
      let timeout: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([inFlight, new Promise((resolve) => (timeout = setTimeout(resolve, timeoutMs)))]);
      clearTimeout(timeout);
      await draining;
    },
  };
}

function errorText(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const cause = (error as { cause?: unknown }).cause;
  return cause instanceof Error && cause.message && !error.message.includes(cause.message) ? `${error.message}: ${cause.message}` : error.message;
}

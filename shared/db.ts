/**
 * Database access: the process's connections, and `withCaller`, which runs a unit of work as
 * one transaction in the caller's Postgres role with the caller's JWT claims, exactly as
 * PostgREST does. Row Level Security therefore decides what each caller may touch.
 *
 * Why transactions do not use postgres.js's own pool (`sql.reserve()` / `sql.begin`):
 * postgres.js 3.4.9 crashes the process when a reserved connection's backend dies (a
 * PostgreSQL restart, a pooler recycling a connection). Its `closed()` sets the socket to
 * null; the next statement, ROLLBACK or `release()` on that connection then writes to the
 * null socket from inside a `setImmediate`, an uncaught TypeError no `try` can catch
 * (porsager/postgres#1208, #1154; unmerged fixes #1209, #1168). Its pool also strands a
 * `reserve()` whose connection attempt failed (#1195) and backs off reconnects up to 20 s.
 * So transactions run on connections of our own `ConnectionPool`: each one is a postgres.js
 * instance of exactly one connection, reserved once for its whole life, whose `onclose` tells
 * us the moment the connection is gone. From then on nothing is written to it (every statement
 * is checked first), nothing waits on it (the transaction races the loss), it is never released
 * into a pool, and it is thrown away; the next transaction opens a fresh connection. No
 * reconnect logic of postgres.js is ever used for transactions. All of this is here in
 * `shared/`, so it ships with the functions to Supabase.
 *
 * While PostgreSQL is unreachable, requests fail fast with `DatabaseUnavailableError`
 * (503 `unavailable` + Retry-After): a failed connection attempt opens a short, capped
 * backoff (100 ms doubling to 1 s) during which no new connection is tried and requests
 * that have no live connection to wait for are answered at once; waiting for a busy
 * connection is bounded too (`acquireTimeoutMs`).
 */
import postgres from "postgres";
import { translateDatabaseError } from "./database-errors.ts";
import { ExecutionError } from "./errors.ts";
import type { Caller } from "./types.ts";

export type Sql = postgres.Sql;
/** What the repository runs its queries on: a connection inside a caller's transaction. */
export type Tx = postgres.Sql;

export interface DatabaseOptions {
  url: string;
  /** Max connections for transactions (and, separately, for plain queries on the returned Sql). */
  poolSize?: number;
  /** Longest wait for a connection when all `poolSize` are busy. Default 10 000 ms. */
  acquireTimeoutMs?: number;
  /** Longest wait for a new connection to be ready (TCP, TLS, auth). Default 5 s. */
  connectTimeoutSeconds?: number;
}

/** The database cannot be reached (or is overloaded): 503 `unavailable`, with `Retry-After`. */
export class DatabaseUnavailableError extends ExecutionError {
  constructor(message: string, readonly retryAfterSeconds = 1) {
    super("unavailable", message);
  }
}

const idleTimeoutMs = 20_000;
const backoffBaseMs = 100;
const backoffCapMs = 1_000;

/**
 * Opens the database of this process: a postgres.js pool for plain queries (returned; it is
 * an ordinary `Sql`), and a `ConnectionPool` for transactions, used by `withCaller` and by
 * the returned Sql's `begin`. `prepare: false` because Supabase's transaction pooler
 * (Supavisor) cannot keep prepared statements across transactions. `end()` closes both.
 */
export function createDatabase({ url, poolSize = 5, acquireTimeoutMs = 10_000, connectTimeoutSeconds = 5 }: DatabaseOptions): Sql {
  const common = {
    prepare: false,
    connect_timeout: connectTimeoutSeconds,
    onnotice: () => {},
    connection: { application_name: "execution-tracker" },
  } as const;
  const sql = postgres(url, {
    ...common,
    max: poolSize,
    idle_timeout: idleTimeoutMs / 1000,
    // postgres.js's default grows to 20 s between reconnects; plain queries (health checks,
    // LISTEN) come back within a second of the database.
    backoff: (attempt: number) => Math.min(backoffBaseMs * 2 ** attempt, backoffCapMs) / 1000,
  });
  const pool = new ConnectionPool({ url, options: common, max: poolSize, acquireTimeoutMs });
  pools.set(sql, pool);
  const endPlain = sql.end.bind(sql);
  Object.assign(sql, {
    end: async (options?: { timeout?: number }) => {
      await Promise.all([endPlain(options), pool.end(options?.timeout)]);
    },
    // postgres.js's `begin` has the crash of `reserve` (see above): transactions of this Sql
    // run on the pool's connections too. Raw driver errors, as from postgres.js; no
    // savepoints.
    begin: (first: string | ((tx: Tx) => unknown), second?: (tx: Tx) => unknown) => {
      const fn = (typeof first === "function" ? first : second)!;
      const mode = typeof first === "string" ? first.replace(/[^a-z ]/gi, "") : "";
      return pool.transaction(`begin ${mode}`, (tx) => Promise.resolve(fn(tx)).then((x) => Array.isArray(x) ? Promise.all(x) : x));
    },
  });
  return sql;
}

/**
 * Runs `work` in one transaction as `caller`; SQL errors with known SQLSTATEs become typed
 * errors, a lost connection becomes `DatabaseUnavailableError`. A transaction lost to a
 * deadlock is run again (up to three times), and so is one whose connection died before
 * COMMIT was sent (once, on a new connection: nothing of it was committed). BEGIN and the
 * role/claims settings go in one simple-protocol message written together with the first
 * statement of `work` (whose parameter types are known after its first run: see
 * `reuseKnownParameterTypes`), so a single-statement request costs two round trips: that
 * batch, then COMMIT (which can only be sent once `work` has finished).
 */
export async function withCaller<T>(sql: Sql, caller: Caller, work: (tx: Tx) => Promise<T>): Promise<T> {
  const pool = pools.get(sql);
  const opening = beginAsCaller(caller);
  return await retried(() => pool ? pool.transaction(opening, work) : reservedTransaction(sql, opening, work));
}

/**
 * `withCaller` for a `work` that runs exactly ONE statement (a read, or a write that needs no
 * second look): BEGIN + role/claims, the statement and COMMIT go out together, one round trip
 * (once the statement's parameter types are known). A second statement of `work` is refused
 * (never run outside the transaction). Since COMMIT is sent with the statement, a connection
 * lost after it was written counts as lost during COMMIT (503, "may or may not have been
 * saved"; not retried). A failed statement makes PostgreSQL answer that COMMIT with a ROLLBACK.
 * On a Sql not opened by createDatabase it is plain `withCaller`.
 */
export async function withCallerStatement<T>(sql: Sql, caller: Caller, work: (tx: Tx) => Promise<T>): Promise<T> {
  const pool = pools.get(sql);
  const opening = beginAsCaller(caller);
  return await retried(() => pool ? pool.transaction(opening, work, { commitWithStatement: true }) : reservedTransaction(sql, opening, work));
}

/** Deadlocks and serialization failures run again (three times in all), a connection lost before COMMIT once. */
async function retried<T>(transaction: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await transaction();
    } catch (error) {
      const code = (error as { code?: string }).code;
      // A deadlock (two transactions folding into the same stats rollup rows in opposite
      // orders) or a serialization failure rolled everything back: running it again is safe.
      const retryable = code === "40P01" || code === "40001" ||
        (attempt === 1 && error instanceof ConnectionLostError && !error.duringCommit);
      if (!retryable || attempt >= 3) throw toApiError(error);
    }
  }
}

/**
 * The one place where a failure to reach the database becomes `DatabaseUnavailableError`:
 * socket errors, postgres.js's connection errors, and the SQLSTATEs of a server that is
 * shutting down, starting up or out of connections. Everything else goes to
 * `translateDatabaseError` (shared/database-errors.ts).
 */
export function toApiError(error: unknown): unknown {
  if (error instanceof DatabaseUnavailableError) return error;
  if (error instanceof ConnectionLostError) {
    return new DatabaseUnavailableError(
      error.duringCommit
        ? "the database connection was lost while committing: the change may or may not have been saved"
        : "the database connection was lost; nothing was saved",
    );
  }
  if (isConnectionFailure(error)) return new DatabaseUnavailableError("the database is unavailable");
  return translateDatabaseError(error);
}

const connectionErrorCodes = new Set([
  // postgres.js
  "CONNECTION_CLOSED", "CONNECTION_DESTROYED", "CONNECTION_ENDED", "CONNECT_TIMEOUT",
  // sockets (Node and Deno's node:net)
  "ECONNREFUSED", "ECONNRESET", "ECONNABORTED", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "EHOSTDOWN",
  "ENETUNREACH", "ENETDOWN", "ENOTFOUND", "EAI_AGAIN", "EADDRNOTAVAIL",
  // SQLSTATE: admin_shutdown, crash_shutdown, cannot_connect_now (starting up), too_many_connections
  "57P01", "57P02", "57P03", "53300",
]);

function isConnectionFailure(error: unknown): boolean {
  if (!error || typeof error !== "object") return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code !== "string") return false;
  return connectionErrorCodes.has(code) || code.startsWith("08"); // 08: connection_exception
}

/** The connection of a transaction went away; `duringCommit`: COMMIT had been sent. */
class ConnectionLostError extends Error {
  readonly code = "CONNECTION_CLOSED";
  constructor(readonly duringCommit: boolean, cause?: unknown) {
    super("CONNECTION_CLOSED: the database connection was lost", { cause });
  }
}

/**
 * `begin; select set_config(...)` as ONE simple-protocol message (no parameters, so no
 * Parse/Describe round trip before it can run). set_config(..., true) is `set local`: it ends
 * with the transaction, so nothing leaks to the next user of the connection. The values are
 * inlined as E'' literals (backslash and quote escaped: every character is literal whatever
 * standard_conforming_strings says).
 */
function beginAsCaller(caller: Caller): string {
  return `begin; select set_config('role', ${literal(caller.role)}, true), ` +
    `set_config('request.jwt.claims', ${literal(JSON.stringify(caller.claims))}, true)`;
}

/** A PostgreSQL string literal of `value` that no content can end early. */
export function literal(value: string): string {
  return `E'${value.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`;
}

// ---------------------------------------------------------------------------------------------
// The transaction pool
// ---------------------------------------------------------------------------------------------

const pools = new WeakMap<object, ConnectionPool>();

interface Slot {
  /** A postgres.js instance of one connection. */
  sql: Sql;
  /** That connection, reserved for the slot's whole life... */
  reserved: postgres.ReservedSql | null;
  /** ...and guarded (see `guarded`): what transactions run on. */
  tx: Tx;
  /** What `guarded` lets through: see StatementGate. */
  gate: StatementGate;
  /** Set by postgres.js's onclose: the connection is gone and must never be written to again. */
  lost: Error | null;
  /** The running transaction's way to hear of the loss. */
  onLost: ((error: Error) => void) | null;
  inUse: boolean;
  /** Connected and reserved (connect() done). */
  ready: boolean;
  idleTimer: ReturnType<typeof setTimeout> | null;
  /** When to stop reusing it (like postgres.js's max_lifetime: 30 to 60 minutes). */
  retireAt: number;
}

interface Waiter {
  resolve(slot: Slot): void;
  reject(error: unknown): void;
  timer: ReturnType<typeof setTimeout>;
}

type PostgresOptions = postgres.Options<Record<string, postgres.PostgresType>>;

class ConnectionPool {
  private readonly idle: Slot[] = [];
  private readonly waiters: Waiter[] = [];
  /** Slots alive or connecting. */
  private size = 0;
  private closed = false;
  private failures = 0;
  private retryAt = 0;

  constructor(private readonly config: { url: string; options: PostgresOptions; max: number; acquireTimeoutMs: number }) {}

  /**
   * Runs `opening` (BEGIN...), then `work`, then COMMIT on one connection; ROLLBACK on failure.
   * `commitWithStatement`: COMMIT is queued right behind work's first statement (one write),
   * and any further statement of work is refused.
   */
  async transaction<T>(opening: string, work: (tx: Tx) => Promise<T>, options: { commitWithStatement?: boolean } = {}): Promise<T> {
    const slot = await this.acquire();
    let committing = false;
    let committed: Promise<unknown> | null = null;
    const lost = new Promise<never>((_, reject) => {
      slot.onLost = (error) => reject(new ConnectionLostError(committing, error));
    });
    const run = async () => {
      // Awaited below; its failure (a role that does not exist...) also fails work's first
      // statement, which is then reported as this failure.
      let openError: unknown = null;
      const opening_ = slot.tx.unsafe(opening);
      if (options.commitWithStatement) {
        slot.gate.opening = opening_;
        slot.gate.afterFirst = () => {
          committing = true;
          const commit = slot.tx`commit`;
          slot.gate.exempt = commit;
          committed = commit.execute();
          committed.catch(() => {});
        };
      }
      const opened = opening_.execute();
      opened.catch((error) => (openError = error));
      try {
        const result = await work(slot.tx);
        slot.gate.afterFirst = null; // (work ran no statement at all: an ordinary COMMIT)
        await opened;
        committing = true;
        await (committed ?? slot.tx`commit`);
        return result;
      } catch (error) {
        slot.gate.afterFirst = null;
        // A COMMIT sent with a failed statement came back as a ROLLBACK: nothing to undo.
        if (committed) await (committed as Promise<unknown>).catch(() => {});
        else if (!slot.lost && !isConnectionFailure(error)) await slot.tx`rollback`.catch(() => {});
        throw openError ?? error;
      }
    };
    const body = run();
    body.catch(() => {}); // when the loss wins the race, work may still reject later
    lost.catch(() => {});
    try {
      return await Promise.race([body, lost]);
    } catch (error) {
      if (error instanceof ConnectionLostError) {
        slot.lost ??= lostError();
        throw error;
      }
      // A socket error can arrive before postgres.js reports the close: the connection is
      // done for either way.
      if (isConnectionFailure(error) || (slot.lost && !(error instanceof ExecutionError))) {
        slot.lost ??= lostError();
        throw new ConnectionLostError(committing, error);
      }
      throw error;
    } finally {
      slot.onLost = null;
      slot.gate.opening = slot.gate.afterFirst = slot.gate.sealed = slot.gate.exempt = null;
      this.release(slot);
    }
  }

  async end(timeoutSeconds: number | undefined): Promise<void> {
    this.closed = true;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new DatabaseUnavailableError("the database pool is closing"));
    }
    await Promise.all(this.idle.splice(0).map((slot) => this.discard(slot, timeoutSeconds)));
  }

  private async acquire(): Promise<Slot> {
    if (this.closed) throw new DatabaseUnavailableError("the database pool is closing");
    for (let slot = this.idle.pop(); slot; slot = this.idle.pop()) {
      if (slot.idleTimer) clearTimeout(slot.idleTimer);
      slot.idleTimer = null;
      if (!slot.lost) {
        slot.inUse = true;
        return slot;
      }
    }
    if (this.size < this.config.max) {
      this.throwIfBackingOff();
      return await this.connect();
    }
    return await new Promise<Slot>((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.waiters.splice(this.waiters.indexOf(waiter), 1);
          reject(new DatabaseUnavailableError(`no database connection became free within ${this.config.acquireTimeoutMs} ms`));
        }, this.config.acquireTimeoutMs),
      };
      this.waiters.push(waiter);
    });
  }

  private throwIfBackingOff(): void {
    const wait = this.retryAt - Date.now();
    if (wait > 0) throw new DatabaseUnavailableError("the database is unavailable", Math.max(1, Math.ceil(wait / 1000)));
  }

  /** A new slot, in use by the caller. */
  private async connect(): Promise<Slot> {
    this.size++;
    const slot: Slot = {
      sql: undefined as unknown as Sql,
      reserved: null,
      tx: undefined as unknown as Tx,
      gate: { opening: null, afterFirst: null, sealed: null, exempt: null },
      lost: null,
      onLost: null,
      inUse: true,
      ready: false,
      idleTimer: null,
      retireAt: Date.now() + 60_000 * (30 + Math.random() * 30),
    };
    slot.sql = postgres(this.config.url, {
      ...this.config.options,
      max: 1,
      idle_timeout: 0,
      max_lifetime: null,
      onclose: () => this.onClosed(slot),
    });
    try {
      // Connect with a plain query first: a `reserve()` whose connection attempt fails stays
      // queued inside postgres.js and keeps it reconnecting (#1195). Once open, reserve() takes
      // the connection at once.
      await slot.sql`select 1`;
      if (slot.lost) throw slot.lost;
      slot.reserved = await slot.sql.reserve();
      if (slot.lost) throw slot.lost;
      slot.tx = guarded(slot.reserved, () => slot.lost, slot.gate);
      slot.ready = true;
    } catch (error) {
      slot.lost ??= lostError();
      this.size--;
      slot.sql.end({ timeout: 0 }).catch(() => {});
      this.failures++;
      this.retryAt = Date.now() + Math.min(backoffBaseMs * 2 ** (this.failures - 1), backoffCapMs);
      if (this.size === 0) this.failWaiters(toApiError(error));
      throw error;
    }
    this.failures = 0;
    this.retryAt = 0;
    return slot;
  }

  private onClosed(slot: Slot): void {
    if (slot.lost) return;
    slot.lost = lostError();
    if (slot.onLost) slot.onLost(slot.lost);
    else if (!slot.inUse && slot.ready) {
      const index = this.idle.indexOf(slot);
      if (index >= 0) this.idle.splice(index, 1);
      void this.discard(slot, 0);
    }
  }

  private release(slot: Slot): void {
    slot.inUse = false;
    if (slot.lost || this.closed || Date.now() > slot.retireAt) {
      void this.discard(slot, slot.lost ? 0 : 5);
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter) {
      clearTimeout(waiter.timer);
      slot.inUse = true;
      waiter.resolve(slot);
      return;
    }
    slot.idleTimer = setTimeout(() => {
      const index = this.idle.indexOf(slot);
      if (index < 0) return;
      this.idle.splice(index, 1);
      void this.discard(slot, 5);
    }, idleTimeoutMs);
    this.idle.push(slot);
  }

  /** Ends a slot (never released into any pool) and lets a waiter open a new connection. */
  private async discard(slot: Slot, timeoutSeconds: number | undefined): Promise<void> {
    if (slot.idleTimer) clearTimeout(slot.idleTimer);
    slot.idleTimer = null;
    const alive = !slot.lost;
    slot.lost ??= lostError();
    this.size--;
    this.serveWaiters();
    // postgres.js ends a reserved connection only once it is released; a live one is released
    // (its socket is fine) and closed politely; a lost one is only torn down (no write at all).
    if (alive && slot.reserved) {
      slot.reserved.release();
      await slot.sql.end({ timeout: timeoutSeconds ?? 5 }).catch(() => {});
    } else {
      await slot.sql.end({ timeout: 0 }).catch(() => {});
    }
  }

  /** Capacity freed: open connections for waiters, or answer them at once while backing off with nothing alive. */
  private serveWaiters(): void {
    while (this.waiters.length && this.size < this.config.max && !this.closed) {
      if (this.retryAt > Date.now()) {
        if (this.size === 0) this.failWaiters(new DatabaseUnavailableError("the database is unavailable"));
        return;
      }
      const waiter = this.waiters.shift()!;
      clearTimeout(waiter.timer);
      this.connect().then(waiter.resolve, waiter.reject);
    }
  }

  private failWaiters(error: unknown): void {
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(error);
    }
  }
}

function lostError(): Error {
  return Object.assign(new Error("CONNECTION_CLOSED: the database connection was lost"), { code: "CONNECTION_CLOSED" });
}

/**
 * The statements a transaction still accepts (`withCallerStatement`): after the first
 * statement of work (any statement but `opening`) `afterFirst` queues COMMIT (`exempt`) and
 * the transaction is `sealed`: whatever else it is asked to run is refused with that error.
 */
interface StatementGate {
  opening: unknown;
  afterFirst: (() => void) | null;
  sealed: Error | null;
  exempt: unknown;
}

/**
 * The reserved connection `reserved`, with every statement checked at the moment postgres.js
 * would hand it to the connection: once `lost()` says the connection is gone, the statement is
 * rejected instead of written (the crash above); so is one the `gate` refuses. Fragments
 * (`tx\`\``), json, array... as is.
 */
function guarded(reserved: postgres.ReservedSql, lost: () => Error | null, gate: StatementGate): Tx {
  type Pending = { handler?: (query: unknown) => void; reject?: (error: unknown) => void };
  const check = <Q>(query: Q): Q => {
    const pending = query as unknown as Pending;
    if (typeof pending?.handler === "function") {
      const handler = pending.handler;
      pending.handler = (q) => {
        const error = lost() ?? (gate.sealed && q !== gate.exempt ? gate.sealed : null);
        if (error) return pending.reject!(error);
        reuseKnownParameterTypes(q as DriverQuery);
        handler(q);
        if (gate.afterFirst && q !== gate.opening) {
          const afterFirst = gate.afterFirst;
          gate.afterFirst = null;
          gate.sealed = new Error("withCallerStatement: the transaction was committed with its first statement; a second statement is refused");
          afterFirst();
        }
      };
    }
    return query;
  };
  const tx = ((strings: TemplateStringsArray, ...args: unknown[]) =>
    check((reserved as unknown as (...a: unknown[]) => unknown)(strings, ...args))) as unknown as Tx;
  Object.assign(tx, reserved, {
    unsafe: (...args: Parameters<Sql["unsafe"]>) => check(reserved.unsafe(...args)),
    file: (...args: Parameters<Sql["file"]>) => check(reserved.file(...args)),
  });
  return tx;
}

// ---------------------------------------------------------------------------------------------
// Parameter types, learned once per statement text
// ---------------------------------------------------------------------------------------------

/**
 * With `prepare: false` postgres.js sends a statement that has parameters in two round trips:
 * Parse + Describe, a wait for the parameter types (it serializes each value by its type), then
 * Bind + Execute; and it pipelines nothing behind such a statement. The types depend only on
 * the statement's text and on the types postgres.js inferred from the values (its own cache key
 * with `prepare: true`), so they are learned from the first Describe and reused: every later
 * run is one unnamed Parse (with those types) + Bind + Describe + Execute + Sync, written
 * together with whatever is queued before it (the transaction's opening), one round trip.
 * Nothing is prepared on the server, so this is as safe behind a transaction pooler as before.
 * A migration that changes a parameter's type while a process runs is the one case where the
 * learned type is stale; the server then coerces or rejects, as it would a prepared statement.
 */
interface DriverQuery {
  describeFirst?: boolean;
  onlyDescribe?: boolean;
  statement?: { string: string; types: number[] };
}

const knownParameterTypes = new Map<string, number[]>();
const knownParameterTypesLimit = 2_000;

/** Intercepts postgres.js's `build` of `query` (its describeFirst, then statement, assignments). */
function reuseKnownParameterTypes(query: DriverQuery): void {
  if (query.onlyDescribe) return;
  let describeFirst = false;
  let statement: DriverQuery["statement"];
  let key = "";
  Object.defineProperty(query, "describeFirst", {
    configurable: true,
    get: () => describeFirst,
    set: (value: boolean) => {
      // The Describe's answer arrived (postgres.js clears the flag then): remember its types.
      if (describeFirst && !value && statement && key) rememberTypes(key, statement.types);
      describeFirst = value;
    },
  });
  Object.defineProperty(query, "statement", {
    configurable: true,
    get: () => statement,
    set: (value: DriverQuery["statement"]) => {
      statement = value;
      if (!describeFirst || !value) return;
      key = value.types.join(",") + ":" + value.string;
      const known = knownParameterTypes.get(key);
      if (known && known.length === value.types.length) {
        for (let i = 0; i < known.length; i++) value.types[i] = known[i];
        describeFirst = false;
      }
    },
  });
}

function rememberTypes(key: string, types: number[]): void {
  if (types.some((type) => !type)) return;
  if (knownParameterTypes.size >= knownParameterTypesLimit) knownParameterTypes.delete(knownParameterTypes.keys().next().value!);
  knownParameterTypes.set(key, types.slice());
}

// ---------------------------------------------------------------------------------------------
// Any other postgres.js Sql (tests' pools, the embedded dev database's single connection)
// ---------------------------------------------------------------------------------------------

/**
 * The same transaction on a connection reserved from a postgres.js pool we did not open.
 * postgres.js's own reconnects apply; after a connection error the connection is neither
 * rolled back nor released (postgres.js already took it back as closed: a release would put
 * a dead connection into its open queue).
 */
async function reservedTransaction<T>(sql: Sql, opening: string, work: (tx: Tx) => Promise<T>): Promise<T> {
  const connection = await sql.reserve();
  let dead = false;
  try {
    const opened = connection.unsafe(opening).execute();
    opened.catch(() => {});
    // A statement queued behind a failed BEGIN on a dead connection would never settle.
    const openFailed = opened.then(() => new Promise<never>(() => {}), (error) => Promise.reject(error));
    openFailed.catch(() => {});
    try {
      const result = await Promise.race([work(connection), openFailed]);
      await opened;
      await connection`commit`;
      return result;
    } catch (error) {
      dead = isConnectionFailure(error);
      if (!dead) await connection`rollback`.catch(() => {});
      throw error;
    }
  } finally {
    if (!dead) connection.release();
  }
}

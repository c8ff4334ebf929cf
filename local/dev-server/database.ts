/**
 * The dev server's database openers: an external PostgreSQL (DATABASE_URL) or the embedded
 * PGlite in DATA_DIR (local/embedded-postgres.ts), both as one pool every part of the server
 * shares, with LISTEN that works for both.
 */
import postgres from "postgres";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { createDatabase, type Sql } from "../../shared/db.ts";
import { type EmbeddedPostgres, startEmbeddedPostgres } from "../embedded-postgres.ts";
import type { ListenFn, Print } from "./types.ts";

export interface DevDatabase {
  kind: "embedded" | "external";
  url: string;
  dataDir: string | null;
  /** True when this start created the embedded database. */
  created: boolean;
  /** The pool every part of the server shares. */
  sql: Sql;
  listen: ListenFn;
  close(): Promise<void>;
}

export function openExternalDatabase(url: string, poolSize: number): DevDatabase {
  const sql = createDatabase({ url, poolSize });
  return {
    kind: "external",
    url,
    dataDir: null,
    created: false,
    sql,
    listen: async (channel, onNotify, onListen) => {
      // A dedicated connection; postgres.js listens again after a reconnect (and calls onListen).
      const { unlisten } = await sql.listen(channel, onNotify, onListen);
      return unlisten;
    },
    close: () => sql.end({ timeout: 5 }),
  };
}

/**
 * Opens (or on the first start creates: PGlite's initdb in WASM, about 15 s on a laptop) the
 * embedded database, printing what it does and, while it creates, how long it has taken.
 */
export async function openEmbeddedDatabase(
  dataDir: string,
  print: Print,
  options: { progressEveryMs?: number; progressOnStdout?: boolean } = {},
): Promise<DevDatabase> {
  const creating = !existsSync(join(dataDir, "PG_VERSION"));
  const started = performance.now();
  print(creating
    ? `[dev-server] creating the embedded database in ${dataDir} (first start only: about 15 s) ...`
    : `[dev-server] opening the embedded database in ${dataDir} ...`);
  const stopTicker = startTicker(`[dev-server]   ... still ${creating ? "creating" : "opening"} the embedded database`, print, options);
  let embedded: EmbeddedPostgres;
  try {
    embedded = await startEmbeddedPostgres({ dataDir });
  } finally {
    stopTicker();
  }
  print(`[dev-server] embedded database ${creating ? "created" : "open"} in ${((performance.now() - started) / 1000).toFixed(1)} s`);

  const listeners = new Map<string, Set<(payload: string) => void>>();
  const dispatch = (channel: string, payload: string) => {
    for (const listener of listeners.get(channel) ?? []) listener(payload);
  };
  // One connection for everything (see local/embedded-postgres.ts), never recycled. The
  // notifications our own commits raise arrive on it: `onnotify` (missing from postgres.js's
  // types) hands them to the listeners.
  const poolOptions = {
    max: 1,
    prepare: false,
    idle_timeout: 0,
    max_lifetime: null,
    connect_timeout: 10,
    onnotice: () => {},
    onnotify: dispatch,
    connection: { application_name: "execution-tracker-dev" },
  };
  const sql = postgres(embedded.url, poolOptions as postgres.Options<Record<string, postgres.PostgresType>>);
  return {
    kind: "embedded",
    url: embedded.url,
    dataDir: embedded.dataDir,
    created: embedded.created,
    sql,
    listen: async (channel, onNotify, onListen) => {
      let set = listeners.get(channel);
      if (!set) listeners.set(channel, (set = new Set()));
      set.add(onNotify);
      // LISTEN in the single session; the callback gets notifications of in-process queries.
      const unlisten = await embedded.listen(channel, (payload) => dispatch(channel, payload));
      onListen();
      return async () => {
        set.delete(onNotify);
        await unlisten();
      };
    },
    close: async () => {
      await sql.end({ timeout: 5 }).catch(() => {});
      await embedded.stop();
    },
  };
}

/**
 * Prints `line (N s)` every `progressEveryMs` (default 3 s). On stdout (the CLI) from a worker
 * thread, because PGlite's WASM keeps this thread's event loop busy; through `print` otherwise
 * (then only when the loop gets a turn).
 */
function startTicker(line: string, print: Print, options: { progressEveryMs?: number; progressOnStdout?: boolean }): () => void {
  const everyMs = options.progressEveryMs ?? 3000;
  const startedAt = Date.now();
  if (options.progressOnStdout) {
    try {
      const worker = new Worker(new URL("./progress-worker.ts", import.meta.url), { type: "module" });
      worker.postMessage({ line, everyMs, startedAt });
      return () => worker.terminate();
    } catch { /* no workers: the timer below */ }
  }
  const timer = setInterval(() => print(`${line} (${Math.round((Date.now() - startedAt) / 1000)} s)`), everyMs);
  return () => clearInterval(timer);
}

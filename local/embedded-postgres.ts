/**
 * The embedded dev database: PGlite (PostgreSQL compiled to WASM, in this process) kept in a
 * data folder, served on 127.0.0.1 by @electric-sql/pglite-socket so postgres.js (and psql)
 * connect to it as to any Postgres. Deno only (`npm start`).
 *
 * What to know about it (pglite-socket 0.2.17, PGlite 0.5.14 = PostgreSQL 18):
 *  - There is ONE backend session. Every socket connection speaks to it through one query
 *    queue; while the session is inside an explicit transaction only the connection that began
 *    it is served. Session state is therefore shared by all connections: use only `set local`
 *    / set_config(..., true), which the functions do.
 *  - Messages are queued one by one, so two connections' extended-protocol exchanges
 *    (Parse/Bind/Execute outside a transaction) can interleave. Hence the dev server talks to
 *    it through ONE postgres.js connection (pool of 1) shared by the functions, the pg_net
 *    worker and the auth.users provisioning. An occasional psql next to it is fine.
 *  - NOTIFY: the single session is the listener, and a notification is written to whichever
 *    connection runs the committing query. In-process `db.listen` callbacks only see
 *    notifications of in-process queries. `onNotify` below (and the pool's `onnotify` in
 *    local/dev-server/database.ts) catches them where they actually arrive; a sweep covers the rest.
 *  - The data folder is locked (flock on `<dataDir>/.dev-server.lock`) while a server uses it, a
 *    second fence behind the dev server's pid lock of DATA_DIR (local/dev-server/data-dir.ts):
 *    PGlite itself does not stop a second process from opening it.
 */
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { existsSync } from "node:fs";
import { join, resolve } from "node:path";

export interface EmbeddedPostgresOptions {
  /** Data folder, created when missing (an empty folder is initialised). */
  dataDir: string;
  /** Host of the socket server. Default 127.0.0.1. */
  host?: string;
  /** Port of the socket server; 0 (default) = a free one. */
  port?: number;
  /** Socket connections accepted at once (the dev server uses 1; the rest is for psql and tools). Default 8. */
  maxConnections?: number;
}

export interface EmbeddedPostgres {
  db: PGlite;
  /** Absolute data folder. */
  dataDir: string;
  /** True when this start initialised the data folder. */
  created: boolean;
  /** postgres://postgres:postgres@127.0.0.1:<port>/postgres (credentials are ignored). */
  url: string;
  /** `LISTEN channel` in the shared session, with a callback for notifications of in-process queries. */
  listen(channel: string, callback: (payload: string) => void): Promise<() => Promise<void>>;
  /** Stops the socket server, closes PGlite (a clean shutdown), releases the lock. Idempotent. */
  stop(): Promise<void>;
}

export class DataDirLockedError extends Error {
  override readonly name = "DataDirLockedError";
}

export async function startEmbeddedPostgres(options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const dataDir = resolve(options.dataDir);
  await Deno.mkdir(dataDir, { recursive: true });
  const lock = await lockDataDir(dataDir);
  let db: PGlite | undefined;
  let server: PGLiteSocketServer | undefined;
  try {
    const created = !existsSync(join(dataDir, "PG_VERSION"));
    db = await PGlite.create(dataDir);
    server = new PGLiteSocketServer({
      db,
      host: options.host ?? "127.0.0.1",
      port: options.port ?? 0,
      maxConnections: options.maxConnections ?? 8,
    });
    await server.start();
    const url = `postgres://postgres:postgres@${server.getServerConn()}/postgres`;
    const [pg, socketServer] = [db, server];
    let stopped: Promise<void> | undefined;
    return {
      db: pg,
      dataDir,
      created,
      url,
      listen: (channel, callback) => pg.listen(channel, callback).then((unlisten) => async () => await unlisten()),
      stop: () =>
        (stopped ??= (async () => {
          await socketServer.stop().catch(() => {});
          await pg.close().catch(() => {});
          lock.close();
        })()),
    };
  } catch (error) {
    await server?.stop().catch(() => {});
    await db?.close().catch(() => {});
    lock.close();
    throw error;
  }
}

/** An exclusive flock on `<dataDir>/.dev-server.lock`, released when the file closes or the process dies. */
async function lockDataDir(dataDir: string): Promise<Deno.FsFile> {
  const path = join(dataDir, ".dev-server.lock");
  const file = await Deno.open(path, { create: true, write: true });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const locked = await Promise.race([
    file.lock(true).then(() => true),
    new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), 1000))),
  ]);
  clearTimeout(timer);
  if (!locked) {
    file.close();
    throw new DataDirLockedError(`${dataDir} is in use by another dev server (lock ${path}); stop it or set DATA_DIR`);
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  return file;
}

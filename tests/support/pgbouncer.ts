/**
 * PgBouncer in transaction mode in front of a PostgreSQL server (Node only), so the end-to-end
 * tier reaches the database the way Edge Functions reach it on Supabase: through a
 * transaction pooler (Supavisor), where consecutive transactions of one client may run on
 * different server connections and one server connection serves many clients in turn. Nothing
 * of a session survives from one transaction to the next for the client, no prepared statement
 * outlives its transaction, and whatever a transaction leaves in its session (a `set` instead
 * of `set local`) is seen by the next client's transaction on that connection.
 *
 *   const bouncer = await startPgBouncer({ targetUrl });   // postgres://user:pw@127.0.0.1:<pg>/db
 *   bouncer.url                                            // the same, at PgBouncer's port
 *   await bouncer.stop();
 *
 * - Debian's `pgbouncer` (1.18 on bookworm: no prepared-statement support in transaction mode,
 *   like Supavisor); PGBOUNCER=<path> points elsewhere. .ci/run installs it.
 * - Listens on a free 127.0.0.1 port (no Unix socket). `auth_type = trust` for the one user
 *   of the target URL (listed in its own auth_file); server connections log in with that
 *   URL's user and password, to any database of that server (a `*` entry).
 * - `pool_mode = transaction`, `default_pool_size` = poolSize (2 by default, so different users'
 *   requests really share server connections), no reserve pool, and nothing run between
 *   clients (`server_reset_query` empty; PgBouncer does not run it in transaction mode anyway,
 *   and neither does Supavisor), so a leak would be seen by the next client.
 * - As root it starts as root and drops to user `postgres` itself (`user = postgres`: PgBouncer
 *   refuses to run as root otherwise), like the throwaway cluster's initdb/pg_ctl.
 * - A guard shell holds it: stop() (or this process dying, which closes the guard's stdin)
 *   sends SIGTERM (immediate shutdown) and removes its temp dir.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { chownSync, existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect as tcpConnect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./postgres.ts";

export interface PgBouncerOptions {
  /** The PostgreSQL to pool (its user and password log in the server connections). */
  targetUrl: string;
  /** Server connections per database (`default_pool_size`). Default 2. */
  poolSize?: number;
  /** Default "transaction", as Supabase's pooler for Edge Functions. */
  poolMode?: "transaction" | "session" | "statement";
}

export interface PgBouncer {
  /** `targetUrl` with PgBouncer's host and port. */
  url: string;
  port: number;
  poolSize: number;
  /** What PgBouncer wrote to stderr so far. */
  logs(): string;
  stop(): Promise<void>;
}

/** The pgbouncer binary: $PGBOUNCER, Debian's /usr/sbin/pgbouncer, or the one on PATH. */
export function findPgBouncer(): string | null {
  if (process.env.PGBOUNCER) return process.env.PGBOUNCER;
  if (existsSync("/usr/sbin/pgbouncer")) return "/usr/sbin/pgbouncer";
  const which = spawnSync("sh", ["-c", "command -v pgbouncer"], { encoding: "utf8" });
  return which.status === 0 && which.stdout.trim() ? which.stdout.trim() : null;
}

export async function startPgBouncer(options: PgBouncerOptions): Promise<PgBouncer> {
  const binary = findPgBouncer();
  if (!binary) {
    throw new Error(
      "pgbouncer not found: install Debian's pgbouncer (apt-get install pgbouncer; .ci/run does), set PGBOUNCER=<path>, " +
        "or run the e2e tier without it (ET_TEST_POOLER=direct)",
    );
  }
  const target = new URL(options.targetUrl);
  const user = decodeURIComponent(target.username || "postgres");
  const password = decodeURIComponent(target.password);
  const poolSize = options.poolSize ?? 2;
  const asRoot = process.getuid?.() === 0;

  let lastError: unknown;
  for (let attempt = 1; attempt <= 3; attempt++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), "et-pgbouncer-"));
    const quote = (value: string) => `'${value.replace(/'/g, "''")}'`;
    writeFileSync(join(dir, "userlist.txt"), `"${user.replace(/"/g, '""')}" "${password.replace(/"/g, '""')}"\n`);
    writeFileSync(join(dir, "pgbouncer.ini"), [
      "[databases]",
      `* = host=${target.hostname.replace(/^\[|\]$/g, "")} port=${target.port || "5432"} user=${quote(user)}` +
        (password ? ` password=${quote(password)}` : ""),
      "",
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = trust",
      `auth_file = ${join(dir, "userlist.txt")}`,
      `pool_mode = ${options.poolMode ?? "transaction"}`,
      `default_pool_size = ${poolSize}`,
      "min_pool_size = 0",
      "reserve_pool_size = 0",
      "max_client_conn = 1000",
      "server_reset_query =",
      "server_reset_query_always = 0",
      // postgres.js sends none of these, but other clients (psql, JDBC) do.
      "ignore_startup_parameters = extra_float_digits",
      // A request starved of a server connection fails within the test's time rather than hanging it.
      "query_wait_timeout = 30",
      `pidfile = ${join(dir, "pgbouncer.pid")}`,
      "logfile =",
      "log_connections = 0",
      "log_disconnections = 0",
      "stats_period = 3600",
      ...(asRoot ? ["user = postgres"] : []),
      "",
    ].join("\n"));
    if (asRoot) {
      const uid = Number(spawnSync("id", ["-u", "postgres"], { encoding: "utf8" }).stdout.trim());
      const gid = Number(spawnSync("id", ["-g", "postgres"], { encoding: "utf8" }).stdout.trim());
      for (const file of ["", "userlist.txt", "pgbouncer.ini"]) chownSync(join(dir, file), uid, gid);
    }

    // The guard: runs pgbouncer, and at EOF on its stdin (stop(), or this process gone) stops it
    // and removes the dir. Background jobs of a non-interactive shell read /dev/null, hence fd 3.
    const script = [
      "exec 3<&0",
      '"$1" "$2" & pid=$!',
      '( cat <&3 >/dev/null; kill -TERM "$pid" 2>/dev/null ) &',
      'wait "$pid"; status=$?',
      'rm -rf "$3"',
      'exit "$status"',
    ].join("\n");
    const guard: ChildProcess = spawn("sh", ["-c", script, "pgbouncer-guard", binary, join(dir, "pgbouncer.ini"), dir], {
      stdio: ["pipe", "ignore", "pipe"],
      detached: true,
    });
    guard.unref();
    let output = "";
    guard.stderr!.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.length > 200_000) output = output.slice(-100_000);
      if (process.env.ET_TEST_VERBOSE) process.stderr.write(`[pgbouncer] ${chunk}`);
    });
    let exited = false;
    const exit = new Promise<void>((resolve) => guard.once("exit", () => {
      exited = true;
      resolve();
    }));

    let stopping: Promise<void> | undefined;
    const stop = () =>
      (stopping ??= (async () => {
        if (!exited) guard.stdin!.end();
        const timer = setTimeout(() => {
          try {
            process.kill(-guard.pid!, "SIGKILL");
          } catch { /* gone */ }
        }, 5_000);
        await exit;
        clearTimeout(timer);
        rmSync(dir, { recursive: true, force: true });
      })());

    const deadline = Date.now() + 15_000;
    let listening = false;
    while (!exited && Date.now() < deadline) {
      if (await accepts(port)) {
        listening = true;
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (listening && !exited) {
      const url = new URL(options.targetUrl);
      url.hostname = "127.0.0.1";
      url.port = String(port);
      return { url: url.toString(), port, poolSize, logs: () => output, stop };
    }
    await stop();
    lastError = new Error(`pgbouncer did not start on 127.0.0.1:${port} (attempt ${attempt}):\n${output}`);
    // Another process took the port between freePort() and the bind: try another one.
    if (!/Address already in use|could not bind/i.test(output)) break;
  }
  throw lastError;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

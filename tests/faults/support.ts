/**
 * Helpers of the Temporal fault tier (tests/faults/temporal-*.test.ts), Node only:
 *
 * - `startKillableTemporal()`: a `temporal server start-dev` of the file's own, persisted to a
 *   SQLite file, that can be killed (SIGKILL), frozen (SIGSTOP) / thawed (SIGCONT) and started
 *   again on the same ports with the same data, so the gateways and workers find it back.
 * - `startWorkerProcess()`: a Temporal worker in a process of its own (tests/faults/support-worker.mjs,
 *   the workflows of tests/support/workflows.ts), killable with SIGKILL.
 * - `startFunctionsProcess()`: the edge functions on Deno (tests/support/serve-functions.ts)
 *   with its pid, killable with SIGKILL.
 * - `temporalEvents()`: what a run's history says happened (started, cancel requested, terminated ...),
 *   read through Temporal's HTTP API: the counts the tier checks.
 *
 * Every process is spawned under a guard that kills it when this process's pipe closes, so
 * nothing outlives the test run, whatever ends it.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { REPO_ROOT } from "../support/postgres.ts";
import { ensureTemporalBinary } from "../support/temporal-server.ts";
import { TEST_JWT_SECRET } from "../support/tokens.ts";

const HERE = fileURLToPath(new URL("./", import.meta.url));

/** Kills the command when our stdin pipe closes (this process ended, however) or on TERM. */
const GUARD = `
exec 3<&0
"$@" </dev/null 3<&- &
child=$!
echo "pid $child"
( while read -r _ <&3; do :; done; kill -KILL "$child" 2>/dev/null; kill -CONT "$child" 2>/dev/null ) &
watcher=$!
exec 3<&-
trap 'kill -CONT "$child" 2>/dev/null; kill -KILL "$child" 2>/dev/null' TERM INT HUP
rc=0
while kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done
kill "$watcher" 2>/dev/null
exit $rc
`;

interface Guarded {
  /** The guarded process itself (not the guard). */
  pid: number;
  output(): string;
  exited: Promise<void>;
  isRunning(): boolean;
  /** Ends it (SIGKILL through the guard) and waits. */
  end(): Promise<void>;
}

async function spawnGuarded(command: string, args: string[], options: { env?: NodeJS.ProcessEnv; cwd?: string } = {}): Promise<Guarded> {
  const guard: ChildProcess = spawn("sh", ["-c", GUARD, "guard", command, ...args], {
    cwd: options.cwd ?? REPO_ROOT,
    env: options.env ?? process.env,
    stdio: ["pipe", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  let pid = 0;
  let resolvePid: (pid: number) => void;
  const gotPid = new Promise<number>((resolve) => (resolvePid = resolve));
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-20_000);
    const match = /^pid (\d+)$/m.exec(output);
    if (match && !pid) {
      pid = Number(match[1]);
      resolvePid(pid);
    }
    if (process.env.ET_TEST_VERBOSE) process.stderr.write(`[${command.split("/").pop()}] ${chunk}`);
  };
  guard.stdout!.on("data", collect);
  guard.stderr!.on("data", collect);
  let running = true;
  const exited = new Promise<void>((resolve) => guard.once("exit", () => {
    running = false;
    resolve();
  }));
  guard.unref();
  for (const stream of [guard.stdin, guard.stdout, guard.stderr]) (stream as unknown as { unref?: () => void })?.unref?.();
  await Promise.race([gotPid, exited]);
  if (!pid) throw new Error(`${command} did not start:\n${output}`);
  return {
    pid,
    output: () => output,
    exited,
    isRunning: () => running,
    async end() {
      if (!running) return;
      signal(pid, "SIGCONT");
      signal(pid, "SIGKILL");
      await exited;
    },
  };
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // gone already
  }
}

export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(Array.from({ length: count }, () =>
    new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
      const server = createServer();
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => resolve(server));
    })));
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

const delay = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// ---------------------------------------------------------------------------------------------
// Temporal
// ---------------------------------------------------------------------------------------------

export interface KillableTemporal {
  address: string;
  httpUrl: string;
  namespace: string;
  /** SIGKILL: gone at once, its listeners closed. */
  kill(): Promise<void>;
  /** SIGSTOP: connections stay open, nothing answers. */
  freeze(): void;
  /** SIGCONT. */
  thaw(): void;
  /** Starts it again on the same ports with the same data; resolves once it answers. */
  restart(): Promise<void>;
  /** Kills it and removes its data. */
  stop(): Promise<void>;
}

export async function startKillableTemporal(): Promise<KillableTemporal> {
  const bin = await ensureTemporalBinary();
  const dir = mkdtempSync(join(tmpdir(), "et-faults-temporal-"));
  const [grpcPort, httpPort, metricsPort] = await freePorts(3);
  const namespace = "default";
  const address = `127.0.0.1:${grpcPort}`;
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  const args = [
    "server", "start-dev", "--headless", "--ip", "127.0.0.1",
    "--port", String(grpcPort), "--http-port", String(httpPort), "--metrics-port", String(metricsPort),
    "--db-filename", join(dir, "temporal.db"), "--log-level", "error",
    "--disable-config-file", "--disable-config-env",
  ];
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("TEMPORAL_")) env[key] = value;

  let server: Guarded | null = null;
  const start = async () => {
    server = await spawnGuarded(bin, args, { env });
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        const response = await fetch(`${httpUrl}/api/v1/namespaces/${namespace}`, { signal: AbortSignal.timeout(2_000) });
        await response.text();
        if (response.ok) break;
      } catch { /* not yet */ }
      if (!server.isRunning() || Date.now() > deadline) {
        throw new Error(`temporal server start-dev did not come up:\n${server.output()}`);
      }
      await delay(100);
    }
  };
  await start();
  return {
    address,
    httpUrl,
    namespace,
    async kill() {
      await server?.end();
    },
    freeze() {
      if (server) signal(server.pid, "SIGSTOP");
    },
    thaw() {
      if (server) signal(server.pid, "SIGCONT");
    },
    async restart() {
      await server?.end();
      // The old listeners may take a moment to be released.
      for (let attempt = 1; ; attempt++) {
        try {
          await start();
          return;
        } catch (error) {
          if (attempt >= 3) throw error;
          await delay(500);
        }
      }
    },
    async stop() {
      await server?.end();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** How many events of each type a workflow's latest run has, by Temporal's history (EVENT_TYPE_ prefix dropped). */
export async function temporalEvents(temporal: Pick<KillableTemporal, "httpUrl" | "namespace">, workflowId: string): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  let pageToken = "";
  for (let page = 0; page < 50; page++) {
    const url = new URL(`${temporal.httpUrl}/api/v1/namespaces/${temporal.namespace}/workflows/${encodeURIComponent(workflowId)}/history`);
    if (pageToken) url.searchParams.set("nextPageToken", pageToken);
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    const body = await response.json() as { history?: { events?: { eventType?: string }[] }; nextPageToken?: string; code?: number };
    if (!response.ok) {
      if (response.status === 404) return counts;
      throw new Error(`history of ${workflowId}: ${response.status} ${JSON.stringify(body)}`);
    }
    for (const event of body.history?.events ?? []) {
      const type = (event.eventType ?? "UNKNOWN").replace(/^EVENT_TYPE_/, "");
      counts[type] = (counts[type] ?? 0) + 1;
    }
    pageToken = body.nextPageToken ?? "";
    if (!pageToken) break;
  }
  return counts;
}

/** How many runs Temporal has under a workflow id (all of them, closed ones included), from the history of each. */
export async function runsOf(temporal: Pick<KillableTemporal, "httpUrl" | "namespace">, workflowId: string): Promise<number> {
  const url = new URL(`${temporal.httpUrl}/api/v1/namespaces/${temporal.namespace}/workflows`);
  url.searchParams.set("query", `WorkflowId = "${workflowId}"`);
  const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
  const body = await response.json() as { executions?: unknown[] };
  if (!response.ok) throw new Error(`list ${workflowId}: ${response.status} ${JSON.stringify(body)}`);
  return body.executions?.length ?? 0;
}

// ---------------------------------------------------------------------------------------------
// A worker process
// ---------------------------------------------------------------------------------------------

export interface WorkerProcess {
  kill(): Promise<void>;
}

/** A worker for `taskQueue` in its own process; resolves once it polls. */
export async function startWorkerProcess(options: { address: string; namespace: string; taskQueue: string }): Promise<WorkerProcess> {
  const worker = await spawnGuarded(process.execPath, [join(HERE, "support-worker.mjs")], {
    env: {
      ...process.env,
      NODE_OPTIONS: "",
      FAULT_WORKER_ADDRESS: options.address,
      FAULT_WORKER_NAMESPACE: options.namespace,
      FAULT_WORKER_TASK_QUEUE: options.taskQueue,
      FAULT_WORKER_WORKFLOWS: join(REPO_ROOT, "tests", "support", "workflows.ts"),
    },
  });
  const deadline = Date.now() + 120_000;
  while (!worker.output().includes("fault worker: polling")) {
    if (!worker.isRunning() || Date.now() > deadline) {
      await worker.end();
      throw new Error(`the worker process did not start:\n${worker.output()}`);
    }
    await delay(100);
  }
  return { kill: () => worker.end() };
}

// ---------------------------------------------------------------------------------------------
// A functions server process
// ---------------------------------------------------------------------------------------------

export interface FunctionsProcess {
  url: string;
  functionsUrl: string;
  logs(): string;
  /** SIGKILL, mid-request if need be. */
  kill(): Promise<void>;
}

/** tests/support/serve-functions.ts on Deno, with the given environment, as a killable process. */
export async function startFunctionsProcess(options: { databaseUrl: string; env?: Record<string, string> }): Promise<FunctionsProcess> {
  const [port] = await freePorts(1);
  const env: NodeJS.ProcessEnv = {};
  const configVariables = /^(SUPABASE_|DATABASE_URL$|DB_POOL_SIZE$|JWT_SECRET$|TEMPORAL_|WEBHOOK_SECRET$|EXECUTION_RETENTION_DAYS$|STOP_ESCALATE_AFTER_SECONDS$|SWEEP_BUDGET_MS$|NODE_OPTIONS$)/;
  for (const [key, value] of Object.entries(process.env)) if (!configVariables.test(key)) env[key] = value;
  Object.assign(env, {
    PORT: String(port),
    DATABASE_URL: options.databaseUrl,
    DB_POOL_SIZE: "8",
    SUPABASE_JWT_SECRET: TEST_JWT_SECRET,
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    ...options.env,
  });
  const localDeno = join(REPO_ROOT, "node_modules", ".bin", "deno");
  // node_modules/.bin/deno links to the binary itself, so the signal reaches Deno.
  const deno = existsSync(localDeno) ? localDeno : "deno";
  // Not under the guard: serve-functions.ts is its own guard (it exits when our stdin pipe closes).
  const child = spawn(deno, ["run", "-A", "--config", "deno.json", "tests/support/serve-functions.ts"], {
    cwd: REPO_ROOT, env, stdio: ["pipe", "pipe", "pipe"],
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-20_000);
    if (process.env.ET_TEST_VERBOSE) process.stderr.write(`[functions] ${chunk}`);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  let running = true;
  const exited = new Promise<void>((resolve) => child.once("exit", () => {
    running = false;
    resolve();
  }));
  const kill = async () => {
    if (!running) return;
    child.kill("SIGKILL");
    await exited;
  };
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    try {
      const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      await response.text();
      if (response.ok) break;
    } catch { /* not up yet */ }
    if (!running || Date.now() > deadline) {
      await kill();
      throw new Error(`the functions server did not answer /health:\n${output}`);
    }
    await delay(100);
  }
  return { url, functionsUrl: `${url}/functions/v1`, logs: () => output, kill };
}

/**
 * A Temporal dev server for tests (Node only).
 *
 * - If TEMPORAL_ADDRESS (gRPC host:port) and TEMPORAL_HTTP_URL are set, that server is used as is
 *   (namespace TEMPORAL_NAMESPACE, default "default") and stop() does nothing.
 * - Otherwise `temporal server start-dev` (Temporal CLI, installed by scripts/install-temporal.sh into
 *   ${ET_CACHE_DIR:-$HOME/.cache/execution-tracker}/bin/temporal) is spawned on free 127.0.0.1 ports with an
 *   in-memory store, and startTemporalDevServer() resolves once both its gRPC and HTTP APIs answer.
 *
 * The server runs under a small `sh` guard that kills it when our stdin pipe closes, so it also goes away when
 * this process dies without running exit handlers (SIGKILL, crash of the test runner's worker).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { homedir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { Connection } from "@temporalio/client";

export interface TemporalDevServer {
  /** gRPC frontend, host:port (for @temporalio/client and the worker). */
  address: string;
  /** HTTP API root, e.g. http://127.0.0.1:40123 (for the HTTP gateway). */
  httpUrl: string;
  namespace: string;
  /** True when this process spawned the server (false when TEMPORAL_ADDRESS/TEMPORAL_HTTP_URL were used). */
  spawned: boolean;
  /** Kills the spawned server (no-op for an external one). Idempotent. */
  stop(): Promise<void>;
}

export interface StartTemporalDevServerOptions {
  /** Namespace to use (created at launch when spawning). Default "default" (or TEMPORAL_NAMESPACE for an external server). */
  namespace?: string;
  /** Persist to this SQLite file instead of memory. */
  dbFilename?: string;
  /** How long to wait for the server to answer. Default 60s. */
  startTimeoutMs?: number;
  /** Server log level: debug, info, warn, error, never. Default error (TEMPORAL_DEV_SERVER_LOG_LEVEL). */
  logLevel?: string;
}

const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
const INSTALL_SCRIPT = join(REPO_ROOT, "scripts", "install-temporal.sh");

/** Same location as scripts/install-temporal.sh. */
export function temporalBinaryPath(): string {
  const cacheDir = process.env.ET_CACHE_DIR || join(homedir(), ".cache", "execution-tracker");
  return join(cacheDir, "bin", "temporal");
}

/** The cached binary, installing it with scripts/install-temporal.sh first when missing (a fresh go install takes minutes). */
export async function ensureTemporalBinary(): Promise<string> {
  const bin = temporalBinaryPath();
  if (existsSync(bin)) return bin;
  const child = spawn("bash", [INSTALL_SCRIPT], { stdio: ["ignore", "pipe", "inherit"] });
  let stdout = "";
  child.stdout!.on("data", (chunk: Buffer) => {
    stdout += chunk.toString("utf8");
  });
  const code = await new Promise<number | string>((resolve) => {
    child.once("error", (err) => resolve(err.message));
    child.once("exit", (exitCode, signal) => resolve(exitCode ?? signal ?? "unknown"));
  });
  if (code !== 0) throw new Error(`scripts/install-temporal.sh failed (${code}); see its output above`);
  const printed = stdout.trim().split("\n").pop();
  if (printed && existsSync(printed)) return printed;
  if (existsSync(bin)) return bin;
  throw new Error(`scripts/install-temporal.sh did not produce ${bin}`);
}

export async function startTemporalDevServer(options: StartTemporalDevServerOptions = {}): Promise<TemporalDevServer> {
  const startTimeoutMs = options.startTimeoutMs ?? 60_000;
  const externalAddress = process.env.TEMPORAL_ADDRESS;
  const externalHttp = process.env.TEMPORAL_HTTP_URL;
  if (externalAddress && externalHttp) {
    const namespace = options.namespace ?? process.env.TEMPORAL_NAMESPACE ?? "default";
    const httpUrl = externalHttp.replace(/\/+$/, "");
    await waitUntilReady({ address: externalAddress, httpUrl, namespace, deadline: Date.now() + Math.min(startTimeoutMs, 15_000) });
    return { address: externalAddress, httpUrl, namespace, spawned: false, stop: async () => {} };
  }

  const bin = await ensureTemporalBinary();
  let lastError: unknown;
  // Ports are picked free but released before the server binds them; retry if another process got there first.
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await spawnDevServer(bin, options, startTimeoutMs);
    } catch (err) {
      lastError = err;
      if (!(err instanceof EarlyExitError)) throw err;
    }
  }
  throw lastError;
}

class EarlyExitError extends Error {}

/** A `sh` guard: runs the server with stdin from /dev/null and kills it once our stdin pipe closes or on TERM/INT/HUP. */
const GUARD_SCRIPT = `
exec 3<&0
"$@" </dev/null 3<&- &
child=$!
( while read -r _ <&3; do :; done; kill -TERM "$child" 2>/dev/null ) &
watcher=$!
exec 3<&-
trap 'kill -TERM "$child" 2>/dev/null' TERM INT HUP
rc=0
while kill -0 "$child" 2>/dev/null; do wait "$child"; rc=$?; done
kill "$watcher" 2>/dev/null
exit $rc
`;

async function spawnDevServer(bin: string, options: StartTemporalDevServerOptions, startTimeoutMs: number): Promise<TemporalDevServer> {
  const namespace = options.namespace ?? "default";
  const [grpcPort, httpPort, metricsPort] = await freePorts(3);
  const args = [
    "server",
    "start-dev",
    "--headless",
    "--ip", "127.0.0.1",
    "--port", String(grpcPort),
    "--http-port", String(httpPort),
    "--metrics-port", String(metricsPort),
    "--log-level", options.logLevel ?? process.env.TEMPORAL_DEV_SERVER_LOG_LEVEL ?? "error",
    "--disable-config-file",
    "--disable-config-env",
  ];
  if (options.dbFilename) args.push("--db-filename", options.dbFilename);
  if (namespace !== "default") args.push("--namespace", namespace);

  // The CLI reads TEMPORAL_* variables (address, namespace, TLS...) as client config; keep ours out of its way.
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("TEMPORAL_")) env[key] = value;

  const child = spawn("sh", ["-c", GUARD_SCRIPT, "temporal-guard", bin, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    detached: true, // own process group: stop() kills the guard, the server and the watcher together
    env,
  });
  let output = "";
  const collect = (chunk: Buffer) => {
    output = (output + chunk.toString("utf8")).slice(-8000);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once("exit", (code, signal) => resolve({ code, signal }));
  });
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  void exited.then((info) => {
    exitInfo = info;
    unregister(child);
  });
  child.once("error", (err) => {
    output += `\nspawn error: ${err.message}`;
  });
  register(child);
  // Don't keep the test process alive just because the server is running (exit handlers still kill it).
  child.unref();
  for (const stream of [child.stdin, child.stdout, child.stderr]) (stream as unknown as { unref?: () => void })?.unref?.();

  const address = `127.0.0.1:${grpcPort}`;
  const httpUrl = `http://127.0.0.1:${httpPort}`;
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      if (!exitInfo) {
        killGroup(child, "SIGTERM");
        child.stdin?.destroy();
        const timer = setTimeout(() => killGroup(child, "SIGKILL"), 5_000);
        await exited;
        clearTimeout(timer);
      }
      unregister(child);
    })();
    return stopping;
  };

  try {
    await waitUntilReady({
      address,
      httpUrl,
      namespace,
      deadline: Date.now() + startTimeoutMs,
      hasExited: () => (exitInfo ? `exited (code ${exitInfo.code ?? exitInfo.signal})` : undefined),
    });
  } catch (err) {
    const exitedEarly = exitInfo !== undefined;
    await stop();
    const message = `temporal server start-dev did not come up: ${(err as Error).message}\n--- server output ---\n${output.trim()}`;
    throw exitedEarly ? new EarlyExitError(message) : new Error(message);
  }
  return { address, httpUrl, namespace, spawned: true, stop };
}

async function waitUntilReady(params: {
  address: string;
  httpUrl: string;
  namespace: string;
  deadline: number;
  hasExited?: () => string | undefined;
}): Promise<void> {
  const { address, httpUrl, namespace, deadline, hasExited } = params;
  let lastProblem = "not tried";
  const describeUrl = `${httpUrl}/api/v1/namespaces/${encodeURIComponent(namespace)}`;
  // HTTP API first (cheap to poll)...
  for (;;) {
    const exited = hasExited?.();
    if (exited) throw new Error(`server ${exited}`);
    try {
      const res = await fetch(describeUrl, { signal: AbortSignal.timeout(2_000) });
      await res.text();
      if (res.ok) break;
      lastProblem = `GET ${describeUrl} answered ${res.status}`;
    } catch (err) {
      lastProblem = `GET ${describeUrl}: ${(err as Error).message}`;
    }
    if (Date.now() > deadline) throw new Error(`timed out; last problem: ${lastProblem}`);
    await delay(100);
  }
  // ...then the gRPC frontend, through the SDK's own connection check plus one real call.
  for (;;) {
    const exited = hasExited?.();
    if (exited) throw new Error(`server ${exited}`);
    try {
      const connection = await Connection.connect({ address, connectTimeout: 2_000 });
      try {
        await connection.withDeadline(Date.now() + 2_000, () => connection.workflowService.describeNamespace({ namespace }));
        return;
      } finally {
        await connection.close();
      }
    } catch (err) {
      lastProblem = `gRPC ${address}: ${(err as Error).message}`;
    }
    if (Date.now() > deadline) throw new Error(`timed out; last problem: ${lastProblem}`);
    await delay(100);
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function freePorts(count: number): Promise<number[]> {
  // Hold all listeners open together so the ports are distinct, then release them for the server.
  const servers = await Promise.all(
    Array.from({ length: count }, () =>
      new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
        const server = createServer();
        server.once("error", reject);
        server.listen(0, "127.0.0.1", () => resolve(server));
      }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  return ports;
}

// --- kill the spawned servers when this process exits or is signalled -------------------------------------------

const running = new Set<ChildProcess>();
let handlersInstalled = false;

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    try {
      child.kill(signal);
    } catch {
      // already gone
    }
  }
}

function killAll(): void {
  for (const child of running) killGroup(child, "SIGTERM");
  running.clear();
}

const SIGNALS: NodeJS.Signals[] = ["SIGINT", "SIGTERM", "SIGHUP"];

function onSignal(signal: NodeJS.Signals): void {
  killAll();
  // If nobody else handles this signal, do what Node would have done without us: die of it.
  if (process.listenerCount(signal) <= 1) {
    uninstallHandlers();
    process.kill(process.pid, signal);
  }
}

function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  process.on("exit", killAll);
  for (const signal of SIGNALS) process.on(signal, onSignal);
}

function uninstallHandlers(): void {
  if (!handlersInstalled) return;
  handlersInstalled = false;
  process.off("exit", killAll);
  for (const signal of SIGNALS) process.off(signal, onSignal);
}

function register(child: ChildProcess): void {
  running.add(child);
  installHandlers();
}

function unregister(child: ChildProcess): void {
  running.delete(child);
  if (running.size === 0) uninstallHandlers();
}

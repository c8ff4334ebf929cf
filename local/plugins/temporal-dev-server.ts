/**
 * `npm start` plugin: a local Temporal dev server (the Temporal CLI's `server start-dev`, its
 * SQLite file in DATA_DIR/temporal.db) when the CLI is installed and no Temporal is configured
 * (TEMPORAL_HTTP_URL) and START_TEMPORAL is not false. Without the CLI the tracker still serves
 * everything; dispatch then leaves executions pending with a message until Temporal is
 * reachable.
 *
 * A Temporal dev server left running on the same SQLite file by an instance that crashed (it
 * outlives a killed parent) is found (its command line, or the previous lock's record) and
 * reported: reused when its HTTP API answers (it then stops with this server), stopped
 * otherwise, so two Temporal servers never share one file.
 */
import { existsSync } from "node:fs";
import { findProcesses, processAlive } from "../dev-server/data-dir.ts";
import type { DevServerPlugin, PluginSetup } from "../dev-server/types.ts";

/** Where scripts/install-temporal.sh puts the CLI. */
export function temporalCliPath(env: (name: string) => string | undefined): string {
  const cache = env("ET_CACHE_DIR") || `${env("HOME") ?? "."}/.cache/execution-tracker`;
  return `${cache}/bin/temporal`;
}

function portIsFree(port: number): boolean {
  try {
    Deno.listen({ hostname: "127.0.0.1", port }).close();
    return true;
  } catch {
    return false;
  }
}

function freePort(preferred: number): number {
  if (portIsFree(preferred)) return preferred;
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function httpApiAnswers(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/api/v1/namespaces/default`, { signal: AbortSignal.timeout(1_000) });
    await response.body?.cancel();
    return response.ok;
  } catch {
    return false;
  }
}

async function waitForHttpApi(url: string, exited: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !exited()) {
    if (await httpApiAnswers(url)) return;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw new Error(exited() ? "temporal server start-dev exited" : `Temporal's HTTP API did not answer within ${timeoutMs} ms`);
}

async function stopProcess(pid: number, timeoutMs = 10_000): Promise<void> {
  try {
    Deno.kill(pid, "SIGTERM");
  } catch {
    return; // gone
  }
  const deadline = Date.now() + timeoutMs;
  while (processAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
  if (processAlive(pid)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
}

interface Ports {
  grpcPort: number;
  httpPort: number;
  uiPort: number;
}

function portsOf(args: string[]): Ports | null {
  const flag = (name: string) => {
    const i = args.indexOf(name);
    const value = i >= 0 ? Number(args[i + 1]) : NaN;
    return Number.isInteger(value) && value > 0 ? value : null;
  };
  const [grpcPort, httpPort, uiPort] = [flag("--port"), flag("--http-port"), flag("--ui-port")];
  return grpcPort && httpPort && uiPort ? { grpcPort, httpPort, uiPort } : null;
}

function setupFor(ports: Ports, banner: string[], stop: () => Promise<void>, pid: number): PluginSetup {
  const httpUrl = `http://127.0.0.1:${ports.httpPort}`;
  const uiUrl = `http://127.0.0.1:${ports.uiPort}`;
  return {
    env: { TEMPORAL_HTTP_URL: httpUrl, TEMPORAL_ADDRESS: `127.0.0.1:${ports.grpcPort}`, TEMPORAL_NAMESPACE: "default", TEMPORAL_UI_URL: uiUrl },
    banner: [
      ...banner,
      `Temporal    dev server: gRPC 127.0.0.1:${ports.grpcPort}, HTTP API ${httpUrl}, UI ${uiUrl} (pid ${pid})`,
      `            run workflows of demo-dispatched with: TEMPORAL_ADDRESS=127.0.0.1:${ports.grpcPort} npm run demo-worker`,
    ],
    stop,
  };
}

export const temporalDevServerPlugin: DevServerPlugin = {
  name: "temporal-dev-server",
  usesDataDir: ({ env, settings }) => !settings.config.temporalHttpUrl && settings.startTemporal && existsSync(temporalCliPath(env)),
  async configure({ env, settings, dataDir, print }) {
    if (settings.config.temporalHttpUrl) return; // an existing Temporal is configured
    if (!settings.startTemporal) return { banner: ["Temporal    not started (START_TEMPORAL=false) and not configured (TEMPORAL_HTTP_URL): runs are recorded, not dispatched"] };
    const cli = temporalCliPath(env);
    if (!existsSync(cli)) {
      return { banner: [`Temporal    no local dev server: the Temporal CLI is not installed (bash scripts/install-temporal.sh)`] };
    }
    const dbFile = dataDir.temporalDbFile;

    // One left behind by a crashed instance on this file?
    const leftovers = new Map<number, Ports | null>();
    for (const found of findProcesses(["start-dev", "--db-filename", dbFile])) leftovers.set(found.pid, portsOf(found.args));
    const recorded = dataDir.previous?.temporal;
    if (recorded && !leftovers.has(recorded.pid) && processAlive(recorded.pid)) leftovers.set(recorded.pid, recorded);
    for (const [pid, ports] of leftovers) {
      if (ports && (await httpApiAnswers(`http://127.0.0.1:${ports.httpPort}`))) {
        print(`[dev-server] found a Temporal dev server (pid ${pid}) left running on ${dbFile} by an instance that is gone: reusing it`);
        for (const [other] of leftovers) if (other !== pid) await stopProcess(other);
        dataDir.record({ temporal: { pid, ...ports } });
        return setupFor(ports, [`Temporal    reusing the dev server (pid ${pid}) a previous instance left running; it stops with this one`], () => stopProcess(pid), pid);
      }
      print(`[dev-server] found a Temporal dev server (pid ${pid}) left on ${dbFile} by an instance that is gone, not answering: stopping it`);
      await stopProcess(pid);
    }

    const ports: Ports = { grpcPort: freePort(7233), httpPort: freePort(7243), uiPort: freePort(8233) };
    print(`[dev-server] starting a Temporal dev server (${dbFile}) ...`);
    const child = new Deno.Command(cli, {
      args: [
        "server", "start-dev", "--ip", "127.0.0.1", "--port", String(ports.grpcPort), "--http-port", String(ports.httpPort),
        "--ui-port", String(ports.uiPort), "--db-filename", dbFile, "--log-level", "error",
        "--disable-config-file", "--disable-config-env",
      ],
      stdin: "null",
      stdout: "null",
      stderr: "inherit",
    }).spawn();
    let exited = false;
    const status = child.status.then(() => void (exited = true));
    dataDir.record({ temporal: { pid: child.pid, ...ports } });
    try {
      await waitForHttpApi(`http://127.0.0.1:${ports.httpPort}`, () => exited, 60_000);
    } catch (error) {
      try { child.kill("SIGTERM"); } catch { /* already gone */ }
      return { banner: [`Temporal    the CLI dev server failed to start (${(error as Error).message}); runs stay pending until Temporal is reachable`] };
    }
    return setupFor(ports, [], async () => {
      try { child.kill("SIGTERM"); } catch { /* already gone */ }
      await status;
    }, child.pid);
  },
};

/**
 * CPU profiles of the functions server under a steady load of one request kind each
 * (docs/profiling.md): for every kind, a fresh `deno run --cpu-prof` of
 * tests/support/serve-functions.ts (the bench's server, direct to the database), a warm-up,
 * then `--requests` requests from `--clients` clients; the server writes its .cpuprofile when
 * it exits, and this prints where the samples went: self time by function, inclusive time of
 * the frames that matter, and by module.
 *
 *   BENCH_DATABASE_URL=postgres://... deno run -A --config deno.json bench/profile.ts \
 *     [--kinds noop,list,stats,create,update] [--requests 3000] [--clients 4] [--out /tmp/et-profiles] [--cpu-only]
 *
 * `--cpu-only`: no profiler; prints the server's CPU per request from /proc (bench/lib/cpu.ts)
 * for each kind, which is what the bench reports (quick A/B of a change).
 *
 * BENCH_DATABASE_URL must be a migrated database; it is seeded with 20,000 executions
 * (bench/lib/seed.ts) when it has no bench seed yet.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { connect, freePort, REPO_ROOT } from "../tests/support/postgres.ts";
import { TEST_JWT_SECRET } from "../tests/support/tokens.ts";
import { loadCast, tokenCache } from "./lib/context.ts";
import { cpuSnapshot, cpuUse } from "./lib/cpu.ts";
import { log } from "./lib/measure.ts";
import { benchMeta, seed } from "./lib/seed.ts";
import { call } from "./lib/server.ts";

type Kind = "noop" | "list" | "stats" | "create" | "update";

const args = Object.fromEntries(process.argv.slice(2).map((a, i, all) => a.startsWith("--") ? [a.slice(2), all[i + 1]] : []).filter((x) => x.length));
const kinds = (args.kinds ?? "noop,list,stats,create,update").split(",") as Kind[];
const requests = Number(args.requests ?? 3000);
const clients = Number(args.clients ?? 4);
const outDir = args.out ?? "/tmp/et-profiles";
const cpuOnly = process.argv.includes("--cpu-only");

const databaseUrl = process.env.BENCH_DATABASE_URL;
if (!databaseUrl) throw new Error("BENCH_DATABASE_URL (a migrated database) is required");
const admin = connect(databaseUrl, { max: 2 });
if (!await benchMeta(admin)) await seed(admin, 20_000, "triggers");
const cast = await loadCast(admin);
const tokens = tokenCache();
const runId = Date.now().toString(36);
let counter = 0;

for (const kind of kinds) {
  const dir = join(outDir, `${kind}-${runId}`);
  mkdirSync(dir, { recursive: true });
  const server = await startProfiledServer(dir);
  counter = 0;
  try {
    const load = await loadFor(kind, server.url);
    await drive(load, Math.min(500, requests), clients); // warm-up: JIT, caches, pool
    const t0 = performance.now();
    const before = cpuSnapshot(server.pid);
    await drive(load, requests, clients);
    const cpu = cpuUse(before, cpuSnapshot(server.pid), requests);
    log(`${kind}: ${requests} requests in ${Math.round(performance.now() - t0)} ms; server CPU ${cpu.serverMsPerOp} ms/request, machine ${Math.round(cpu.machineBusy * 100)}% busy`);
  } finally {
    await server.stop();
  }
  if (cpuOnly) continue;
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) throw new Error(`no profile in ${dir}`);
  report(kind, JSON.parse(readFileSync(join(dir, file), "utf8")), requests + Math.min(500, requests), join(dir, file));
}
await admin.end({ timeout: 1 });

/** A request maker for `kind`: call(i) sends request number i. */
async function loadFor(kind: Kind, base: string): Promise<(i: number) => Promise<unknown>> {
  const user = cast.heavyUser;
  const token = await tokens.token(user.id);
  const workflows = cast.workflowsOf(user.n);
  const created: string[] = [];
  const create = (i: number) => {
    const twid = `prof-${runId}-${kind}-${i}`;
    created.push(twid);
    return call(`${base}/executions-create`, { token, body: { workflowId: workflows[i % workflows.length], temporalWorkflowId: twid, input: { i }, timeoutSeconds: 3600 }, expect: [201] });
  };
  switch (kind) {
    case "noop": return () => call(`${base}/executions-list`, { token: "", expect: [401] });
    case "list": return () => call(`${base}/executions-list?limit=20`, { token });
    case "stats": return () => call(`${base}/executions-stats`, { token });
    case "create": return create;
    case "update": {
      // Rows to complete, made through SQL so the profile holds updates only.
      const rows = await admin`
        insert into public.workflow_executions (workflow_id, created_by, temporal_workflow_id, status, input)
        select ${workflows[0]}, ${user.id}, 'prof-' || ${runId} || '-upd-' || g, 'running', '{}'::jsonb
          from generate_series(0, ${requests + 500}) g returning temporal_workflow_id`;
      const ids = rows.map((r) => r.temporal_workflow_id as string);
      return (i) => call(`${base}/executions-update`, { token, body: { temporalWorkflowId: ids[i], status: "completed", output: { ok: true }, durationMs: 200 + i % 5000 }, method: "POST" });
    }
  }
}

async function drive(load: (i: number) => Promise<unknown>, count: number, concurrency: number) {
  const end = counter + count;
  await Promise.all(Array.from({ length: concurrency }, async () => {
    while (counter < end) await load(counter++);
  }));
}

async function startProfiledServer(profileDir: string): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const port = await freePort();
  const env: Record<string, string> = {
    ...Object.fromEntries(Object.entries(process.env).filter(([k, v]) => v !== undefined && !/^(DATABASE_URL|BENCH_DATABASE_URL|NODE_OPTIONS)$/.test(k))) as Record<string, string>,
    PORT: String(port),
    DATABASE_URL: databaseUrl!,
    DB_POOL_SIZE: "8",
    SUPABASE_JWT_SECRET: TEST_JWT_SECRET,
    LOG_LEVEL: process.env.LOG_LEVEL ?? "info",
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
  };
  const child: ChildProcess = spawn(join(REPO_ROOT, "node_modules", ".bin", "deno"),
    ["run", "-A", ...(cpuOnly ? [] : ["--cpu-prof", `--cpu-prof-dir=${profileDir}`]), "--config", "deno.json", "tests/support/serve-functions.ts"],
    { cwd: REPO_ROOT, env, stdio: ["pipe", "ignore", "inherit"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const url = `http://127.0.0.1:${port}`;
  for (let tries = 0; ; tries++) {
    try {
      if ((await fetch(`${url}/health`)).ok) break;
    } catch { /* not yet */ }
    if (tries > 300) throw new Error("the profiled server did not start");
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url: `${url}/functions/v1`, pid: child.pid!, stop: async () => { child.stdin!.end(); await exited; } };
}

interface ProfileNode { id: number; callFrame: { functionName: string; url: string; lineNumber: number }; children?: number[] }
interface Profile { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[]; startTime: number; endTime: number }

/** Self and inclusive milliseconds per frame, per request, over the whole run. */
function report(kind: Kind, profile: Profile, total: number, file: string) {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const short = (url: string) => url.replace(/^file:\/\/\/work\/main\//, "").replace(/^.*node_modules\/\.deno\//, "npm:").replace(/^.*\/deno\/npm\/registry\.npmjs\.org\//, "npm:");
  const key = (n: ProfileNode) => `${n.callFrame.functionName || "(anonymous)"} ${short(n.callFrame.url)}:${n.callFrame.lineNumber + 1}`;
  const self = new Map<string, number>();
  const inclusive = new Map<string, number>();
  const modules = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const ms = (profile.timeDeltas[i + 1] ?? 0) / 1000;
    const node = byId.get(id)!;
    if (node.callFrame.functionName === "(idle)") return;
    busy += ms;
    self.set(key(node), (self.get(key(node)) ?? 0) + ms);
    const module = short(node.callFrame.url).replace(/:\d+$/, "") || node.callFrame.functionName;
    modules.set(module, (modules.get(module) ?? 0) + ms);
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const k = key(byId.get(at)!);
      if (!seen.has(k)) inclusive.set(k, (inclusive.get(k) ?? 0) + ms), seen.add(k);
    }
  });
  const per = (ms: number) => (ms / total).toFixed(3);
  const top = (m: Map<string, number>, n: number) => [...m].sort((a, b) => b[1] - a[1]).slice(0, n).map(([k, ms]) => `  ${per(ms).padStart(7)} ms/req  ${k}`).join("\n");
  console.log(`\n=== ${kind}: ${per(busy)} ms of JS-thread CPU per request (${total} requests; ${file})`);
  console.log(`--- self time, top 25\n${top(self, 25)}`);
  console.log(`--- inclusive time, top 45\n${top(inclusive, 45)}`);
  console.log(`--- by module, top 15\n${top(modules, 15)}`);
}

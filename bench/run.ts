/**
 * `npm run bench -- --size 100k|1m|10m` (default 100k): the "fast at ten million executions"
 * benchmark. Starts PostgreSQL (tests/support/postgres.ts, then restarted with bench settings;
 * or a fresh database in DATABASE_URL's server; or BENCH_DATABASE_URL reused as is), seeds it,
 * serves the real functions on Deno (tests/support/functions-server.ts), measures, writes
 * bench/results/<size>.json and renders bench/RESULTS.md and bench/latency.svg from every
 * results file present.
 *
 * Options: --size <100k|1m|10m|N>  --seed-mode triggers|replica  --only writes,list,stats,plans,sweeper,retention,memory
 *          --skip writes (published, with the scenarios it left out named in RESULTS.md)
 *          --quick (fewer runs, for trying the bench out)  --memory-requests N  --server-pool N
 * A trial run (--quick, --only, or BENCH_DATABASE_URL) writes its JSON to the temp dir only.
 */
import { writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { fileURLToPath } from "node:url";
import { createDatabase } from "../shared/db.ts";
import { type BenchContext, loadCast, tokenCache } from "./lib/context.ts";
import { type BenchDatabase, openBenchDatabase, postmasterPid } from "./lib/database.ts";
import { setPostmasterPid } from "./lib/cpu.ts";
import { describe, log } from "./lib/measure.ts";
import { codeVersion, cpuProbe, machineInfo } from "./lib/machine.ts";
import { seed, verifyRollups } from "./lib/seed.ts";
import { startBenchServer } from "./lib/server.ts";
import { evaluateTargets } from "./lib/targets.ts";
import { renderAll } from "./render.ts";
import { runAlerts } from "./scenarios/alerts.ts";
import { runBulk } from "./scenarios/bulk.ts";
import { runList } from "./scenarios/list.ts";
import { runMemory } from "./scenarios/memory.ts";
import { capturePlans } from "./scenarios/plans.ts";
import { runStats } from "./scenarios/stats.ts";
import { runTags } from "./scenarios/tags.ts";
import { runRetention } from "./scenarios/retention.ts";
import { runSweeper } from "./scenarios/sweeper.ts";
import { runWrites } from "./scenarios/writes.ts";
import { runWriteCost } from "./scenarios/write-cost.ts";

const sizes: Record<string, number> = { "100k": 100_000, "1m": 1_000_000, "10m": 10_000_000 };
const allScenarios = ["list", "stats", "tags", "plans", "writes", "write-cost", "sweeper", "bulk", "retention", "alerts", "memory"];

function parseArgs(argv: string[]) {
  const args: Record<string, string | boolean> = {};
  for (let i = 0; i < argv.length; i++) {
    const [key, inline] = argv[i].replace(/^--/, "").split("=", 2);
    if (inline !== undefined) args[key] = inline;
    else if (argv[i + 1] !== undefined && !argv[i + 1].startsWith("--")) args[key] = argv[++i];
    else args[key] = true;
  }
  const size = String(args.size ?? "100k").toLowerCase();
  const rows = sizes[size] ?? Number(size.replace(/k$/, "000").replace(/m$/, "000000"));
  if (!Number.isInteger(rows) || rows < 1000) throw new Error(`--size must be 100k, 1m, 10m or a row count, got ${args.size}`);
  const skip = typeof args.skip === "string" ? args.skip.split(",") : [];
  const only = typeof args.only === "string" ? args.only.split(",") : allScenarios.filter((s) => !skip.includes(s));
  for (const s of [...only, ...skip]) if (!allScenarios.includes(s)) throw new Error(`unknown scenario ${s}; known: ${allScenarios.join(", ")}`);
  const seedMode = String(args["seed-mode"] ?? "triggers");
  if (seedMode !== "triggers" && seedMode !== "replica") throw new Error("--seed-mode must be triggers or replica");
  return {
    size,
    rows,
    only,
    // A published run without some scenarios (a long size-independent one at 10M on a slow host): named in RESULTS.md.
    skip,
    // --only picks scenarios to try out; a run of it never replaces the published results.
    onlyGiven: typeof args.only === "string",
    seedMode: seedMode as "triggers" | "replica",
    quick: Boolean(args.quick),
    memoryRequests: args["memory-requests"] ? Number(args["memory-requests"]) : undefined,
    serverPool: args["server-pool"] ? Number(args["server-pool"]) : 8,
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const resultsDir = fileURLToPath(new URL("./results/", import.meta.url));
  // A trial (--quick, --only, or a reused BENCH_DATABASE_URL) never replaces the published results.
  const trial = opts.quick || opts.onlyGiven || Boolean(process.env.BENCH_DATABASE_URL);
  const resultsFile = trial ? `${tmpdir()}/bench-${opts.size}-trial.json` : `${resultsDir}${opts.size}.json`;
  const startedAt = new Date();
  log(`bench --size ${opts.size} (${opts.rows.toLocaleString("en")} executions), scenarios: ${opts.only.join(", ")}${opts.quick ? " (quick)" : ""}`);

  let db: BenchDatabase | null = null;
  let stopServer: (() => Promise<void>) | null = null;
  let productSql: ReturnType<typeof createDatabase> | null = null;
  // deno-lint-ignore no-explicit-any
  const result: Record<string, any> = {
    size: opts.size,
    rows: opts.rows,
    startedAt: startedAt.toISOString(),
    command: `npm run bench -- ${process.argv.slice(2).join(" ")}`.trim(),
    options: opts,
    machine: machineInfo(),
    code: codeVersion(),
  };
  const save = () => {
    result.targets = evaluateTargets(result);
    writeFileSync(resultsFile, JSON.stringify(result, null, 2) + "\n");
  };

  try {
    db = await openBenchDatabase();
    result.database = { kind: db.kind, tuned: db.tuned, settings: db.settings };
    result.machine.cpuProbe = await cpuProbe(db.admin);
    log(`CPU probe: PostgreSQL ${result.machine.cpuProbe.postgresMs} ms, V8 ${result.machine.cpuProbe.v8Ms} ms (fixed work; see bench/lib/machine.ts)`);
    setPostmasterPid(await postmasterPid(db));
    log(`PostgreSQL (${db.kind}${db.tuned ? ", restarted with bench settings" : ""}):\n` +
      Object.entries(db.settings).map(([k, v]) => `    ${k.padEnd(32)} ${v}`).join("\n"));

    result.seed = await seed(db.admin, opts.rows, opts.seedMode);
    log(`seed: ${opts.rows.toLocaleString("en")} executions in ${(result.seed.executionsMs / 1000).toFixed(1)} s ` +
      `(${result.seed.rowsPerSecond} rows/s, triggers ${result.seed.mode === "triggers" ? "on" : "off + rebuild"}), ` +
      `table ${(result.seed.tableBytes / 2 ** 30).toFixed(2)} GiB, with indexes ${(result.seed.totalRelationBytes / 2 ** 30).toFixed(2)} GiB`);
    result.rollupCheckAfterSeed = await verifyRollups(db.admin);
    log(`rollups vs direct aggregate: ${JSON.stringify(result.rollupCheckAfterSeed)}`);
    save();

    const server = await startBenchServer(db.url, opts.serverPool);
    stopServer = server.stop;
    productSql = createDatabase({ url: db.url, poolSize: opts.serverPool });
    const cast = await loadCast(db.admin);
    const tokens = tokenCache();
    const ctx: BenchContext = { size: opts.size, rows: opts.rows, db, sql: productSql, server, ...cast, ...tokens };
    result.cast = { heavyUser: cast.heavyUser, lightUser: cast.lightUser, heavyWorkflow: cast.heavyWorkflow, serverPoolSize: opts.serverPool };
    log(`functions server pid ${server.pid} at ${server.url} (pool ${opts.serverPool}); heaviest user ${cast.heavyUser.rows} rows, ` +
      `heaviest workflow ${cast.heavyWorkflow.rows} rows, median user ${cast.lightUser.rows} rows`);

    const scenarios: Record<string, () => Promise<unknown>> = {
      list: async () => (result.list = await runList(ctx, opts)),
      stats: async () => (result.stats = await runStats(ctx, opts)),
      tags: async () => (result.tags = await runTags(ctx, opts)),
      plans: async () => (result.plans = await capturePlans(ctx, result.list?.depths ?? {})),
      writes: async () => (result.writes = await runWrites(ctx, opts)),
      "write-cost": async () => (result.writeCost = await runWriteCost(ctx, opts)),
      sweeper: async () => (result.sweeper = await runSweeper(ctx)),
      bulk: async () => (result.bulk = await runBulk(ctx, opts)),
      retention: async () => (result.retention = await runRetention(ctx, opts)),
      alerts: async () => (result.alerts = await runAlerts(ctx, opts)),
      memory: async () => (result.memory = await runMemory(ctx, { requests: opts.memoryRequests ?? (opts.quick ? 20_000 : 100_000) })),
    };
    for (const name of allScenarios.filter((s) => opts.only.includes(s))) {
      log(`--- ${name}`);
      try {
        await scenarios[name]();
      } catch (error) {
        log(`scenario ${name} failed: ${describe(error)}`);
        result.failures = [...(result.failures ?? []), { scenario: name, error: describe(error) }];
      }
      save();
    }
    result.rollupCheckAtEnd = await verifyRollups(db.admin);
    log(`rollups vs direct aggregate at the end: ${JSON.stringify(result.rollupCheckAtEnd)}`);
  } finally {
    result.finishedAt = new Date().toISOString();
    result.durationMs = Date.now() - startedAt.getTime();
    if (result.seed) save();
    await productSql?.end({ timeout: 1 }).catch(() => {});
    await stopServer?.().catch(() => {});
    await db?.stop().catch(() => {});
  }

  log("targets:");
  for (const t of result.targets) {
    log(`  ${t.met === null ? "  n/a  " : t.met ? "  met  " : "NOT MET"}  ${t.name}: ${t.value} (goal ${t.goal})`);
  }
  if (trial) {
    log(`trial run: wrote ${resultsFile} (bench/results and bench/RESULTS.md untouched)`);
  } else {
    renderAll();
    log(`wrote ${resultsFile}, bench/RESULTS.md and bench/latency.svg`);
  }
  if (result.failures) {
    log(`${result.failures.length} scenario(s) failed`);
    process.exit(1);
  }
  process.exit(0);
}

await main();

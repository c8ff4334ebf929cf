/**
 * The bench's PostgreSQL. By default tests/support/postgres.ts starts a throwaway cluster
 * (bootstrap + migrations through the Supabase CLI), which the bench then restarts with
 * benchmark settings (the harness starts it tuned for tests: 128MB, fsync off). With
 * DATABASE_URL the harness makes a fresh migrated database in that server instead; its
 * settings are only printed. BENCH_DATABASE_URL names an already migrated (and maybe already
 * seeded) database to reuse as is: nothing is created, tuned or dropped.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { connect, type Sql, startPostgres } from "../../tests/support/postgres.ts";
import { log } from "./measure.ts";

const PG_BIN = process.env["PG_BIN"] ?? "/usr/lib/postgresql/15/bin";

/**
 * Production-like durability (fsync, synchronous_commit and full_page_writes on: a commit
 * waits for its WAL flush, as on Supabase) with memory sized for a 24 GiB machine.
 */
export const benchSettings: Record<string, string> = {
  shared_buffers: "4GB",
  effective_cache_size: "16GB",
  work_mem: "64MB",
  maintenance_work_mem: "2GB",
  wal_buffers: "64MB",
  max_wal_size: "16GB",
  min_wal_size: "2GB",
  checkpoint_timeout: "30min",
  checkpoint_completion_target: "0.9",
  random_page_cost: "1.1",
  effective_io_concurrency: "200",
  fsync: "on",
  synchronous_commit: "on",
  full_page_writes: "on",
  max_connections: "300",
  jit: "off",
  track_io_timing: "on",
  autovacuum: "on",
};

/** Settings printed with the results. */
export const reportedSettings = [
  "server_version", "shared_buffers", "effective_cache_size", "work_mem", "maintenance_work_mem", "wal_buffers",
  "max_wal_size", "checkpoint_timeout", "random_page_cost", "effective_io_concurrency", "fsync", "synchronous_commit",
  "full_page_writes", "wal_level", "max_connections", "jit", "max_parallel_workers_per_gather", "autovacuum",
];

export interface BenchDatabase {
  url: string;
  /** Superuser pool for seeding and checks. */
  admin: Sql;
  kind: "throwaway cluster (tests/support/postgres.ts)" | "DATABASE_URL (fresh database)" | "BENCH_DATABASE_URL (reused)";
  tuned: boolean;
  settings: Record<string, string>;
  stop(): Promise<void>;
}

export async function openBenchDatabase(): Promise<BenchDatabase> {
  const reuse = process.env["BENCH_DATABASE_URL"]?.trim();
  if (reuse) {
    const admin = connect(reuse, { max: 4, idle_timeout: 0 });
    return { url: reuse, admin, kind: "BENCH_DATABASE_URL (reused)", tuned: false, settings: await readSettings(admin), stop: () => admin.end({ timeout: 1 }) };
  }
  const external = Boolean(process.env["DATABASE_URL"]?.trim());
  log(external ? "creating a migrated database in DATABASE_URL's server" : "starting a throwaway PostgreSQL cluster (tests/support/postgres.ts)");
  const handle = await startPostgres();
  let tuned = false;
  if (!external) {
    await handle.adminSql.end({ timeout: 1 });
    await restartWithBenchSettings(handle.url);
    tuned = true;
  }
  const admin = connect(handle.url, { max: 4, idle_timeout: 0 });
  return {
    url: handle.url,
    admin,
    kind: external ? "DATABASE_URL (fresh database)" : "throwaway cluster (tests/support/postgres.ts)",
    tuned,
    settings: await readSettings(admin),
    stop: async () => {
      await admin.end({ timeout: 1 }).catch(() => {});
      await handle.stop();
    },
  };
}

export async function readSettings(sql: Sql): Promise<Record<string, string>> {
  const rows = await sql`select name, current_setting(name) as value from unnest(${reportedSettings}::text[]) as name`;
  return Object.fromEntries(rows.map((r) => [r.name, r.value]));
}

/**
 * Restarts the harness's cluster with `benchSettings`. The harness passes its settings as
 * `-c` options (which beat ALTER SYSTEM), so the restart keeps its own port, socket dir and
 * preload libraries from postmaster.opts and replaces the rest.
 */
async function restartWithBenchSettings(url: string): Promise<void> {
  const sql = connect(url, { max: 1 });
  const [{ data_directory: dataDir }] = await sql`select current_setting('data_directory') as data_directory`;
  await sql.end({ timeout: 1 });

  const opts = readFileSync(`${dataDir}/postmaster.opts`, "utf8").trim();
  const tokens = [...opts.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]).slice(1); // drop the binary
  const kept: string[] = [];
  for (let i = 0; i < tokens.length; i++) {
    if (tokens[i] === "-D") { i++; continue; }
    if (tokens[i] === "-c") {
      const setting = tokens[++i];
      if (!(setting.split("=")[0] in benchSettings)) kept.push("-c", setting);
      continue;
    }
    kept.push(tokens[i]);
  }
  for (const [name, value] of Object.entries(benchSettings)) kept.push("-c", `${name}=${value}`);
  const asRoot = process.getuid?.() === 0;
  const command = [`${PG_BIN}/pg_ctl`, "-D", dataDir, "-o", kept.join(" "), "-m", "fast", "-w", "-t", "120", "-l", `${dataDir}/../postgres.log`, "restart"];
  const [bin, args] = asRoot ? ["runuser", ["-u", "postgres", "--", ...command]] : [command[0], command.slice(1)];
  const result = spawnSync(bin, args, { encoding: "utf8" });
  if (result.status !== 0) throw new Error(`pg_ctl restart with bench settings failed: ${result.stderr}${result.stdout}`);
  log(`restarted the cluster with bench settings (${dataDir})`);
}

/** The postmaster's pid when the server runs on this machine (for CPU accounting), else null. */
export async function postmasterPid(db: BenchDatabase): Promise<number | null> {
  try {
    const [{ pid }] = await db.admin`select pg_backend_pid() as pid`;
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
  } catch {
    return null;
  }
}

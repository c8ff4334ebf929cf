/**
 * The write cost of exact statistics (issue 11): the split of one create, side by side, with
 * pgbench (-M extended) running the repository's INSERT (bench/pgbench/write-cost-create.sql,
 * the statement of create.sql) at 1 and 32 clients:
 *  - plain table:        a copy of workflow_executions' shape and indexes (`like ... including
 *                        all`: columns, defaults, CHECKs, every index; no foreign keys, no
 *                        triggers), holding a copy of up to 1M of the seeded rows;
 *  - triggers disabled:  our table with every user trigger disabled (the foreign keys stay);
 *  - <trigger> alone:    our table with only that trigger enabled, for each trigger;
 *  - whole schema:       our table as it runs;
 *  - hot workflow:       the whole schema, every client writing into the heaviest workflow.
 * Each measurement also has PostgreSQL's CPU per insert (/proc, bench/lib/cpu.ts). The rows a
 * partial run inserted are deleted with the same triggers enabled (so the stats stay exact),
 * and the stat deltas are folded at the end.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { foldAllStatDeltas } from "../../shared/repository/stats.ts";
import type { BenchContext } from "../lib/context.ts";
import { log, type Measurement } from "../lib/measure.ts";
import { pgbench } from "../lib/pgbench.ts";

export interface WriteCostResult {
  measurements: Measurement[];
  /** Rows in the plain table before the measurement. */
  plainRows: number;
  /** The user triggers of workflow_executions, measured one at a time. */
  triggers: string[];
  plan: Record<string, { warmup: number; perClient: number }>;
}

const template = readFileSync(fileURLToPath(new URL("../pgbench/write-cost-create.sql", import.meta.url)), "utf8");
const ours = "public.workflow_executions";
const plain = "bench_write_cost.workflow_executions";
const spreadTarget = {
  workflow: "md5('bench-wf-' || ((:k - 1) * 1000 + :client_id + 1))::uuid",
  owner: "md5('bench-user-' || (:client_id + 1))::uuid",
};

/** The label of each variant, as the results and the targets name it. */
export const writeCostLabel = (variant: string) => `write cost: ${variant}`;

export async function runWriteCost(ctx: BenchContext, options: { quick?: boolean } = {}): Promise<WriteCostResult> {
  const admin = ctx.db.admin;
  const plan = options.quick
    ? { 1: { warmup: 100, perClient: 600 }, 32: { warmup: 10, perClient: 60 } }
    : { 1: { warmup: 500, perClient: 5000 }, 32: { warmup: 30, perClient: 400 } };
  const dir = mkdtempSync(join(tmpdir(), "bench-write-cost-"));
  const scriptFor = (table: string, target: { workflow: string; owner: string }) => {
    const file = join(dir, `${table.replace(/\W/g, "_")}-${target.workflow.length}.sql`);
    writeFileSync(file, template.replaceAll("{{table}}", table).replaceAll("{{workflow}}", target.workflow).replaceAll("{{owner}}", target.owner));
    return file;
  };
  const hotTarget = { workflow: `'${ctx.heavyWorkflow.id}'::uuid`, owner: `'${ctx.heavyWorkflow.owner}'::uuid` };
  const runId = Date.now().toString(36);
  const measurements: Measurement[] = [];

  const triggers = (await admin`
    select tgname from pg_trigger where tgrelid = ${ours}::regclass and not tgisinternal order by tgname`).map((r) => r.tgname as string);

  log("write cost: the plain table (shape and indexes of workflow_executions, no triggers, no foreign keys)");
  await admin.unsafe(`drop schema if exists bench_write_cost cascade; create schema bench_write_cost;
    create table ${plain} (like ${ours} including all)`);
  await admin.unsafe(`insert into ${plain} select * from ${ours} limit 1000000`);
  await admin.unsafe(`vacuum analyze ${plain}`);
  const [{ plainRows }] = await admin.unsafe(`select count(*)::int as "plainRows" from ${plain}`);

  /**
   * A partial schema's rows go again. What an insert trigger added, its delete counterpart
   * takes back (append_inserted_stat_deltas -> append_deleted_stat_deltas: the stats stay exact);
   * the other triggers add nothing for these rows (running, no tags, no lease), so the delete
   * runs with only those counterparts enabled.
   */
  const removeRows = async (table: string, tag: string, since: Date, enabled: string[]) => {
    const counterparts = enabled.filter((name) => name.includes("inserted")).map((name) => name.replace("inserted", "deleted")).filter((name) => triggers.includes(name));
    await admin.unsafe(`alter table ${ours} disable trigger user`);
    for (const name of counterparts) await admin.unsafe(`alter table ${ours} enable trigger "${name}"`);
    const [{ removed }] = await admin.unsafe(
      `with gone as (delete from ${table} where started_at >= $1 and temporal_workflow_id like $2 returning 1) select count(*)::int as removed from gone`,
      [since, `pgb-${tag}%`]);
    if (removed === 0) throw new Error(`write cost: no rows of ${tag} to remove (the stats would count rows the partial schema did not)`);
    await admin.unsafe(`alter table ${ours} disable trigger user`);
    for (const name of enabled) await admin.unsafe(`alter table ${ours} enable trigger "${name}"`);
  };

  /** Runs the create at 1 and 32 clients with `enabled` triggers (null: all, as in production). */
  const measure = async (variant: string, table: string, target: typeof spreadTarget, enabled: string[] | null) => {
    if (enabled) {
      await admin.unsafe(`alter table ${ours} disable trigger user`);
      for (const name of enabled) await admin.unsafe(`alter table ${ours} enable trigger "${name}"`);
    }
    try {
      for (const clients of [1, 32] as const) {
        const { warmup, perClient } = plan[clients];
        const tag = `${runId}-${variant.replace(/\W/g, "")}-c${clients}`;
        const [{ since }] = await admin`select now() as since`;
        const script = scriptFor(table, target);
        // -M extended: :tag is a parameter, so no quotes (they would end up in the ids).
        const variables = (suffix: string) => ({ n: 0, tag: `${tag}${suffix}` });
        measurements.push(pgbench(writeCostLabel(variant), ctx.db.url,
          { script, clients, transactionsPerClient: perClient, variables: variables("m") },
          { script, clients, transactionsPerClient: warmup, variables: variables("w") }));
        if (enabled) await removeRows(table, tag, since, enabled);
      }
    } finally {
      if (enabled) await admin.unsafe(`alter table ${ours} enable trigger user`);
    }
  };

  try {
    await measure("plain table, no triggers", plain, spreadTarget, null);
    await measure("our table, triggers disabled", ours, spreadTarget, []);
    for (const name of triggers) await measure(`only ${name}`, ours, spreadTarget, [name]);
    await measure("whole schema", ours, spreadTarget, null);
    await measure("whole schema, hot workflow", ours, hotTarget, null);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await admin.unsafe("drop schema if exists bench_write_cost cascade");
    log(`write cost: folded ${await foldAllStatDeltas(admin, 50_000)} stat deltas`);
  }
  return { measurements, plainRows, triggers, plan: { 1: plan[1], 32: plan[32] } };
}

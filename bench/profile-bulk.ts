/**
 * Where a bulk cancel's time goes in PostgreSQL, per row (docs/profiling.md, "Bulk cancel"):
 * on a throwaway cluster, `--rows` running executions the tracker acts on (one owner), then
 *
 *   cancel   the bulk processor's statement (shared/repository/bulk.ts `cancelRows`, as the
 *            owner with the tracker's stop claim), batches of 1,000: each row becomes a stop
 *            request and stays live (docs/architecture.md §2);
 *   confirm  the stop phase's no-Temporal statement (shared/repository/stops.ts
 *            `confirmDueWithoutTemporal`), batches of 500: each row ends cancelled;
 *
 * each statement under auto_explain with trigger timing (its plans come back as notices).
 * Prints, per phase, the statements' time per row and each trigger's share of it.
 *
 *   deno run -A --config deno.json bench/profile-bulk.ts [--rows 20000]
 */
import type { Tx } from "../shared/db.ts";
import { actAsOwner, cancelRows } from "../shared/repository/bulk.ts";
import { confirmDueWithoutTemporal } from "../shared/repository/stops.ts";
import { connect, createUser, createWorkflow, startPostgres } from "../tests/support/postgres.ts";

const rowsFlag = process.argv.indexOf("--rows");
const rows = rowsFlag > 0 ? Number(process.argv[rowsFlag + 1]) : 20_000;

/** Statement and trigger milliseconds of one phase, summed over its auto_explain notices. */
class PhaseProfile {
  statementMs = 0;
  triggers = new Map<string, { ms: number; calls: number }>();

  add(plan: string): void {
    const duration = /duration: ([\d.]+) ms/.exec(plan);
    if (duration) this.statementMs += Number(duration[1]);
    for (const [, name, ms, calls] of plan.matchAll(/Trigger (\w+)(?: on \w+)?: time=([\d.]+) calls=(\d+)/g)) {
      const seen = this.triggers.get(name) ?? { ms: 0, calls: 0 };
      this.triggers.set(name, { ms: seen.ms + Number(ms), calls: seen.calls + Number(calls) });
    }
  }

  print(phase: string, rowCount: number): void {
    const perRow = (ms: number) => (ms / rowCount).toFixed(3);
    console.log(`\n${phase}: ${rowCount.toLocaleString("en")} rows, ${(this.statementMs / 1000).toFixed(2)} s in its statements, ${perRow(this.statementMs)} ms per row`);
    const triggerMs = [...this.triggers.values()].reduce((sum, t) => sum + t.ms, 0);
    for (const [name, t] of [...this.triggers].sort((a, b) => b[1].ms - a[1].ms)) {
      console.log(`  trigger ${name.padEnd(34)} ${perRow(t.ms)} ms per row  (${t.calls.toLocaleString("en")} calls)`);
    }
    console.log(`  the statement itself (scan, heap and index writes) ${perRow(this.statementMs - triggerMs)} ms per row`);
  }
}

const pg = await startPostgres({ throwaway: true });
let current: PhaseProfile | null = null;
const sql = connect(pg.url, { max: 1, onnotice: (notice) => current?.add(String(notice.message)) });
try {
  const owner = await createUser(pg.adminSql);
  const workflow = await createWorkflow(pg.adminSql, owner);
  await pg.adminSql`
    insert into public.workflow_executions (workflow_id, created_by, temporal_workflow_id, status, started_at)
    select ${workflow}, ${owner}, 'profile-' || g, 'running', now() - interval '1 hour' + g * interval '1 millisecond'
      from generate_series(1, ${rows}::int) g`;
  await pg.adminSql`vacuum analyze public.workflow_executions`;
  // Session settings of the superuser connection; `set role` inside the transactions keeps them.
  await sql.unsafe(`load 'auto_explain'; set auto_explain.log_min_duration = 0; set auto_explain.log_analyze = on;
                    set auto_explain.log_timing = on; set auto_explain.log_triggers = on; set client_min_messages = log`);

  const cancel = new PhaseProfile();
  const ids = (await pg.adminSql`select id from public.workflow_executions where workflow_id = ${workflow} order by id`).map((r) => r.id as string);
  for (let i = 0; i < ids.length; i += 1000) {
    await sql.begin(async (tx) => {
      await actAsOwner(tx as unknown as Tx, owner, { stopClaim: "tracker" });
      current = cancel;
      await cancelRows(tx as unknown as Tx, ids.slice(i, i + 1000));
      current = null;
    });
  }
  cancel.print("cancel (bulk processor, batches of 1,000)", ids.length);

  const confirm = new PhaseProfile();
  let confirmed = 0;
  for (;;) {
    const batch = await sql.begin(async (tx) => {
      current = confirm;
      const done = await confirmDueWithoutTemporal(tx as unknown as Tx, 500);
      current = null;
      return done;
    });
    confirmed += batch.confirmed;
    if (batch.due < 500) break;
  }
  confirm.print("confirm (stop phase without Temporal, batches of 500)", confirmed);
} finally {
  await sql.end({ timeout: 1 });
  await pg.stop();
}

/**
 * Renders bench/RESULTS.md and bench/latency.svg from every bench/results/<size>.json, so a
 * run of one size never erases another's figures. Run alone: `deno run -A bench/render.ts`.
 */
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Measurement } from "./lib/measure.ts";
import { evaluateTargets, find, rssFlatness, findPrefix, fmt, type Target } from "./lib/targets.ts";

// deno-lint-ignore no-explicit-any
type SizeResult = any;

const benchDir = fileURLToPath(new URL("./", import.meta.url));

export function loadResults(): SizeResult[] {
  const dir = `${benchDir}results/`;
  if (!existsSync(dir)) return [];
  return readdirSync(dir)
    .filter((f) => f.endsWith(".json"))
    .map((f) => JSON.parse(readFileSync(dir + f, "utf8")))
    .sort((a, b) => a.rows - b.rows);
}

export function renderAll() {
  const results = loadResults();
  writeFileSync(`${benchDir}RESULTS.md`, renderMarkdown(results));
  writeFileSync(`${benchDir}latency.svg`, renderSvg(results));
}

// ---------------------------------------------------------------------------------------------
// Chart series: p50 against table size
// ---------------------------------------------------------------------------------------------

interface Series {
  label: string;
  color: string;
  dashed: boolean;
  pick: (r: SizeResult) => Measurement | undefined;
}

const series: Series[] = [
  { label: "list first page, heaviest user (keyset)", color: "#1f77b4", dashed: false, pick: (r) => find(r.list?.measurements, "list first page, heaviest user: keyset (service)") },
  { label: "list deepest page ≤1M, all (keyset)", color: "#2ca02c", dashed: false, pick: (r) => findPrefix(r.list?.measurements, "list page ", "deep, all (service role): keyset (service)") },
  { label: "list same depth, all (LIMIT/OFFSET)", color: "#2ca02c", dashed: true, pick: (r) => findPrefix(r.list?.measurements, "list page ", "deep, all (service role): LIMIT/OFFSET") },
  { label: "stats heaviest user (rollups)", color: "#ff7f0e", dashed: false, pick: (r) => find(r.stats?.measurements, "stats heaviest user: ours (service)") },
  { label: "stats heaviest user (naive)", color: "#ff7f0e", dashed: true, pick: (r) => find(r.stats?.measurements, "stats heaviest user: naive (fetch rows, compute in TS)") },
  { label: "stats all executions (rollups)", color: "#d62728", dashed: false, pick: (r) => find(r.stats?.measurements, "stats all (service role): ours (service)") },
  { label: "stats all executions (naive)", color: "#d62728", dashed: true, pick: (r) => find(r.stats?.measurements, "stats all (service role): naive (fetch rows, compute in TS)") },
  { label: "stats heaviest user, last 7 days (index-only scan)", color: "#9467bd", dashed: false, pick: (r) => find(r.stats?.measurements, "stats heaviest user, last 7 days: ours (service)") },
];

export function renderSvg(results: SizeResult[]): string {
  const W = 960, H = 540, left = 70, right = 360, top = 40, bottom = 60;
  const plotW = W - left - right, plotH = H - top - bottom;
  const points = series.map((s) => results.map((r) => ({ rows: r.rows as number, p50: s.pick(r)?.p50 })).filter((p) => p.p50 !== undefined && p.p50 > 0) as { rows: number; p50: number }[]);
  const all = points.flat();
  const esc = (t: string) => t.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="Helvetica, Arial, sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  out.push(`<text x="${left}" y="22" font-size="15" font-weight="bold">p50 latency against table size (log-log); solid = ours, dashed = baseline</text>`);
  if (all.length === 0) {
    out.push(`<text x="${left}" y="${top + 40}">no results yet</text></svg>`);
    return out.join("\n");
  }
  const xs = [...new Set(results.map((r) => r.rows as number))].sort((a, b) => a - b);
  const xMin = Math.log10(Math.min(...xs)) - 0.15, xMax = Math.log10(Math.max(...xs)) + 0.15;
  const yMin = Math.floor(Math.log10(Math.min(...all.map((p) => p.p50)))), yMax = Math.ceil(Math.log10(Math.max(...all.map((p) => p.p50))));
  const x = (rows: number) => left + (Math.log10(rows) - xMin) / (xMax - xMin || 1) * plotW;
  const y = (ms: number) => top + plotH - (Math.log10(ms) - yMin) / (yMax - yMin || 1) * plotH;
  // Grid and axes
  for (let e = yMin; e <= yMax; e++) {
    const v = 10 ** e;
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 8}" y="${y(v) + 4}" text-anchor="end">${v >= 1 ? v.toLocaleString("en") : v} ms</text>`);
  }
  for (const rows of xs) {
    out.push(`<line x1="${x(rows)}" x2="${x(rows)}" y1="${top}" y2="${top + plotH}" stroke="#eee"/>`);
    out.push(`<text x="${x(rows)}" y="${top + plotH + 18}" text-anchor="middle">${sizeLabel(rows)} rows</text>`);
  }
  out.push(`<rect x="${left}" y="${top}" width="${plotW}" height="${plotH}" fill="none" stroke="#444"/>`);
  out.push(`<text x="${left + plotW / 2}" y="${H - 15}" text-anchor="middle">executions in workflow_executions</text>`);
  // Targets at 10M: 5 ms (list), 10 ms (stats one user), 100 ms (stats all)
  for (const [ms, label] of [[5, "list target 5 ms"], [10, "stats user/workflow target 10 ms"], [100, "stats all target 100 ms"]] as const) {
    if (Math.log10(ms) < yMin || Math.log10(ms) > yMax) continue;
    out.push(`<line x1="${left}" x2="${left + plotW}" y1="${y(ms)}" y2="${y(ms)}" stroke="#999" stroke-dasharray="2,3"/>`);
    out.push(`<text x="${left + 4}" y="${y(ms) - 3}" fill="#777" font-size="10">${label}</text>`);
  }
  series.forEach((s, i) => {
    const p = points[i];
    if (!p.length) return;
    const path = p.map((q, j) => `${j ? "L" : "M"}${x(q.rows).toFixed(1)},${y(q.p50).toFixed(1)}`).join(" ");
    out.push(`<path d="${path}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ` stroke-dasharray="6,4"` : ""}/>`);
    for (const q of p) {
      out.push(`<circle cx="${x(q.rows).toFixed(1)}" cy="${y(q.p50).toFixed(1)}" r="3.5" fill="${s.dashed ? "white" : s.color}" stroke="${s.color}" stroke-width="1.5"><title>${esc(s.label)}: ${fmt(q.p50)} ms at ${sizeLabel(q.rows)}</title></circle>`);
    }
    const ly = top + 10 + i * 22;
    out.push(`<line x1="${W - right + 20}" x2="${W - right + 50}" y1="${ly}" y2="${ly}" stroke="${s.color}" stroke-width="2"${s.dashed ? ` stroke-dasharray="6,4"` : ""}/>`);
    out.push(`<text x="${W - right + 56}" y="${ly + 4}">${esc(s.label)}</text>`);
  });
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

const sizeLabel = (rows: number) => rows >= 1e6 ? `${rows / 1e6}M` : rows >= 1e3 ? `${rows / 1e3}k` : String(rows);

// ---------------------------------------------------------------------------------------------
// Markdown
// ---------------------------------------------------------------------------------------------

// deno-lint-ignore no-explicit-any
const rollupCell = (c: any) => c
  ? `${c.rollupMismatches} rollup, ${c.binMismatches} bin${c.ownerBinMismatches === null || c.ownerBinMismatches === undefined ? "" : `, ${c.ownerBinMismatches} owner-bin`} rows differ (check took ${(c.ms / 1000).toFixed(1)} s)`
  : "not checked";
const mark = (met: boolean | null) => (met === null ? "n/a" : met ? "met" : "**NOT MET**");
const gib = (bytes: number) => `${(bytes / 2 ** 30).toFixed(2)} GiB`;
const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
const row = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
const table = (head: string[], rows: (string | number)[][]) =>
  [row(head), row(head.map(() => "---")), ...rows.map(row)].join("\n");
const mRow = (m: Measurement, extra: (string | number)[] = []) =>
  [m.name, m.concurrency, m.runs, fmt(m.p50), fmt(m.p95), fmt(m.p99), fmt(m.max), Math.round(m.throughput), ...extra];
const mHead = ["measurement", "clients", "runs", "p50 ms", "p95 ms", "p99 ms", "max ms", "ops/s"];
const cpuCell = (x: number | null | undefined) => (x === null || x === undefined || Number.isNaN(x) ? "-" : fmt(x));
/** A table of measurements, with CPU columns (ms per operation) when they were measured. */
function measurementTable(ms: Measurement[]): string {
  const withCpu = ms.some((m) => m.cpu);
  const head = withCpu ? [...mHead, "server CPU", "PG CPU", "client CPU"] : mHead;
  return table(head, ms.map((m) => mRow(m, withCpu ? [cpuCell(m.cpu?.serverMsPerOp), cpuCell(m.cpu?.postgresMsPerOp), cpuCell(m.cpu?.benchMsPerOp)] : [])));
}

export function renderMarkdown(results: SizeResult[]): string {
  const out: string[] = [];
  out.push(`# Benchmark results: fast at ten million executions`);
  out.push("");
  out.push(`Rendered by \`bench/render.ts\` from ${results.map((r) => `\`bench/results/${r.size}.json\``).join(", ") || "no results"}. ` +
    `Each size is a separate run (\`npm run bench -- --size <size>\`); re-running one size replaces only its own section. ` +
    `What the bench does and how to read it: \`docs/scaling.md\` and the header of \`bench/run.ts\`.`);
  out.push("");
  if (!results.length) return out.join("\n") + "\n";

  const latest = [...results].sort((a, b) => String(b.startedAt).localeCompare(String(a.startedAt)))[0];
  out.push(`## Machine`);
  out.push("");
  out.push(table(["", ""], [
    ["CPU", `${latest.machine.cpuModel}, \`nproc\` = ${latest.machine.nproc}`],
    ["memory", `${latest.machine.memoryGiB} GiB`],
    ["kernel", latest.machine.kernel],
    ["PostgreSQL", latest.database?.settings?.server_version ?? "?"],
    ["Deno", `${latest.machine.deno} (V8 ${latest.machine.v8})`],
    ["database", `${latest.database?.kind}${latest.database?.tuned ? ", restarted with the bench settings below" : ""}`],
  ]));
  out.push("");
  out.push(`Everything runs on this one machine: PostgreSQL, the Deno functions server and the load generator (the bench process) share the ${latest.machine.nproc} cores, so HTTP figures include the client's own CPU.`);
  out.push("");
  out.push(`PostgreSQL settings (as read back from the server):`);
  out.push("");
  out.push(table(["setting", "value"], Object.entries(latest.database?.settings ?? {}).map(([k, v]) => [`\`${k}\``, `\`${v}\``])));
  out.push("");
  out.push(`## Runs`);
  out.push("");
  out.push(`Other work shares this machine (other sessions' tests); the load average when each run started is shown, and "machine busy" in the write tables tells how loaded the cores were during each measurement. ` +
    `The CPU probe times fixed work when the run starts (PostgreSQL summing 10M generated integers / 20M steps of a hash in V8, best of 3; bench/lib/machine.ts): ` +
    `runs on different hosts of the same VM type differ, so compare a run's figures with its own naive baselines, and across runs only with the probe beside them.`);
  out.push("");
  out.push(table(["size", "command", "started", "kernel", "load avg at start", "CPU probe (PG / V8 ms)", "took", "product code"], results.map((r) => [r.size, `\`${r.command}\``, r.startedAt,
    r.machine.kernel ?? "?", r.machine.loadAverageAtStart ?? "?",
    r.machine.cpuProbe ? `${r.machine.cpuProbe.postgresMs} / ${r.machine.cpuProbe.v8Ms}` : "not measured",
    r.durationMs ? `${(r.durationMs / 60000).toFixed(1)} min` : "incomplete",
    r.code ? `${r.code.commit} "${r.code.subject}"${r.code.uncommittedProductFiles.length ? ` + uncommitted: ${r.code.uncommittedProductFiles.map((f: string) => f.slice(3)).join(", ")}` : ""}` : "?"])));
  out.push("");

  // Targets across sizes
  out.push(`## Targets (p50 on this machine; the issue states them for 10M rows)`);
  out.push("");
  const names: string[] = [];
  const byName = new Map<string, Map<string, Target>>();
  for (const r of results) {
    for (const t of evaluateTargets(r) as Target[]) {
      const key = t.name.replace(/^list [\d,]+ deep/, "list deepest page (≤ 1M)");
      if (!byName.has(key)) { byName.set(key, new Map()); names.push(key); }
      byName.get(key)!.set(r.size, t);
    }
  }
  out.push(table(["target", "goal", ...results.map((r) => r.size)], names.map((n) => {
    const bySize = byName.get(n)!;
    const goal = [...bySize.values()][0].goal;
    return [n, goal, ...results.map((r) => { const t = bySize.get(r.size); return t ? `${mark(t.met)}: ${t.value}` : ""; })];
  })));
  out.push("");

  // Chart + summary
  out.push(`## p50 latency against table size`);
  out.push("");
  out.push(`![p50 latency against table size](latency.svg)`);
  out.push("");
  out.push(table(["series (p50 ms)", ...results.map((r) => r.size)], series.map((s) => [s.label, ...results.map((r) => { const m = s.pick(r); return m ? fmt(m.p50) : ""; })])));
  out.push("");

  for (const r of results) out.push(renderSize(r));
  return out.join("\n") + "\n";
}

function renderSize(r: SizeResult): string {
  const out: string[] = [];
  out.push(`## ${r.size}: ${Number(r.rows).toLocaleString("en")} executions`);
  out.push("");
  out.push(`\`${r.command}\`, started ${r.startedAt}${r.durationMs ? `, took ${(r.durationMs / 60000).toFixed(1)} min` : ""}.` +
    (r.failures?.length ? ` **Failed scenarios:** ${r.failures.map((f: { scenario: string; error: string }) => `${f.scenario} (${f.error})`).join("; ")}.` : "") +
    (r.options?.skip?.length ? ` **Not measured at this size** (\`--skip\`): ${r.options.skip.join(", ")}; see the other sizes.` : "") +
    (r.durationMs ? "" : " **Incomplete**: the run was stopped before its end; a scenario without a section below did not run."));
  out.push("");
  if (r.seed) {
    const s = r.seed;
    out.push(`### Seeding`);
    out.push("");
    out.push(`1,000 users, 10,000 workflows, ${Number(s.rows).toLocaleString("en")} executions in ${s.chunks.length} statement(s) of ≤ 1M rows, ` +
      `${s.mode === "triggers" ? "with the product's triggers firing (rollups folded per statement)" : "with triggers off (session_replication_role = replica), rollups rebuilt after"}` +
      `${s.reused ? " (database reused from an earlier run: times are that run's)" : ""}.`);
    out.push("");
    out.push(table(["step", "value"], [
      ["executions inserted", `${(s.executionsMs / 1000).toFixed(1)} s (${Number(s.rowsPerSecond).toLocaleString("en")} rows/s)`],
      ["per chunk", s.chunks.map((c: { ms: number }) => `${(c.ms / 1000).toFixed(1)} s`).join(", ")],
      ...(s.rebuildRollupsMs !== null ? [["rebuild rollups", `${(s.rebuildRollupsMs / 1000).toFixed(1)} s`]] : []),
      ["vacuum (analyze)", `${(s.vacuumAnalyzeMs / 1000).toFixed(1)} s`],
      ["total", `${(s.totalMs / 1000).toFixed(1)} s`],
      ["heap", gib(s.tableBytes)],
      ["heap + indexes + toast", gib(s.totalRelationBytes)],
      ...Object.entries(s.indexBytes).map(([k, v]) => [`index \`${k}\``, mib(v as number)]),
      ["rollup rows / histogram bin rows", `${Number(s.rollupRows).toLocaleString("en")} / ${Number(s.binRows).toLocaleString("en")}`],
      ["rollups vs direct aggregate after seeding", rollupCell(r.rollupCheckAfterSeed)],
      ["rollups vs direct aggregate at the end", rollupCell(r.rollupCheckAtEnd)],
    ]));
    out.push("");
    if (r.cast) {
      out.push(`Heaviest user: ${Number(r.cast.heavyUser.rows).toLocaleString("en")} executions; heaviest workflow: ${Number(r.cast.heavyWorkflow.rows).toLocaleString("en")}; median user: ${Number(r.cast.lightUser.rows).toLocaleString("en")}. Functions server pool: ${r.cast.serverPoolSize} connections.`);
      out.push("");
    }
  }
  if (r.writes) {
    out.push(`### Create and update`);
    out.push("");
    out.push(`http = POST to the functions on Deno (JWT, zod, one transaction with role + claims, RLS, the service's reads); service = the same calls in-process; floor = the repository's single INSERT/UPDATE through postgres.js as superuser in autocommit; pgbench = the same statements from \`bench/pgbench/*.sql\` (\`-M extended\`). Warm-up calls are not counted. Ratio = p50 / floor p50; share = throughput / floor throughput.`);
    out.push("");
    const ms: Measurement[] = r.writes.measurements;
    const rows = ms.map((m) => {
      const [op] = m.name.split(" ");
      const suffix = m.name.includes("(hot workflow)") ? " (hot workflow)" : m.name.includes("(one owner)") ? " (one owner)" : "";
      const floor = ms.find((f) => f.name === `${op} floor (postgres.js)${suffix}` && f.concurrency === m.concurrency);
      const c = m.cpu;
      return mRow(m, [floor ? `${(m.p50 / floor.p50).toFixed(2)}x` : "", floor ? `${Math.round(m.throughput / floor.throughput * 100)}%` : "",
        cpuCell(c?.serverMsPerOp), cpuCell(c?.postgresMsPerOp), cpuCell(c?.benchMsPerOp), c ? `${Math.round(c.machineBusy * 100)}%` : ""]);
    });
    out.push(`CPU columns: milliseconds of CPU per operation in the functions server (Deno), in all PostgreSQL processes, and in the load generator (this bench process; for pgbench its own CPU is not counted), and how busy all ${r.machine.nproc} cores were.`);
    out.push("");
    out.push(table([...mHead, "ratio", "share", "server CPU", "PG CPU", "client CPU", "machine busy"], rows));
    out.push("");
  }
  if (r.writeCost) {
    out.push(`### The write cost of exact statistics`);
    out.push("");
    out.push(`pgbench (\`-M extended\`) running the repository's create (\`bench/pgbench/write-cost-create.sql\`): into a plain table of the same shape and indexes without triggers or foreign keys (${Number(r.writeCost.plainRows).toLocaleString("en")} rows), into ours with every trigger disabled, with one trigger at a time, and as it runs (the whole schema; and every client into one workflow). Ratio = p50 / the plain table's p50; share = throughput / the plain table's; PG CPU = milliseconds of PostgreSQL CPU per insert.`);
    out.push("");
    const ms: Measurement[] = r.writeCost.measurements;
    out.push(table([...mHead, "ratio", "share", "PG CPU"], ms.map((m) => {
      const plainRun = ms.find((f) => f.name === "write cost: plain table, no triggers" && f.concurrency === m.concurrency);
      return mRow(m, [plainRun ? `${(m.p50 / plainRun.p50).toFixed(2)}x` : "", plainRun ? `${Math.round(m.throughput / plainRun.throughput * 100)}%` : "", cpuCell(m.cpu?.postgresMsPerOp)]);
    })));
    out.push("");
  }
  if (r.list) {
    out.push(`### List (limit ${r.list.limit})`);
    out.push("");
    out.push(`Depths: heaviest user ${Number(r.list.depths.user).toLocaleString("en")}, all ${Number(r.list.depths.all).toLocaleString("en")} rows. Keyset page at depth equals the OFFSET page: ${Object.entries(r.list.deepPagesAgree).map(([k, v]) => `${k} ${v ? "yes" : "**no**"}`).join(", ")}.`);
    out.push("");
    out.push(measurementTable(r.list.measurements.filter((m: Measurement) => !m.name.startsWith("stability"))));
    out.push("");
    const stability: { sample: number; case: string; p50: number }[] = r.list.stability ?? [];
    if (stability.length) {
      const samples = [...new Set(stability.map((x) => x.sample))];
      const cases = [...new Set(stability.map((x) => x.case))];
      out.push(`Plan stability: p50 (ms) of the same first pages after each of ${samples.length} fresh \`ANALYZE\` samples (3-10 runs each):`);
      out.push("");
      out.push(table(["case", ...samples.map((n) => `ANALYZE #${n}`)], cases.map((c) => [c,
        ...samples.map((n) => fmt(stability.find((x) => x.case === c && x.sample === n)?.p50 ?? NaN))])));
      out.push("");
    }
  }
  if (r.stats) {
    out.push(`### Stats`);
    out.push("");
    out.push(`CPU columns (where measured): milliseconds per request in the functions server, in PostgreSQL and in the client (the bench process: for "naive" that is where the rows are aggregated).`);
    out.push("");
    out.push(`ours = \`execution_stats_summary\` through the service (rollups without a time range, covering index with one); naive = the matching rows fetched under the same RLS and aggregated in TypeScript. Rows in scope: ${Object.entries(r.stats.scopes).map(([k, v]) => `${k} ${Number((v as { rows: number }).rows).toLocaleString("en")}`).join(", ")}.`);
    out.push("");
    out.push(measurementTable(r.stats.measurements));
    out.push("");
    out.push(`Correctness against an exact aggregate over the rows (counts, success rate and average must be equal; p50/p95 within 2% of nearest-rank):`);
    out.push("");
    out.push(table(["scope", "range", "source", "rows", "p50 got / exact", "p95 got / exact", "result"], r.stats.checks.map((c: {
      scope: string; range: string; source: string; total: number; ok: boolean; problems: string[];
      p50: { got: number; exact: number; error: number }; p95: { got: number; exact: number; error: number };
    }) => [c.scope, c.range, c.source, Number(c.total).toLocaleString("en"),
      `${c.p50.got} / ${c.p50.exact} (${c.p50.error === null ? "-" : (c.p50.error * 100).toFixed(2) + "%"})`,
      `${c.p95.got} / ${c.p95.exact} (${c.p95.error === null ? "-" : (c.p95.error * 100).toFixed(2) + "%"})`,
      c.ok ? "ok" : `**${c.problems.join("; ")}**`])));
    out.push("");
  }
  if (r.sweeper) {
    const s = r.sweeper;
    // Results from before the per-phase report have report.timedOut.
    const timedOut = s.report.deadlines?.timedOut ?? s.report.timedOut;
    out.push(`### Timeout sweeper`);
    out.push("");
    out.push(`\`sweep()\` (shared/sweeper.ts, temporal: null, batch ${s.batchSize}) over ${Number(s.overdue).toLocaleString("en")} overdue running executions (inserted in ${(s.insertOverdueMs / 1000).toFixed(1)} s), while ${s.writers} writers create and complete executions over HTTP.`);
    out.push("");
    out.push(table(["", ""], [
      ["sweep time", `${(s.sweepMs / 1000).toFixed(2)} s (${Math.round(timedOut / s.sweepMs * 1000).toLocaleString("en")} rows/s)`],
      ["timed out / still overdue after", `${Number(timedOut).toLocaleString("en")} / ${s.remainingOverdue}`],
      ["batches (transactions)", `${s.batches}, p50 ${fmt(s.batchMs.p50)} ms, max ${fmt(s.batchMs.max)} ms`],
    ]));
    out.push("");
    out.push(table(mHead, [mRow(s.writersBefore), mRow(s.writersDuring)]));
    out.push("");
  }
  if (r.bulk) {
    const { bulk, naive } = r.bulk;
    out.push(`### Bulk cancel by filter`);
    out.push("");
    out.push(`${Number(r.bulk.matched).toLocaleString("en")} running executions of one workflow of the heaviest user (acted on in Temporal; no Temporal configured, so the sweeper's stop phase confirms each stop at once), cancelled ` +
      `by \`POST /executions-bulk\` (snapshot, then batches of 1000 as the owner with \`skip locked\`, beside the stop phase) and, on rows of their own, by the naive way: ` +
      `one \`update ... set status = 'cancelled' where workflow_id = ...\` as the owner, then the same stop phase; ${r.bulk.writers} writers create executions over HTTP throughout.`);
    out.push("");
    out.push(table(["", "bulk action", "naive: one UPDATE"], [
      ["all rows terminal", `${(bulk.allTerminalMs / 1000).toFixed(2)} s`, `${(naive.allTerminalMs / 1000).toFixed(2)} s`],
      ["the statement(s)", `accepted in ${fmt(bulk.acceptMs)} ms, processed in ${(bulk.processedMs / 1000).toFixed(2)} s (${bulk.batches} transactions)`, `${(naive.updateMs / 1000).toFixed(2)} s (1 transaction: every row locked until the end)`],
      ["creates p50 / max", `${fmt(bulk.writers.p50)} / ${fmt(bulk.writers.max)} ms`, `${fmt(naive.writers.p50)} / ${fmt(naive.writers.max)} ms`],
    ]));
    out.push("");
    out.push(table(mHead, [mRow(r.bulk.writersBefore), mRow(bulk.writers), mRow(naive.writers)]));
    out.push("");
    if (r.bulk.counts?.length) {
      out.push("The count a bulk request makes (and its dry run answers) for a tag or metadata filter over the heaviest user's rows, median of 5, as the owner:");
      out.push("");
      out.push(table(["filter", "matched", "from the side table's index", "naive: every row of the owner"],
        r.bulk.counts.map((c: { filter: string; matched: number; sideTableMs: number; everyRowMs: number }) =>
          [`\`${c.filter}\``, Number(c.matched).toLocaleString("en"), `${fmt(c.sideTableMs)} ms`, `${fmt(c.everyRowMs)} ms`])));
      out.push("");
    }
  }
  if (r.retention) {
    const { batched, naive } = r.retention;
    out.push(`### Retention (pruning old terminal executions)`);
    out.push("");
    out.push(`${Number(r.retention.pruned).toLocaleString("en")} terminal executions started 400-430 days ago (inserted in ${(r.retention.insertMs / 2000).toFixed(1)} s per side) pruned with a ${r.retention.retentionDays}-day period, ` +
      `both sides under \`execution_tracker.prune\` (the statistics keep the runs), while ${r.retention.writers} writers create executions over HTTP.`);
    out.push("");
    out.push(table(["", "the sweeper (batches of " + batched.batchSize + ")", "naive: one `delete ... where started_at < x`"], [
      ["time", `${(batched.ms / 1000).toFixed(2)} s over ${batched.sweeps} sweep(s)`, `${(naive.ms / 1000).toFixed(2)} s`],
      ["rows/s", `${Number(batched.rowsPerSecond).toLocaleString("en")} (the deletes alone: ${Number(batched.deleteRowsPerSecond).toLocaleString("en")})`, Number(naive.rowsPerSecond).toLocaleString("en")],
      ["stat deltas folded by the sweeps", Number(batched.folded).toLocaleString("en"), "-"],
      ["transactions", `${batched.batches}, p50 ${fmt(batched.batchMs.p50)} ms, max ${fmt(batched.batchMs.max)} ms`, "1 (every row locked until the end)"],
      ["creates p50 / max", `${fmt(batched.writers.p50)} / ${fmt(batched.writers.max)} ms`, `${fmt(naive.writers.p50)} / ${fmt(naive.writers.max)} ms`],
      ["left", String(batched.left), String(naive.left)],
    ]));
    out.push("");
    out.push(table(mHead, [mRow(r.retention.writersBefore), mRow(batched.writers), mRow(naive.writers)]));
    out.push("");
  }
  if (r.tags) {
    out.push(`### Lists by tag and metadata (limit ${r.tags.limit})`);
    out.push("");
    out.push("ours = the service's list: the side table's keyset index (`execution_tags`, `execution_metadata_entries`), each entry's row by primary key. " +
      "naive (plain filter) = the same select with `tag = any(tags)` / `metadata->>key = value` on the rows of the keyset index; naive (GIN) = `@>` with a GIN index on `tags` / `metadata jsonb_path_ops` " +
      `(built for the scenario in ${(r.tags.ginBuildMs / 1000).toFixed(1)} s, then dropped). Stats of a tag filter are aggregated from the matching rows (exact, not rollup-fast). ` +
      `Matching rows and depths: ${Object.entries(r.tags.cases).map(([k, v]) => `${k} ${Number((v as { matching: number }).matching).toLocaleString("en")} (deep ${Number((v as { depth: number }).depth).toLocaleString("en")})`).join(", ")}. ` +
      `Deep page equals the plain filter's: ${Object.entries(r.tags.pagesAgree).map(([k, v]) => `${k} ${v ? "yes" : "**no**"}`).join(", ")}.`);
    out.push("");
    out.push(measurementTable(r.tags.measurements));
    out.push("");
  }
  if (r.alerts) {
    const a = r.alerts;
    const f = a.fanOut;
    out.push(`### Failure alerts`);
    out.push("");
    out.push(`${Number(a.failures).toLocaleString("en")} executions of one user fail (updates of 100 rows) with one endpoint on 127.0.0.1 whose receiver is down for the first ${a.receiverDownMs / 1000} s; the deliverer (shared/alerts/deliver.ts, concurrency 32) sends from the outbox, the receiver verifies each signature and dedupes by delivery id. Beside it the naive way: the writer POSTs each failure inline, one by one, through the same outage.`);
    out.push("");
    out.push(table(["", "outbox + deliverer", "naive (inline, one by one)"], [
      ["delivered (unique) / lost", `${f.uniqueDelivered} / 0 (${f.exactlyOnce ? "exactly once" : "**not exactly once**"}; ${f.duplicates} duplicate requests, ${f.failedAttempts} failed attempts while down, ${f.invalidSignatures} bad signatures)`, `${a.naive.sent} / **${a.naive.lost}**`],
      ["writes of the failures", `${fmt(f.failMs / 1000)} s`, `${fmt(a.naive.totalMs / 1000)} s (${fmt(a.naive.perFailureMs)} ms per failure, sends included)`],
      ["all delivered", `${fmt(f.drainMs / 1000)} s after the first failure, ${fmt(f.drainAfterUpMs / 1000)} s after the receiver came up (${Number(f.deliveriesPerSecondAfterUp).toLocaleString("en")}/s)`, "never (what failed is gone)"],
    ]));
    out.push("");
    out.push("The alert trigger's cost on a failing single-row update (1 client, prepared, synchronous_commit off):");
    out.push("");
    out.push(table(mHead, a.writeCost.map((m: Measurement) => mRow(m))));
    out.push("");
  }
  if (r.memory) {
    const m = r.memory;
    out.push(`### Memory of the serving Deno process`);
    out.push("");
    out.push(`${Number(m.requests).toLocaleString("en")} requests, ${m.clients} clients (${m.mix}), ${Math.round(m.requests / m.wallMs * 1000)} req/s. RSS (MiB) every ${Number(m.samples[1]?.requests ?? 0).toLocaleString("en")} requests: ${m.samples.map((s: { rssMiB: number }) => Math.round(s.rssMiB)).join(", ")}. ` +
      `After warm-up ${m.startMiB} MiB, end ${m.endMiB} MiB, max ${m.maxMiB} MiB${m.secondHalfMiB ? `; second half ${m.secondHalfMiB.min}-${m.secondHalfMiB.max} MiB` : ""}; second-half slope ${m.slopeMiBPer10k} MiB per 10k requests: ${rssFlatness(m.samples).flat ? "flat" : "**growing**"}.`);
    out.push("");
  }
  if (r.plans) {
    out.push(`### Query plans (auto_explain of the product's statements, ANALYZE + BUFFERS)`);
    out.push("");
    for (const [name, text] of Object.entries(r.plans as Record<string, string>)) {
      out.push(`<details><summary>${name}</summary>\n\n\`\`\`\n${text.trim()}\n\`\`\`\n\n</details>`);
    }
    out.push("");
  }
  return out.join("\n");
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  renderAll();
  console.log("rendered bench/RESULTS.md and bench/latency.svg");
}

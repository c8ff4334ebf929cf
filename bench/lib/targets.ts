/** The issue's targets, evaluated from one size's results (they are stated for 10M rows). */
import type { Measurement } from "./measure.ts";

export interface Target {
  name: string;
  goal: string;
  value: string;
  met: boolean | null;
}

// deno-lint-ignore no-explicit-any
type SizeResult = any;

export const find = (ms: Measurement[] | undefined, name: string, concurrency?: number) =>
  ms?.find((m) => m.name === name && (concurrency === undefined || m.concurrency === concurrency));

export const findPrefix = (ms: Measurement[] | undefined, prefix: string, suffix: string) =>
  ms?.find((m) => m.name.startsWith(prefix) && m.name.endsWith(suffix));

export function evaluateTargets(r: SizeResult): Target[] {
  const targets: Target[] = [];
  const w: Measurement[] | undefined = r.writes?.measurements;
  for (const op of ["create", "update"]) {
    const http1 = find(w, `${op} http`, 1);
    const floor1 = find(w, `${op} floor (postgres.js)`, 1);
    if (http1 && floor1) {
      const ratio = http1.p50 / floor1.p50;
      targets.push({ name: `HTTP ${op} p50 at 1 client`, goal: "≤ 2x the raw-SQL floor (postgres.js)", value: `${fmt(http1.p50)} ms vs ${fmt(floor1.p50)} ms = ${ratio.toFixed(2)}x`, met: ratio <= 2 });
    }
    const http32 = find(w, `${op} http`, 32);
    const floor32 = find(w, `${op} floor (postgres.js)`, 32);
    if (http32 && floor32) {
      const share = http32.throughput / floor32.throughput;
      targets.push({ name: `HTTP ${op} throughput at 32 clients`, goal: "≥ 60% of the floor's", value: `${Math.round(http32.throughput)}/s vs ${Math.round(floor32.throughput)}/s = ${(share * 100).toFixed(0)}%`, met: share >= 0.6 });
    }
  }
  const l: Measurement[] | undefined = r.list?.measurements;
  const first = find(l, "list first page, heaviest user: keyset (service)");
  const firstHttp = find(l, "list first page, heaviest user: keyset (HTTP)");
  const firstAll = find(l, "list first page, all (service role): keyset (service)");
  if (first) targets.push({ name: "list first page (heaviest user), service path", goal: "< 5 ms p50", value: `${fmt(first.p50)} ms`, met: first.p50 < 5 });
  if (firstHttp) targets.push({ name: "list first page (heaviest user), over HTTP", goal: "< 5 ms p50", value: `${fmt(firstHttp.p50)} ms`, met: firstHttp.p50 < 5 });
  if (firstAll) targets.push({ name: "list first page (all, service role), service path", goal: "< 5 ms p50", value: `${fmt(firstAll.p50)} ms`, met: firstAll.p50 < 5 });
  for (const [key, label] of [["user", "heaviest user"], ["all", "all (service role)"]]) {
    const depth = r.list?.depths?.[key];
    const deep = findPrefix(l, "list page ", `deep, ${label}: keyset (service)`);
    if (deep && depth !== undefined) {
      const full = depth >= 1_000_000;
      targets.push({ name: `list ${Number(depth).toLocaleString("en")} deep (${label}), service path`, goal: `< 5 ms p50${full ? "" : " (1M deep needs more rows)"}`, value: `${fmt(deep.p50)} ms`, met: deep.p50 < 5 });
    }
  }
  // Server CPU per request (user + system time of the Deno process, /proc) under a steady load
  // of each kind at 8 clients: list and stats from the list scenario, create and update from writes.
  const steady: [string, Measurement | undefined][] = [
    ["list first page", find(l, `server CPU: list first page over HTTP, heaviest user, steady load`)],
    ["stats", find(l, `server CPU: stats over HTTP, heaviest user, steady load`)],
    ["create", find(w, "create http", 8)],
    ["update", find(w, "update http", 8)],
  ];
  for (const [kind, m] of steady) {
    if (!m?.cpu) continue;
    targets.push({
      name: `server CPU per request: ${kind} over HTTP (8 clients)`,
      goal: "< 0.4 ms",
      value: `${fmt(m.cpu.serverMsPerOp)} ms (PostgreSQL ${fmt(m.cpu.postgresMsPerOp)} ms; p50 ${fmt(m.p50)} ms)`,
      met: m.cpu.serverMsPerOp < 0.4,
    });
  }
  // The write cost of exact statistics: a create on our schema within 2x a plain insert.
  const wc: Measurement[] | undefined = r.writeCost?.measurements;
  for (const [variant, label] of [["whole schema", "create"], ["whole schema, hot workflow", "create into one workflow"]]) {
    const plain1 = find(wc, "write cost: plain table, no triggers", 1);
    const ours1 = find(wc, `write cost: ${variant}`, 1);
    if (plain1 && ours1 && variant === "whole schema") {
      const ratio = ours1.p50 / plain1.p50;
      targets.push({ name: `write cost: ${label} p50 at 1 client (pgbench)`, goal: "≤ 2x a plain insert", value: `${fmt(ours1.p50)} ms vs ${fmt(plain1.p50)} ms = ${ratio.toFixed(2)}x (PG CPU ${fmt(ours1.cpu?.postgresMsPerOp ?? NaN)} vs ${fmt(plain1.cpu?.postgresMsPerOp ?? NaN)} ms)`, met: ratio <= 2 });
    }
    const plain32 = find(wc, "write cost: plain table, no triggers", 32);
    const ours32 = find(wc, `write cost: ${variant}`, 32);
    if (plain32 && ours32) {
      const ratio = plain32.throughput / ours32.throughput;
      targets.push({ name: `write cost: ${label} throughput at 32 clients (pgbench)`, goal: "≥ half a plain insert's", value: `${Math.round(ours32.throughput)}/s vs ${Math.round(plain32.throughput)}/s = ${ratio.toFixed(2)}x slower (PG CPU ${fmt(ours32.cpu?.postgresMsPerOp ?? NaN)} vs ${fmt(plain32.cpu?.postgresMsPerOp ?? NaN)} ms)`, met: ratio <= 2 });
    }
  }
  // Lists filtered by a tag or a metadata pair (20261202000100's side tables): first and deep page.
  const tg: Measurement[] | undefined = r.tags?.measurements;
  for (const filter of ["tag=env:prod", "tag=priority:high", "metadata.plan=enterprise"]) {
    for (const scope of ["heaviest user", "all (service role)"]) {
      const first = find(tg, `tags list first page, ${filter}, ${scope}: ours (service)`);
      const deep = findPrefix(tg, "tags list page ", `deep, ${filter}, ${scope}: ours (service)`);
      if (first) targets.push({ name: `list first page, ${filter} (${scope}), service path`, goal: "< 5 ms p50", value: `${fmt(first.p50)} ms`, met: first.p50 < 5 });
      if (deep) targets.push({ name: `list ${deep.name.match(/page ([\d,]+) deep/)?.[1] ?? "?"} deep, ${filter} (${scope}), service path`, goal: "< 5 ms p50", value: `${fmt(deep.p50)} ms`, met: deep.p50 < 5 });
    }
  }
  const s: Measurement[] | undefined = r.stats?.measurements;
  const statsTargets: [string, string, number][] = [
    ["stats heaviest user: ours (service)", "stats, one user (heaviest)", 10],
    ["stats heaviest workflow (owner): ours (service)", "stats, one workflow (as its owner)", 10],
    ["stats heaviest workflow (service role): ours (service)", "stats, one workflow (service role)", 10],
    ["stats all (service role): ours (service)", "stats, all executions (service role)", 100],
    // Ranges and series (issue 11, 20261202000200: hourly and daily rollups plus the unfolded deltas).
    ["stats heaviest user, last 24h: ours (service)", "stats, one user (heaviest), last 24 hours", 10],
    ["stats heaviest user, last 7 days: ours (service)", "stats, one user (heaviest), last 7 days", 10],
    ["stats heaviest workflow (owner), last 7 days: ours (service)", "stats, one workflow (as its owner), last 7 days", 10],
    ["stats heaviest workflow (service role), last 7 days: ours (service)", "stats, one workflow (service role), last 7 days", 10],
    ["stats all (service role), last 7 days: ours (service)", "stats, all executions (service role), last 7 days", 50],
    ["series 30 days daily heaviest user: ours (service)", "series, 30 daily buckets, one user (heaviest)", 20],
    ["series 24 hours hourly heaviest user: ours (service)", "series, 24 hourly buckets, one user (heaviest)", 20],
    ["series 30 days daily heaviest workflow (owner): ours (service)", "series, 30 daily buckets, one workflow", 20],
    ["series 24 hours hourly heaviest workflow (owner): ours (service)", "series, 24 hourly buckets, one workflow", 20],
  ];
  for (const [name, label, limit] of statsTargets) {
    const m = find(s, name);
    if (m) targets.push({ name: label, goal: `< ${limit} ms p50`, value: `${fmt(m.p50)} ms`, met: m.p50 < limit });
  }
  if (r.sweeper) {
    targets.push({ name: `sweeper, ${Number(r.sweeper.overdue).toLocaleString("en")} overdue`, goal: "< 10 s", value: `${(r.sweeper.sweepMs / 1000).toFixed(2)} s, ${r.sweeper.batches} batches`, met: r.sweeper.sweepMs < 10_000 && r.sweeper.remainingOverdue === 0 });
    targets.push({ name: "writers during the sweep (max latency)", goal: "not blocked (max < 1 s)", value: `max ${fmt(r.sweeper.writersDuring.max)} ms (p50 ${fmt(r.sweeper.writersDuring.p50)}; before: max ${fmt(r.sweeper.writersBefore.max)} ms)`, met: r.sweeper.writersDuring.max < 1000 });
  }
  if (r.bulk) {
    const { bulk, naive } = r.bulk;
    targets.push({
      name: `bulk cancel of ${Number(r.bulk.matched).toLocaleString("en")} matching executions: all terminal`,
      goal: "< 20 s",
      value: `${fmt(bulk.allTerminalMs / 1000)} s (processed in ${fmt(bulk.processedMs / 1000)} s, ${bulk.batches} batches; accepted in ${fmt(bulk.acceptMs)} ms); naive one UPDATE: ${fmt(naive.allTerminalMs / 1000)} s`,
      met: bulk.allTerminalMs < 20_000,
    });
    targets.push({
      name: "creates during the bulk cancel (max latency)",
      goal: "not blocked (max < 1 s)",
      value: `bulk: max ${fmt(bulk.writers.max)} ms (p50 ${fmt(bulk.writers.p50)}); naive: max ${fmt(naive.writers.max)} ms (p50 ${fmt(naive.writers.p50)}); before: max ${fmt(r.bulk.writersBefore.max)} ms`,
      met: bulk.writers.max < 1000,
    });
  }
  if (r.retention) {
    const { batched, naive } = r.retention;
    targets.push({
      name: `retention: prune ${Number(r.retention.pruned).toLocaleString("en")} old terminal rows in bounded batches`,
      goal: "batches of ≤ 1,000 rows through an index, none over 1 s, nothing left",
      value: `${fmt(batched.ms / 1000)} s (${Number(batched.rowsPerSecond).toLocaleString("en")} rows/s, ${batched.batches} batches, p50 ${fmt(batched.batchMs.p50)} ms, max ${fmt(batched.batchMs.max)} ms); ` +
        `naive one statement ${fmt(naive.ms / 1000)} s (${Number(naive.rowsPerSecond).toLocaleString("en")} rows/s)`,
      met: batched.batchMs.max < 1000 && batched.left === 0,
    });
    targets.push({
      name: "creates during pruning (max latency)",
      goal: "not blocked (max < 1 s)",
      value: `batched: max ${fmt(batched.writers.max)} ms (p50 ${fmt(batched.writers.p50)}); naive: max ${fmt(naive.writers.max)} ms (p50 ${fmt(naive.writers.p50)}); before: max ${fmt(r.retention.writersBefore.max)} ms`,
      met: batched.writers.max < 1000,
    });
  }
  if (r.memory) {
    const m = r.memory;
    const f = rssFlatness(m.samples);
    targets.push({
      name: `RSS over ${Number(m.requests).toLocaleString("en")} requests`,
      goal: "flat: no new high above 5% over the second quarter's peak",
      value: `${Math.round(m.startMiB)} → ${Math.round(m.endMiB)} MiB (max ${Math.round(m.maxMiB)}; peak ${Math.round(f.quarterPeak)} MiB at 25-50% of the requests, ${Math.round(f.laterPeak)} MiB after)`,
      met: f.flat,
    });
  }
  if (r.stats?.checks) {
    const bad = r.stats.checks.filter((c: { ok: boolean }) => !c.ok).length;
    targets.push({ name: "stats equal an exact aggregate (percentiles within 2%)", goal: "all checks pass", value: `${r.stats.checks.length - bad}/${r.stats.checks.length}`, met: bad === 0 });
  }
  for (const [key, label] of [["rollupCheckAfterSeed", "after seeding"], ["rollupCheckAtEnd", "at the end"]]) {
    const c = r[key];
    if (c) {
      targets.push({
        name: `rollups equal a direct aggregate ${label}`,
        goal: "0 mismatches",
        value: `${c.rollupMismatches} rollup / ${c.binMismatches} bin${c.ownerBinMismatches === null || c.ownerBinMismatches === undefined ? "" : ` / ${c.ownerBinMismatches} owner-bin`} rows differ`,
        met: c.rollupMismatches === 0 && c.binMismatches === 0 && !c.ownerBinMismatches,
      });
    }
  }
  const alerts = r.alerts?.fanOut;
  if (alerts) {
    targets.push({
      name: `alert fan-out: ${Number(r.alerts.failures).toLocaleString("en")} failures, receiver down for ${r.alerts.receiverDownMs / 1000} s`,
      goal: "all delivered exactly once (receiver-side dedup by delivery id)",
      value: `${alerts.uniqueDelivered} unique of ${alerts.receivedRequests} requests, ${alerts.deliveredRows} rows delivered, ${alerts.invalidSignatures} bad signatures; drained ${fmt(alerts.drainMs / 1000)} s after the first failure (${fmt(alerts.drainAfterUpMs / 1000)} s after the receiver came up)`,
      met: alerts.exactlyOnce && alerts.invalidSignatures === 0,
    });
  }
  return targets;
}

export function fmt(x: number): string {
  if (!Number.isFinite(x)) return String(x);
  return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x.toFixed(2);
}

/**
 * V8 sizes its heap in steps during the first tens of thousands of requests and RSS dips
 * when it shrinks, so "flat" = after the first quarter of the requests, RSS never rises more
 * than 5% above the peak it reached in the second quarter (a leak keeps setting new highs).
 */
export function rssFlatness(samples: { requests: number; rssMiB: number }[]) {
  const total = samples[samples.length - 1]?.requests ?? 0;
  const quarter = samples.filter((x) => x.requests >= total * 0.25 && x.requests < total * 0.5).map((x) => x.rssMiB);
  const later = samples.filter((x) => x.requests >= total * 0.5).map((x) => x.rssMiB);
  const quarterPeak = Math.max(...quarter);
  const laterPeak = Math.max(...later);
  return { quarterPeak, laterPeak, flat: quarter.length > 0 && later.length > 0 && laterPeak <= quarterPeak * 1.05 };
}

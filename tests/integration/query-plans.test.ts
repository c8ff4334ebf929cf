/**
 * Query plans of the list queries, on 50k executions: the statements the service's
 * listExecutions sends (shared/repository/executions.ts), captured from postgres.js and explained as the
 * same caller, so the RLS predicates are part of the plan. Each list shape reads its keyset
 * index in order (idx_workflow_executions_created_by / _workflow / _started) and stops after
 * its page: no Sort, no Seq Scan, at any depth. The observed plans go to docs/query-plans.md.
 *
 * A status filter reads idx_workflow_executions_user_status also for `authenticated` callers:
 * the status is a domain over text, and text equality is LEAKPROOF, so PostgreSQL may use it in
 * an index condition ahead of the RLS policy (a security barrier). With an enum it could not
 * (enum_eq is not leakproof) and would filter the user's rows one by one.
 *
 * A database of its own (seeded set-based as superuser, then ANALYZEd), so other test files
 * neither see these rows nor move the planner's statistics.
 */
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import postgres from "postgres";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeCursor } from "../../shared/cursor.ts";
import { withCaller } from "../../shared/db.ts";
import { createExecutionService } from "../../shared/service.ts";
import type { Caller, ExecutionPage, ListExecutionsFilter } from "../../shared/types.ts";
import {
  connect,
  createMigratedDatabase,
  databaseUrl,
  dropDatabase,
  REPO_ROOT,
  serviceCaller,
  type Sql,
  userCaller,
} from "../support/postgres.ts";

const TOTAL = 50_000;
const HEAVY = 10_000; // rows of user 1, whose lists are explained (500 pages of 20)
const USERS = 200; // user 1 and 199 others sharing the rest
const PAGE = 20;

const dbName = `et_query_plans_${randomUUID().slice(0, 8)}`;
let url: string;
let admin: Sql;
let version: string;
let heavyUser: string;
let heavyWorkflow: string;
let smallUser: string;

/** Every statement sent through `traced`, as postgres.js sends it (text + parameters). */
const captured: { query: string; parameters: unknown[] }[] = [];
let traced: Sql;

beforeAll(async () => {
  url = await createMigratedDatabase(databaseUrl(), dbName);
  admin = connect(url, { max: 2 });
  traced = connect(url, { max: 1, debug: (_id: number, query: string, parameters: unknown[]) => captured.push({ query, parameters }) });
  [{ version }] = await admin`select split_part(current_setting('server_version'), ' ', 1) as version`;

  const started = Date.now();
  await admin.begin(async (tx) => {
    await tx`
      insert into auth.users (id, email)
      select md5('qp-user-' || u)::uuid, 'qp' || u || '@test.local' from generate_series(1, ${USERS}) u`;
    await tx`
      insert into public.workflows (id, name, created_by)
      select md5('qp-wf-' || u || '-' || w)::uuid, 'workflow ' || w, md5('qp-user-' || u)::uuid
        from generate_series(1, ${USERS}) u, generate_series(1, 3) w`;
    // Row i: user 1 owns every (TOTAL / HEAVY)-th row, the others share the rest; statuses
    // mostly terminal, as in production; started over the last ~3 weeks. Stored in shuffled
    // order, as a table in steady state is (the sweeper's retention deletes old rows and new
    // ones fill the freed space): the heap is not in started_at order. On a freshly appended,
    // time-ordered heap the planner may prefer reading a large tenant's page from
    // idx_workflow_executions_started with a filter, which is as cheap (see docs/query-plans.md).
    await tx`
      insert into public.workflow_executions
        (workflow_id, created_by, temporal_workflow_id, status, started_at, duration_ms, tags, metadata)
      select md5('qp-wf-' || u || '-' || (1 + i % 3))::uuid, md5('qp-user-' || u)::uuid,
             -- A pending row's Temporal id is derived from its own id (ET012 for a chosen one).
             case when s.status = 'pending' then null else 'qp-' || i end,
             s.status, now() - i * interval '37 seconds' - (i % 1000) * interval '1 millisecond',
             case when s.status in ('pending', 'running') then null else 100 + abs(hashtext(i::text)) % 600000 end,
             -- Tags on every 10th row, metadata on every 4th (20261202000100's side tables fill by trigger).
             case when i % 10 = 0 then array['qp-even', 'qp-tenth'] else '{}' end,
             case when i % 4 = 0 then jsonb_build_object('tenant', 'acme') else '{}'::jsonb end
        from generate_series(1, ${TOTAL}) i,
             lateral (select case when i % ${TOTAL / HEAVY} = 0 then 1 else 2 + (i / ${TOTAL / HEAVY}) % ${USERS - 1} end) o(u),
             lateral (select (case when h < 70 then 'completed' when h < 80 then 'failed' when h < 90 then 'running'
                                   when h < 95 then 'pending' when h < 98 then 'cancelled' else 'timed_out' end)::public.execution_status
                        from (select abs(hashtext('s' || i)) % 100 as h) x) s(status)
       order by md5(i::text)`;
  });
  await admin`analyze auth.users, public.workflows, public.workflow_executions, public.execution_tags, public.execution_metadata_entries`;
  if (process.env.ET_TEST_VERBOSE) console.log(`seeded ${TOTAL} executions in ${Date.now() - started}ms`);
  [{ heavyUser, heavyWorkflow, smallUser }] = await admin`
    select md5('qp-user-1')::uuid as "heavyUser", md5('qp-wf-1-2')::uuid as "heavyWorkflow", md5('qp-user-8')::uuid as "smallUser"`;
}, 180_000);

afterAll(async () => {
  await traced?.end({ timeout: 1 });
  await admin?.end({ timeout: 1 });
  if (process.env.ET_KEEP_QUERY_PLANS_DB) console.log(`kept ${url}`);
  else await dropDatabase(databaseUrl(), dbName);
});

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  "Actual Rows"?: number;
  "Rows Removed by Filter"?: number;
  Plans?: PlanNode[];
  [key: string]: unknown;
}

const walk = (node: PlanNode): PlanNode[] => [node, ...(node.Plans ?? []).flatMap(walk)];

/** A plan's text without the values that differ from run to run (ids, cursor times), for the doc. */
const stable = (text: string) =>
  text
    .replace(/'[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'/g, "'<uuid>'")
    .replace(/'\d{4}-\d{2}-\d{2}T[\d:.]+Z'/g, "'<timestamp>'");

/** Lists through the service as `caller`, then explains exactly the statement it sent, as that caller. */
async function explainList(caller: Caller, filter: ListExecutionsFilter) {
  captured.length = 0;
  const page: ExecutionPage = await createExecutionService({ sql: traced, caller, temporal: null }).listExecutions(filter);
  const statement = captured.find((c) => /order by (e\.started_at|d\.started_at) (desc|asc), (e\.id|d\.execution_id) (desc|asc)/.test(c.query));
  if (!statement) throw new Error("the list query was not captured");
  const explain = (options: string) =>
    withCaller(admin, caller, (tx) => tx.unsafe(`explain (${options}) ${statement.query}`, statement.parameters as postgres.ParameterOrJSON<never>[]));
  const [json] = await explain("analyze, format json, timing off, summary off");
  const text = (await explain("analyze, costs off, timing off, summary off")).map((r) => r["QUERY PLAN"] as string).join("\n");
  const plan = (json["QUERY PLAN"] as { Plan: PlanNode }[])[0].Plan;
  return { page, plan, text, sql: statement.query.replace(/\s+/g, " ").trim() };
}

const daysAgo = (days: number) => new Date(Date.now() - days * 86_400_000).toISOString();

/** The (started_at, id) of a user's n-th newest row: a position deep into the list. */
async function positionAt(user: string, n: number) {
  const [row] = await admin`
    select id, to_char(started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as started_at
      from public.workflow_executions where created_by = ${user}
     order by started_at desc, id desc offset ${n} limit 1`;
  return { startedAt: row.started_at as string, id: row.id as string };
}

interface Case {
  name: string;
  index: string;
  caller: () => Caller;
  filter: () => Promise<ListExecutionsFilter>;
  /** Rows the scan reads for the page: limit + 1 unless a filter skips some. */
  read?: () => Promise<number>;
  /**
   * A tag or metadata filter: the side table whose index is read in order (`index`); each of
   * its entries then reads its execution by primary key (one row per loop).
   */
  driver?: "execution_tags" | "execution_metadata_entries";
}

const heavy = () => userCaller(heavyUser);
const halfway = () => positionAt(heavyUser, HEAVY / 2); // page 250 of 500

const cases: Case[] = [
  { name: "first page", index: "idx_workflow_executions_created_by", caller: heavy, filter: async () => ({ limit: PAGE }) },
  { name: "keyset page 250", index: "idx_workflow_executions_created_by", caller: heavy, filter: async () => ({ limit: PAGE, cursor: encodeCursor(await halfway()) }) },
  { name: "workflow filter", index: "idx_workflow_executions_workflow", caller: heavy, filter: async () => ({ limit: PAGE, workflowId: heavyWorkflow }) },
  {
    name: "workflow filter, deep keyset page",
    index: "idx_workflow_executions_workflow",
    caller: heavy,
    filter: async () => ({ limit: PAGE, workflowId: heavyWorkflow, cursor: encodeCursor(await halfway()) }),
  },
  {
    name: "time range",
    index: "idx_workflow_executions_created_by",
    caller: heavy,
    filter: async () => ({ limit: PAGE, startedAfter: daysAgo(10), startedBefore: daysAgo(3) }),
  },
  {
    name: "status filter",
    index: "idx_workflow_executions_user_status",
    caller: heavy,
    filter: async () => ({ limit: PAGE, status: ["running"] }),
  },
  {
    name: "status filter, deep keyset page",
    index: "idx_workflow_executions_user_status",
    caller: heavy,
    filter: async () => ({ limit: PAGE, status: ["failed"], cursor: encodeCursor(await halfway()) }),
  },
  { name: "a small user's first page", index: "idx_workflow_executions_created_by", caller: () => userCaller(smallUser), filter: async () => ({ limit: PAGE }) },
  { name: "service role, first page", index: "idx_workflow_executions_started", caller: serviceCaller, filter: async () => ({ limit: PAGE }) },
  {
    name: "service role, deep keyset page",
    index: "idx_workflow_executions_started",
    caller: serviceCaller,
    filter: async () => ({ limit: PAGE, cursor: encodeCursor(await halfway()) }),
  },
  // Oldest first (order=asc): the same indexes, read backwards.
  { name: "asc: first page", index: "idx_workflow_executions_created_by", caller: heavy, filter: async () => ({ limit: PAGE, order: "asc" }) },
  {
    name: "asc: keyset page 250",
    index: "idx_workflow_executions_created_by",
    caller: heavy,
    filter: async () => ({ limit: PAGE, order: "asc", cursor: encodeCursor(await halfway(), "asc") }),
  },
  {
    name: "asc: workflow filter, deep keyset page",
    index: "idx_workflow_executions_workflow",
    caller: heavy,
    filter: async () => ({ limit: PAGE, order: "asc", workflowId: heavyWorkflow, cursor: encodeCursor(await halfway(), "asc") }),
  },
  {
    name: "asc: status filter",
    index: "idx_workflow_executions_user_status",
    caller: heavy,
    filter: async () => ({ limit: PAGE, order: "asc", status: ["running"] }),
  },
  {
    name: "asc: status filter, deep keyset page",
    index: "idx_workflow_executions_user_status",
    caller: heavy,
    filter: async () => ({ limit: PAGE, order: "asc", status: ["failed"], cursor: encodeCursor(await halfway(), "asc") }),
  },
  { name: "asc: service role, first page", index: "idx_workflow_executions_started", caller: serviceCaller, filter: async () => ({ limit: PAGE, order: "asc" }) },
  // Tag and metadata filters (20261202000100): the side table's keyset index, in order.
  { name: "tag filter", index: "idx_execution_tags_owner_keyset", driver: "execution_tags", caller: heavy, filter: async () => ({ limit: PAGE, tags: ["qp-even"] }) },
  {
    name: "tag filter, deep keyset page",
    index: "idx_execution_tags_owner_keyset",
    driver: "execution_tags",
    caller: heavy,
    filter: async () => ({ limit: PAGE, tags: ["qp-even"], cursor: encodeCursor(await halfway()) }),
  },
  {
    name: "two tags, deep keyset page",
    index: "idx_execution_tags_owner_keyset",
    driver: "execution_tags",
    caller: heavy,
    filter: async () => ({ limit: PAGE, tags: ["qp-even", "qp-tenth"], cursor: encodeCursor(await halfway()) }),
  },
  {
    name: "metadata filter",
    index: "idx_execution_metadata_entries_owner_keyset",
    driver: "execution_metadata_entries",
    caller: heavy,
    filter: async () => ({ limit: PAGE, metadata: { tenant: "acme" } }),
  },
  {
    name: "metadata filter, deep keyset page",
    index: "idx_execution_metadata_entries_owner_keyset",
    driver: "execution_metadata_entries",
    caller: heavy,
    filter: async () => ({ limit: PAGE, metadata: { tenant: "acme" }, cursor: encodeCursor(await halfway()) }),
  },
  {
    name: "service role, tag filter, deep keyset page",
    index: "idx_execution_tags_keyset",
    driver: "execution_tags",
    caller: serviceCaller,
    filter: async () => ({ limit: PAGE, tags: ["qp-even"], cursor: encodeCursor(await halfway()) }),
  },
  {
    name: "asc: tag filter, deep keyset page",
    index: "idx_execution_tags_owner_keyset",
    driver: "execution_tags",
    caller: heavy,
    filter: async () => ({ limit: PAGE, order: "asc", tags: ["qp-even"], cursor: encodeCursor(await halfway(), "asc") }),
  },
  {
    name: "asc: metadata filter, deep keyset page",
    index: "idx_execution_metadata_entries_owner_keyset",
    driver: "execution_metadata_entries",
    caller: heavy,
    filter: async () => ({ limit: PAGE, order: "asc", metadata: { tenant: "acme" }, cursor: encodeCursor(await halfway(), "asc") }),
  },
];

const observed: { name: string; index: string; read: number; sql: string; text: string }[] = [];

describe(`list query plans on ${TOTAL} executions`, () => {
  it.each(cases)("$name: $index", async ({ name, index, caller, filter, read, driver }) => {
    const { page, plan, text, sql } = await explainList(caller(), await filter());
    expect(page.data).toHaveLength(PAGE); // every page here is full
    expect(page.nextCursor).not.toBeNull();

    const nodes = walk(plan);
    const scans = nodes.filter((n) => n["Relation Name"] === (driver ?? "workflow_executions"));
    expect(scans, text).toHaveLength(1);
    const [scan] = scans;
    if (driver) {
      // Each side-table entry reads its execution by primary key: one row per loop, nothing else of the table.
      const rowReads = nodes.filter((n) => n["Relation Name"] === "workflow_executions");
      expect(rowReads.map((n) => [n["Node Type"], n["Index Name"]]), text).toEqual([["Index Scan", "workflow_executions_pkey"]]);
      expect(rowReads[0]["Actual Loops"], text).toBe(PAGE + 1);
    }
    const rowsRead = (scan["Actual Rows"] ?? 0) + (scan["Rows Removed by Filter"] ?? 0);
    observed.push({ name, index: String(scan["Index Name"]), read: rowsRead, sql, text: stable(text) });

    expect(scan["Node Type"], text).toMatch(/^Index (Only )?Scan$/);
    expect(scan["Index Name"], text).toBe(index);
    // asc reads the (desc) keyset index backwards, desc forwards: in order either way.
    expect(scan["Scan Direction"], text).toBe(name.startsWith("asc:") ? "Backward" : "Forward");
    // Read in index order: no Sort at all (so none above a Seq Scan), no Seq Scan of the executions.
    expect(nodes.filter((n) => n["Node Type"].includes("Sort")), text).toEqual([]);
    expect(nodes.filter((n) => n["Node Type"] === "Seq Scan" && n["Relation Name"] === "workflow_executions"), text).toEqual([]);
    // The scan stops after the page: limit + 1 rows, plus those a filter skipped on the way.
    expect(scan["Actual Rows"], text).toBe(PAGE + 1);
    expect(rowsRead, text).toBe(read ? await read() : PAGE + 1);
  });

  it("status equality is LEAKPROOF (why a status filter can use idx_workflow_executions_user_status under RLS)", async () => {
    const [column] = await admin`
      select format_type(t.typbasetype, null) as base from pg_attribute a join pg_type t on t.oid = a.atttypid
       where a.attrelid = 'public.workflow_executions'::regclass and a.attname = 'status'`;
    expect(column.base).toBe("text");
    const rows = await admin`select proname, proleakproof from pg_proc where proname in ('enum_eq', 'texteq') order by 1`;
    expect(rows).toEqual([
      { proname: "enum_eq", proleakproof: false },
      { proname: "texteq", proleakproof: true },
    ]);
  });
});

// The plans document is regenerated on request (ET_WRITE_QUERY_PLANS=1), never by an ordinary
// run, which would rewrite a tracked file.
afterAll(() => {
  if (!process.env.ET_WRITE_QUERY_PLANS || observed.length !== cases.length) return;
  const order = new Map(cases.map((c, i) => [c.name, i]));
  observed.sort((a, b) => order.get(a.name)! - order.get(b.name)!);
  const doc = [
    "# Query plans of the list queries",
    "",
    "Written by `ET_WRITE_QUERY_PLANS=1 npx vitest run tests/integration/query-plans.test.ts`; do not edit by hand. The statements the",
    "service's `listExecutions` sends (`shared/repository/executions.ts`) are captured from postgres.js and",
    "explained as the same caller (`set local role` + `request.jwt.claims`, so the RLS predicate",
    `is part of the plan), on PostgreSQL ${version} with ${TOTAL.toLocaleString("en")} executions of ${USERS} users after`,
    `ANALYZE. The user explained owns ${HEAVY.toLocaleString("en")} of them (500 pages); "deep" pages start halfway.`,
    "",
    "`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF)`: each page asks for limit + 1 = 21",
    "rows. Every shape reads one index in order and stops after its page: no Sort, no Seq Scan of",
    "`workflow_executions`, the same work at page 1 and page 250. A tag or metadata filter reads",
    "its side table's keyset index (`execution_tags`, `execution_metadata_entries`) in order and",
    "each entry's execution by primary key; further tags and pairs are checked on that row.",
    "",
    "| List | Index | Rows read for the page |",
    "| --- | --- | --- |",
    ...observed.map((o) => `| ${o.name} | \`${o.index}\` | ${o.read} |`),
    "",
    "Notes:",
    "",
    "- For a user, the repository repeats the caller's id as `e.created_by = $n` next to the RLS",
    "  policy's `created_by = (select auth.uid())`, whose value the planner cannot see; and it",
    "  reads the workflow's name with a scalar subquery rather than a join. Without both, the",
    "  planner underestimated the user's rows and sorted all of them for every page.",
    "- A status filter reads `idx_workflow_executions_user_status` also under RLS: the status is a",
    "  domain over text, and `texteq` is LEAKPROOF, so PostgreSQL may evaluate it in an index",
    "  condition ahead of the policy (a security barrier). An enum status could not be (`enum_eq`",
    "  is not leakproof): the page would filter the user's rows one by one.",
    "- The seeded heap is shuffled, like a table in steady state with retention deletes. On a",
    "  freshly appended heap (physically in `started_at` order) the planner may read a tenant that",
    "  owns a large share of all rows from `idx_workflow_executions_started` with a filter: about",
    "  21 / share rows, sequentially, which it rightly costs the same.",
    "",
    ...observed.flatMap((o) => [`## ${o.name}`, "", "```sql", o.sql, "```", "", "```", o.text, "```", ""]),
  ].join("\n");
  writeFileSync(join(REPO_ROOT, "docs", "query-plans.md"), doc);
});

/**
 * Tags, metadata and retryOf on executions (docs/architecture.md §5.1; migration
 * 20261202000100_execution_tags_metadata.sql) on real PostgreSQL:
 * - the limits, in SQL (named CHECKs, also for direct writes) and at the service's edge;
 * - retry_of: same owner at insert, immutable (ET002), set null when the original is deleted
 *   (also when the retry is terminal: the lifecycle lets the foreign key's own write through);
 * - the side tables follow inserts, updates and deletes, and RLS keeps a user to their own;
 * - tag / metadata / retryOf filters of the list, the export and the stats answer exactly what
 *   a plain SQL oracle over the rows answers, for a user and for the service role, both orders;
 * - keyset pages of a tag filter under concurrent inserts: every original once, in order;
 * - updates of tags and metadata while live, refused (ET003 -> 409) once terminal.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ImmutableFieldError, NotFoundError, TerminalExecutionError, ValidationError } from "../../shared/errors.ts";
import { translateDatabaseError } from "../../shared/database-errors.ts";
import { createExecutionService } from "../../shared/service.ts";
import { createExecutionSchema, parseInput, updateExecutionSchema } from "../../shared/schemas.ts";
import type { ExecutionFilter, ExecutionWithWorkflow, ListExecutionsFilter } from "../../shared/types.ts";
import { asRole, connect, createUser, createWorkflow, databaseUrl, serviceCaller, type Sql, sqlState, userCaller } from "../support/postgres.ts";

let sql: Sql;
let alice: string;
let bob: string;
let aliceWorkflows: string[];
let bobWorkflow: string;
/** Marks this file's seeded rows (metadata.seed), so the oracle never counts another file's. */
const seed = randomUUID().slice(0, 8);
const tagPool = ["red", "green", "blue", "env:prod", "team/core"];

beforeAll(async () => {
  sql = connect(databaseUrl(), { max: 12 });
  alice = await createUser(sql);
  bob = await createUser(sql);
  aliceWorkflows = [await createWorkflow(sql, alice), await createWorkflow(sql, alice)];
  bobWorkflow = await createWorkflow(sql, bob);
  // 300 of alice's rows and 100 of bob's: tags from the pool by bits of i (so every pair and
  // triple occurs), metadata on two of three rows, all statuses, ties on started_at.
  for (const [owner, workflows, n] of [[alice, aliceWorkflows, 300], [bob, [bobWorkflow], 100]] as const) {
    await sql`
      insert into public.workflow_executions (workflow_id, created_by, temporal_workflow_id, status, started_at, duration_ms, tags, metadata)
      select (${workflows as string[]}::uuid[])[1 + i % ${workflows.length}], ${owner}::uuid, 'tm-' || ${seed} || '-' || ${owner}::text || '-' || i,
             (array['running', 'completed', 'failed', 'cancelled', 'timed_out'])[1 + i % 5]::text,
             timestamptz '2008-08-08T12:00:00Z' - (i / 3) * interval '7 minutes 337 microseconds',
             case when i % 5 > 0 then 100 + i end,
             array(select t from unnest(${tagPool}::text[]) with ordinality p(t, k) where (i >> (k::int - 1)) & 1 = 1 order by t collate "C"),
             case when i % 3 = 2 then '{}'::jsonb
                  else jsonb_build_object('seed', ${seed}::text, 'region', (array['eu', 'us'])[1 + i % 2], 'tier', i % 4,
                                          'vip', i % 7 = 0)
             end
        from generate_series(1, ${n}) i`;
  }
});
afterAll(async () => {
  await sql.end({ timeout: 1 });
});

const asAlice = () => createExecutionService({ sql, caller: userCaller(alice), temporal: null });
const asBob = () => createExecutionService({ sql, caller: userCaller(bob), temporal: null });
const asService = () => createExecutionService({ sql, caller: serviceCaller(), temporal: null });

/** The ids a filter matches, straight from the rows, in the list's order (the oracle). */
async function oracle(filter: ExecutionFilter & { owner?: string; order?: "asc" | "desc" }): Promise<string[]> {
  const dir = filter.order === "asc" ? sql`asc` : sql`desc`;
  const rows = await sql`
    select id from public.workflow_executions
     where temporal_workflow_id like ${`tm-${seed}-%`}
       ${filter.owner ? sql`and created_by = ${filter.owner}` : sql``}
       ${filter.tags ? sql`and tags @> ${filter.tags}::text[]` : sql``}
       ${filter.status ? sql`and status::text = any(${filter.status}::text[])` : sql``}
       ${filter.workflowId ? sql`and workflow_id = ${filter.workflowId}` : sql``}
       ${filter.startedAfter ? sql`and started_at >= ${filter.startedAfter}::timestamptz` : sql``}
       ${filter.startedBefore ? sql`and started_at < ${filter.startedBefore}::timestamptz` : sql``}
       ${Object.entries(filter.metadata ?? {}).map(([k, v]) => sql`and metadata ->> ${k}::text = ${v}`)}
     order by started_at ${dir}, id ${dir}`;
  return rows.map((r) => r.id);
}

/** Every id of a list, page by page. */
async function pageAll(service: ReturnType<typeof asAlice>, filter: ListExecutionsFilter, limit = 7): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | undefined;
  do {
    const page = await service.listExecutions({ ...filter, limit, cursor });
    ids.push(...page.data.map((e) => e.id));
    cursor = page.nextCursor ?? undefined;
  } while (cursor);
  return ids;
}

/** The seeded rows only (metadata.seed), whatever other files inserted. */
const seeded = (filter: ExecutionFilter): ExecutionFilter => ({ ...filter, metadata: { seed, ...filter.metadata } });

describe("limits", () => {
  const body = (extra: Record<string, unknown>) => ({ workflowId: randomUUID(), ...extra });
  const rejected = (extra: Record<string, unknown>) => {
    try {
      parseInput(createExecutionSchema, body(extra));
    } catch (error) {
      expect(error).toBeInstanceOf(ValidationError);
      return (error as ValidationError).details;
    }
    throw new Error(`accepted ${JSON.stringify(extra)}`);
  };

  it("the HTTP schema normalizes tags to a sorted set and refuses what breaks a limit, naming the field", () => {
    expect(parseInput(createExecutionSchema, body({ tags: ["b", "a", "b", "Z"] })).tags).toEqual(["Z", "a", "b"]);
    expect(parseInput(createExecutionSchema, body({ tags: Array.from({ length: 12 }, () => "same") })).tags).toEqual(["same"]);
    for (const tags of [Array.from({ length: 11 }, (_, i) => `t${i}`), [""], ["x".repeat(65)], ["has space"], ["ü"], "a", [1]]) {
      expect(JSON.stringify(rejected({ tags }))).toContain('"tags');
    }
    const ok = { a: "x".repeat(256), n: 1.5, b: true, "k-_1": -3 };
    expect(parseInput(createExecutionSchema, body({ metadata: ok })).metadata).toEqual(ok);
    const many = Object.fromEntries(Array.from({ length: 17 }, (_, i) => [`k${i}`, i]));
    const big = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, "x".repeat(250)]));
    for (const metadata of [many, big, { a: "x".repeat(257) }, { "bad key": 1 }, { a: null }, { a: { nested: 1 } }, { a: [1] }, [1], "x", { ["k".repeat(65)]: 1 }]) {
      expect(JSON.stringify(rejected({ metadata }))).toContain('"metadata');
    }
    expect(() => parseInput(createExecutionSchema, body({ retryOf: randomUUID() }))).toThrow(ValidationError); // internal only
    expect(parseInput(updateExecutionSchema, { id: randomUUID(), tags: [], metadata: {} })).toMatchObject({ tags: [], metadata: {} });
  });

  it("SQL refuses the same by named CHECK, for a direct write as a user, mapped to a 400 naming the field", async () => {
    const bad: [string, ReturnType<typeof sql.json> | string[]][] = [
      ["tags", Array.from({ length: 11 }, (_, i) => `t${i}`)],
      ["tags", ["b", "a"]], // not sorted: the API sorts, a direct writer must
      ["tags", ["a", "a"]],
      ["tags", ["bad tag"]],
      ["metadata", sql.json({ a: { b: 1 } })],
      ["metadata", sql.json({ a: null })],
      ["metadata", sql.json([1])],
      ["metadata", sql.json({ a: "x".repeat(257) })],
      ["metadata", sql.json(Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, "x".repeat(250)])))],
      ["metadata", sql.json({ n: 1e300 })], // 301 digits as PostgreSQL's text, times 16 keys
    ];
    for (const [column, value] of bad.slice(0, -1)) {
      const error = await asRole(sql, alice, (tx) =>
        column === "tags"
          ? tx`insert into public.workflow_executions (workflow_id, created_by, status, temporal_workflow_id, tags) values (${aliceWorkflows[0]}, ${alice}, 'running', ${`bad-${randomUUID()}`}, ${value as string[]}::text[])`
          : tx`insert into public.workflow_executions (workflow_id, created_by, status, temporal_workflow_id, metadata) values (${aliceWorkflows[0]}, ${alice}, 'running', ${`bad-${randomUUID()}`}, ${value as never})`
      ).then(() => null, (e) => e);
      expect(error?.code, `${column} ${JSON.stringify(value)}`).toBe("23514");
      expect(error.constraint_name).toBe(`workflow_executions_${column}_valid`);
      const mapped = translateDatabaseError(error) as ValidationError;
      expect(mapped).toBeInstanceOf(ValidationError);
      expect(JSON.stringify(mapped.details)).toContain(`"path":"${column}"`);
    }
    // The size limit is on PostgreSQL's text: a number prints without exponent.
    const wide = Object.fromEntries(Array.from({ length: 14 }, (_, i) => [`k${i}`, 1e300]));
    const state = await sqlState(asRole(sql, alice, (tx) => tx`
      insert into public.workflow_executions (workflow_id, created_by, status, temporal_workflow_id, metadata)
      values (${aliceWorkflows[0]}, ${alice}, 'running', ${`bad-${randomUUID()}`}, ${sql.json(wide)})`));
    expect(state).toBe("23514");
    expect(() => parseInput(createExecutionSchema, body({ metadata: wide }))).toThrow(ValidationError);
  });
});

describe("create, update, delete and the side tables", () => {
  const sideRows = async (id: string) => ({
    tags: (await sql`select tag, created_by, started_at = (select started_at from public.workflow_executions where id = ${id}) as same_start from public.execution_tags where execution_id = ${id} order by tag`)
      .map((r) => `${r.tag}${r.same_start ? "" : "!"}`),
    metadata: Object.fromEntries((await sql`select key, value from public.execution_metadata_entries where execution_id = ${id}`).map((r) => [r.key, r.value])),
  });

  it("a create stores tags and metadata, the side tables mirror them, an update replaces both while live", async () => {
    const service = asAlice();
    const { execution } = await service.createExecution({
      workflowId: aliceWorkflows[0],
      temporalWorkflowId: `side-${randomUUID()}`,
      tags: ["b", "a"],
      metadata: { orderId: "1234", amount: 12.5, paid: false },
    });
    expect(execution).toMatchObject({ tags: ["a", "b"], metadata: { orderId: "1234", amount: 12.5, paid: false }, retryOf: null });
    expect(await sideRows(execution.id)).toEqual({ tags: ["a", "b"], metadata: { orderId: "1234", amount: "12.5", paid: "false" } });

    const updated = await service.updateExecutionByRef({ id: execution.id }, { tags: ["b", "c"], metadata: { orderId: "99" } });
    expect(updated).toMatchObject({ tags: ["b", "c"], metadata: { orderId: "99" } });
    expect(await sideRows(execution.id)).toEqual({ tags: ["b", "c"], metadata: { orderId: "99" } });

    // An update that leaves them out leaves them as they are; empty ones clear the side rows.
    await service.updateExecutionByRef({ id: execution.id }, { activitiesExecuted: 3 });
    expect(await sideRows(execution.id)).toEqual({ tags: ["b", "c"], metadata: { orderId: "99" } });
    await service.updateExecutionByRef({ id: execution.id }, { tags: [], metadata: {} });
    expect(await sideRows(execution.id)).toEqual({ tags: [], metadata: {} });
    await service.updateExecutionByRef({ id: execution.id }, { tags: ["z"], metadata: { k: "v" } });

    // Terminal: any change of them is refused (409 terminal_execution naming the field), the same values are not.
    await service.updateExecutionByRef({ id: execution.id }, { status: "completed" });
    await expect(service.updateExecutionByRef({ id: execution.id }, { tags: ["other"] })).rejects.toMatchObject({ code: "terminal_execution", details: { field: "tags" } });
    await expect(service.updateExecutionByRef({ id: execution.id }, { metadata: { k: "w" } })).rejects.toBeInstanceOf(TerminalExecutionError);
    await service.updateExecutionByRef({ id: execution.id }, { tags: ["z"], metadata: { k: "v" } });
    expect(await sideRows(execution.id)).toEqual({ tags: ["z"], metadata: { k: "v" } });

    // A delete takes the side rows with it.
    await service.deleteExecution(execution.id);
    expect(await sideRows(execution.id)).toEqual({ tags: [], metadata: {} });
  });

  it("a write without tags or metadata adds no side rows; a cascade from a deleted workflow removes them", async () => {
    const workflow = await createWorkflow(sql, alice);
    const service = asAlice();
    const plain = (await service.createExecution({ workflowId: workflow, temporalWorkflowId: `plain-${randomUUID()}` })).execution;
    expect(plain).toMatchObject({ tags: [], metadata: {}, retryOf: null });
    expect(await sideRows(plain.id)).toEqual({ tags: [], metadata: {} });
    const tagged = (await service.createExecution({ workflowId: workflow, temporalWorkflowId: `t-${randomUUID()}`, tags: ["x"], metadata: { a: "1" } })).execution;
    await sql`delete from public.workflows where id = ${workflow}`;
    expect(await sideRows(tagged.id)).toEqual({ tags: [], metadata: {} });
  });

  it("retryOf: set at create by the tracker only, same owner, immutable, and cleared when the original goes (also on a finished retry)", async () => {
    const service = asAlice();
    const original = (await service.createExecution({ workflowId: aliceWorkflows[0], temporalWorkflowId: `orig-${randomUUID()}` })).execution;
    const retry = (await service.createExecution({ workflowId: aliceWorkflows[0], temporalWorkflowId: `retry-${randomUUID()}` }, { retryOf: original.id })).execution;
    expect(retry.retryOf).toBe(original.id);
    expect((await service.listExecutions({ retryOf: original.id })).data.map((e) => e.id)).toEqual([retry.id]);
    expect((await asService().listExecutions({ retryOf: original.id })).data.map((e) => e.id)).toEqual([retry.id]);
    expect((await asBob().listExecutions({ retryOf: original.id })).data).toEqual([]);

    // Another owner's execution (or none) is not a retry's original: 23503, 404 at the API.
    const bobs = (await asBob().createExecution({ workflowId: bobWorkflow, temporalWorkflowId: `bob-${randomUUID()}` })).execution;
    await expect(service.createExecution({ workflowId: aliceWorkflows[0], temporalWorkflowId: `x-${randomUUID()}` }, { retryOf: bobs.id })).rejects.toBeInstanceOf(NotFoundError);
    await expect(asService().createExecution({ workflowId: aliceWorkflows[0], userId: alice, temporalWorkflowId: `x-${randomUUID()}` }, { retryOf: bobs.id })).rejects.toBeInstanceOf(NotFoundError);
    await expect(service.createExecution({ workflowId: aliceWorkflows[0], temporalWorkflowId: `x-${randomUUID()}` }, { retryOf: randomUUID() })).rejects.toBeInstanceOf(NotFoundError);

    // Immutable: ET002 naming it, for a user and the service role, whatever the value.
    for (const userId of [alice, null]) {
      for (const value of [null, bobs.id, original.id.replace(/.$/, "0")]) {
        const error = await asRole(sql, userId, (tx) => tx`update public.workflow_executions set retry_of = ${value}::uuid where id = ${retry.id}`).then(() => null, (e) => e);
        expect(error?.code).toBe("ET002");
        expect(translateDatabaseError(error)).toBeInstanceOf(ImmutableFieldError);
      }
    }

    // The retry ends; deleting the original clears the link (the lifecycle lets the foreign key's set null through).
    await service.updateExecutionByRef({ id: retry.id }, { status: "failed", errorMessage: "boom" });
    await service.deleteExecution(original.id);
    const after = await service.getExecution(retry.id);
    expect(after).toMatchObject({ retryOf: null, status: "failed", errorMessage: "boom", updatedAt: (await service.getExecution(retry.id)).updatedAt });
  });
});

describe("RLS on the side tables", () => {
  it("a user reads only their own tags and metadata entries; the service role reads all; nobody writes them directly", async () => {
    const seen = await asRole(sql, bob, (tx) => tx`
      select (select count(*) from public.execution_tags where created_by <> ${bob})::int as other_tags,
             (select count(*) from public.execution_metadata_entries where created_by <> ${bob})::int as other_entries,
             (select count(*) from public.execution_tags where created_by = ${bob})::int as own_tags`);
    expect(seen[0]).toMatchObject({ other_tags: 0, other_entries: 0 });
    expect(seen[0].own_tags).toBeGreaterThan(0);
    const all = await asRole(sql, null, (tx) => tx`select count(distinct created_by)::int as owners from public.execution_tags where created_by in (${alice}, ${bob})`);
    expect(all[0].owners).toBe(2);
    const [anyRow] = await sql`select execution_id from public.execution_tags where created_by = ${bob} limit 1`;
    for (const statement of [
      (tx: Parameters<Parameters<typeof asRole>[2]>[0]) => tx`insert into public.execution_tags (execution_id, created_by, tag, started_at) values (${randomUUID()}, ${bob}, 'forged', now())`,
      (tx: Parameters<Parameters<typeof asRole>[2]>[0]) => tx`delete from public.execution_tags where execution_id = ${anyRow.execution_id}`,
      (tx: Parameters<Parameters<typeof asRole>[2]>[0]) => tx`update public.execution_metadata_entries set value = 'x' where created_by = ${bob}`,
    ]) {
      expect(await sqlState(asRole(sql, bob, statement))).toBe("42501");
    }
    // Alice's filter never reaches bob's rows, even by a tag both use.
    expect((await asAlice().listExecutions(seeded({ tags: ["red"] }))).data.every((e) => e.createdBy === alice)).toBe(true);
  });
});

describe("filters equal the SQL oracle", () => {
  const cases: (ExecutionFilter & { label: string })[] = [
    { label: "one tag", tags: ["red"] },
    { label: "two tags", tags: ["blue", "red"] },
    { label: "three tags", tags: ["blue", "env:prod", "team/core"] },
    { label: "an unknown tag", tags: ["nobody-uses-this"] },
    { label: "a metadata pair", metadata: { region: "eu" } },
    { label: "two metadata pairs", metadata: { region: "us", tier: "1" } },
    { label: "a boolean", metadata: { vip: "true" } },
    { label: "tag and metadata", tags: ["green"], metadata: { region: "eu" } },
    { label: "tag and status", tags: ["red"], status: ["failed", "completed"] },
    { label: "tag, workflow and range", tags: ["blue"], startedAfter: "2008-08-08T05:00:00Z", startedBefore: "2008-08-08T10:00:00Z" },
  ];

  for (const c of cases) {
    it(`${c.label}: list (both orders, paged), export and stats`, async () => {
      const { label: _, ...raw } = c;
      const filter = seeded(raw);
      const withWorkflow = c.startedAfter ? { ...filter, workflowId: aliceWorkflows[1] } : filter;
      const expectedRows = await oracle({ ...withWorkflow, owner: alice });
      // The seeded set has matches for every case but the unknown tag (so a filter answering nothing would fail).
      expect(expectedRows.length > 0).toBe(!c.tags?.includes("nobody-uses-this"));
      for (const order of ["desc", "asc"] as const) {
        expect(await pageAll(asAlice(), { ...withWorkflow, order })).toEqual(await oracle({ ...withWorkflow, owner: alice, order }));
        const everyone = await oracle({ ...withWorkflow, order });
        expect(await pageAll(asService(), { ...withWorkflow, order }, 13)).toEqual(everyone);
      }
      const exported: string[] = [];
      for await (const page of asAlice().exportExecutions(withWorkflow, 11)) exported.push(...page.map((e) => e.id));
      expect(exported).toEqual(await oracle({ ...withWorkflow, owner: alice }));

      const stats = await asAlice().getStats(withWorkflow);
      const [expected] = await sql`
        select count(*)::int as total, (count(*) filter (where status = 'failed'))::int as failed,
               avg(duration_ms)::float8 as avg, (percentile_disc(0.5) within group (order by duration_ms))::float8 as p50
          from public.workflow_executions where id = any(${await oracle({ ...withWorkflow, owner: alice })}::uuid[])`;
      expect(stats).toMatchObject({ total: expected.total, byStatus: { failed: expected.failed }, p50DurationMs: expected.p50 });
      expect(stats.avgDurationMs ?? null).toBeCloseTo(expected.avg ?? 0, 6);
    });
  }

  it("a filtered series has the plain series' buckets and counts the matching rows per bucket", async () => {
    const filter = seeded({ tags: ["red"] });
    const range = { startedAfter: "2008-08-07T00:00:00Z", startedBefore: "2008-08-09T00:00:00Z" };
    const series = await asAlice().getTimeSeries({ bucket: "hour", ...filter, ...range });
    const plain = await asAlice().getTimeSeries({ bucket: "hour", ...range });
    expect(series.buckets.map((b) => b.start)).toEqual(plain.buckets.map((b) => b.start));
    const expected = await sql`
      select to_char(date_trunc('hour', started_at, 'UTC') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') as start, count(*)::int as n
        from public.workflow_executions where id = any(${await oracle({ ...filter, owner: alice })}::uuid[]) group by 1`;
    const byStart = new Map(expected.map((r) => [r.start, r.n]));
    expect(series.buckets.map((b) => b.total)).toEqual(series.buckets.map((b) => byStart.get(b.start) ?? 0));
    expect(series.buckets.reduce((n, b) => n + b.total, 0)).toBeGreaterThan(0);
  });
});

describe("keyset pages of a tag filter under concurrent inserts", () => {
  it("every row that existed is read once, in order, both orders, while tagged rows are inserted around them", async () => {
    const tag = `walk-${seed}`;
    await sql`
      insert into public.workflow_executions (workflow_id, created_by, temporal_workflow_id, status, started_at, tags)
      select ${aliceWorkflows[0]}, ${alice}, 'walk-' || ${seed} || '-' || i, 'running',
             timestamptz '2005-05-05T00:00:00Z' - (i / 3) * interval '211 microseconds', array[${tag}]
        from generate_series(1, 120) i`;
    const originals = async (order: "asc" | "desc") =>
      (await sql`select id from public.workflow_executions where temporal_workflow_id like ${`walk-${seed}-%`}
                 order by started_at ${order === "asc" ? sql`asc` : sql`desc`}, id ${order === "asc" ? sql`asc` : sql`desc`}`).map((r) => r.id);
    for (const order of ["desc", "asc"] as const) {
      let done = false;
      const writer = (async () => {
        for (let i = 0; !done; i++) {
          // A new tagged row at an original's exact started_at, or a microsecond beside it.
          await sql`
            insert into public.workflow_executions (workflow_id, created_by, temporal_workflow_id, status, started_at, tags)
            select ${aliceWorkflows[0]}, ${alice}, ${`late-${randomUUID()}`}, 'running',
                   (select started_at from public.workflow_executions where temporal_workflow_id like ${`walk-${seed}-%`} order by random() limit 1)
                     + ${(i % 3) - 1} * interval '1 microsecond', array[${tag}]`;
        }
      })();
      const seen = await pageAll(asAlice(), { tags: [tag], order }, 9);
      done = true;
      await writer;
      const expected = await originals(order);
      const seenOriginals = seen.filter((id) => expected.includes(id));
      expect(seenOriginals).toEqual(expected);
      expect(new Set(seen).size).toBe(seen.length);
    }
  });
});

describe("answers", () => {
  it("every execution answer carries tags, metadata and retryOf", async () => {
    const page = await asAlice().listExecutions(seeded({ tags: ["red"] }));
    const first = page.data[0] as ExecutionWithWorkflow;
    expect(Array.isArray(first.tags)).toBe(true);
    expect(first.metadata).toMatchObject({ seed });
    expect(first).toHaveProperty("retryOf", null);
  });
});

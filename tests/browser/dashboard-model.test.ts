/**
 * The dashboard's list model (dashboard/src/model.ts): pages and polls merged in the API's keyset
 * order, never a row twice, never a gap, whatever arrives, changes or goes between polls; and
 * what counts as a stuck run. Pure functions: no browser, no server.
 *
 *   npx vitest run --project database tests/browser/dashboard-model.test.ts
 */
import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import type { Run } from "../../dashboard/src/api.ts";
import { apiFilter, appendPage, emptyFilters, filtersToParams, mergeWindow, metadataText, newRequestId, parseFilters, parseTagInput, pollLimit, type RunsList, seriesQuery, stuckState, withMetadata, withTag } from "../../dashboard/src/model.ts";

let clock = Date.parse("2026-12-01T08:00:00Z");
function run(overrides: Partial<Run> = {}): Run {
  clock += 1000;
  const at = new Date(clock).toISOString();
  return {
    id: randomUUID(), workflowId: "w", createdBy: "u", temporalWorkflowId: null, temporalRunId: null,
    status: "running", startedAt: at, completedAt: null, durationMs: null, timeoutAt: null, input: null, output: null,
    errorMessage: null, activitiesExecuted: 0, createdAt: at, updatedAt: at, workflow: { id: "w", name: "w" },
    ...overrides,
  } as Run;
}

/**
 * The database's order: started_at in microseconds (`micro`, which the JSON does not carry), then
 * id. Runs without `micro` are ordered as the browser would order them.
 */
const micro = new WeakMap<Run, number>();
function apiOrder(a: Run, b: Run): number {
  const ma = micro.get(a) ?? Date.parse(a.startedAt) * 1000;
  const mb = micro.get(b) ?? Date.parse(b.startedAt) * 1000;
  return ma !== mb ? mb - ma : a.id < b.id ? 1 : a.id > b.id ? -1 : 0;
}

/** A fake API over `all`: pages by keyset position, as executions-list does. */
function page(all: Run[], limit: number, after?: Run): { data: Run[]; nextCursor: string | null } {
  const sorted = [...all].sort(apiOrder);
  const start = after ? sorted.findIndex((r) => apiOrder(r, after) > 0) : 0;
  const rest = start < 0 ? [] : sorted.slice(start);
  const data = rest.slice(0, limit);
  const at = data[data.length - 1];
  return { data, nextCursor: rest.length > limit ? JSON.stringify({ run: at, micro: micro.get(at) }) : null };
}
/** The cursor's position (as the API's opaque cursor holds it, microseconds included). */
function cursorRow(cursor: string): Run {
  const { run, micro: position } = JSON.parse(cursor) as { run: Run; micro?: number };
  if (position !== undefined) micro.set(run, position);
  return run;
}

/** The list as the runs page keeps it: first page, load more, polls. */
function driver(all: Run[], pageSize = 5) {
  let list: RunsList = { rows: [], cursor: null };
  return {
    get list() { return list; },
    poll() {
      const limit = pollLimit(list.rows.length, pageSize);
      list = mergeWindow(list, page(all, limit), limit);
    },
    loadMore() {
      if (!list.cursor) return false;
      list = appendPage(list, page(all, pageSize, cursorRow(list.cursor)));
      return true;
    },
  };
}

const ids = (rows: Run[]) => rows.map((r) => r.id);
const expectPrefixOfTruth = (list: RunsList, all: Run[]) => {
  const truth = ids([...all].sort(apiOrder));
  expect(new Set(ids(list.rows)).size).toBe(list.rows.length);
  expect(ids(list.rows)).toEqual(truth.slice(0, list.rows.length));
  // What "load more" continues with is exactly the rest.
  if (list.cursor === null) expect(list.rows.length).toBe(truth.length);
};

describe("dashboard list model", () => {
  it("load more walks every row once, in order", () => {
    const all = Array.from({ length: 23 }, () => run());
    const d = driver(all);
    d.poll();
    expect(d.list.rows).toHaveLength(5);
    while (d.loadMore()) expectPrefixOfTruth(d.list, all);
    expect(ids(d.list.rows)).toEqual(ids([...all].sort(apiOrder)));
  });

  it("polls add new runs on top, update changed ones, drop deleted ones, and never grow the list downwards", () => {
    const all = Array.from({ length: 12 }, () => run());
    const d = driver(all);
    d.poll();
    d.loadMore();
    expect(d.list.rows).toHaveLength(10);
    all.push(run(), run());
    d.poll();
    expect(d.list.rows).toHaveLength(12);
    expectPrefixOfTruth(d.list, all);
    const changed = d.list.rows[3];
    all[all.findIndex((r) => r.id === changed.id)] = { ...changed, status: "completed" };
    const deleted = d.list.rows[5];
    all.splice(all.findIndex((r) => r.id === deleted.id), 1);
    d.poll();
    expect(d.list.rows.find((r) => r.id === changed.id)?.status).toBe("completed");
    expect(ids(d.list.rows)).not.toContain(deleted.id);
    expectPrefixOfTruth(d.list, all);
    while (d.loadMore()) expectPrefixOfTruth(d.list, all);
    expect(ids(d.list.rows)).toEqual(ids([...all].sort(apiOrder)));
  });

  it("more new runs than a poll reads: no gap (the list starts again from the window)", () => {
    const all = Array.from({ length: 8 }, () => run());
    const d = driver(all, 5);
    d.poll();
    for (let i = 0; i < 30; i++) all.push(run());
    d.poll();
    expectPrefixOfTruth(d.list, all);
    while (d.loadMore()) expectPrefixOfTruth(d.list, all);
    expect(ids(d.list.rows)).toEqual(ids([...all].sort(apiOrder)));
  });

  it("random inserts, changes, deletes, polls and loads keep the list a prefix of the truth", () => {
    const all = Array.from({ length: 40 }, () => run());
    const d = driver(all, 4);
    let seed = 7;
    const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    for (let step = 0; step < 400; step++) {
      const r = random();
      if (r < 0.25) all.push(run());
      else if (r < 0.35 && all.length) all.splice(Math.floor(random() * all.length), 1);
      else if (r < 0.65) d.poll();
      else d.loadMore();
      if (d.list.rows.length) {
        // The list may lag the truth only until the next poll.
        d.poll();
        expectPrefixOfTruth(d.list, all);
      }
    }
  });

  it("runs started in the same millisecond: the API's order (microseconds) is kept, not the browser's guess", () => {
    const all: Run[] = [];
    const addBurst = (n: number) => {
      clock += 1000;
      const at = new Date(clock).toISOString();
      for (let i = 0; i < n; i++) {
        const r = run({ startedAt: at, createdAt: at, updatedAt: at });
        micro.set(r, clock * 1000 + i); // later in the millisecond = newer, whatever the id says
        all.push(r);
      }
      clock += 1000;
    };
    addBurst(12);
    const d = driver(all, 5);
    d.poll();
    d.loadMore();
    for (let round = 0; round < 5; round++) {
      addBurst(3);
      d.poll();
      expectPrefixOfTruth(d.list, all);
      // A run changes in place.
      const changed = d.list.rows[round];
      all[all.indexOf(all.find((r) => r.id === changed.id)!)] = Object.assign(changed, { status: "completed" as const });
      d.poll();
      expectPrefixOfTruth(d.list, all);
      d.loadMore();
      expectPrefixOfTruth(d.list, all);
    }
    while (d.loadMore()) expectPrefixOfTruth(d.list, all);
    expect(ids(d.list.rows)).toEqual(ids([...all].sort(apiOrder)));
  });

  it("filters: presets slide with the clock, a custom range passes through, unknown values are dropped", () => {
    const now = Date.parse("2026-12-01T10:00:00Z");
    expect(apiFilter(parseFilters(new URLSearchParams("range=1h&status=failed,bogus")), now)).toEqual({
      status: ["failed"], workflowId: undefined, startedAfter: "2026-12-01T09:00:00.000Z", startedBefore: undefined,
    });
    expect(apiFilter(parseFilters(new URLSearchParams("range=custom&from=2026-11-01T00:00:00Z&to=2026-11-02T00:00:00Z")), now)).toMatchObject({
      startedAfter: "2026-11-01T00:00:00.000Z", startedBefore: "2026-11-02T00:00:00.000Z",
    });
  });

  it("tags: typed with commas or spaces, stored form (sorted, no duplicates), kept in the URL, refused as the API would", () => {
    expect(parseTagInput(" eu, billing  eu,")).toEqual({ tags: ["billing", "eu"] });
    expect(parseTagInput("")).toEqual({ tags: [] });
    expect(parseTagInput("ok bad!tag")).toEqual({ error: expect.stringMatching(/^"bad!tag" is not a tag/) });
    expect(parseTagInput("x".repeat(65))).toHaveProperty("error");
    expect(parseTagInput(Array.from({ length: 11 }, (_, i) => `t${i}`).join(","))).toEqual({ error: "at most 10 tags" });

    const filters = withTag(withTag(emptyFilters, "eu"), "billing");
    expect(filters.tags).toEqual(["billing", "eu"]);
    expect(withTag(filters, "eu")).toBe(filters); // already there: the same filters
    expect(filtersToParams(filters).toString()).toBe("tag=billing%2Ceu");
    expect(parseFilters(filtersToParams(filters))).toEqual(filters);
    expect(parseFilters(new URLSearchParams("tag=eu,no%20spaces!")).tags).toEqual([]); // a hand-edited bad URL filters nothing
    const now = Date.parse("2026-12-01T10:00:00Z");
    expect(apiFilter(filters, now).tags).toEqual(["billing", "eu"]);
    expect(apiFilter(emptyFilters, now).tags).toBeUndefined();
    expect(seriesQuery({ ...filters, range: "24h" }, now).filter).toMatchObject({ bucket: "hour", tags: ["billing", "eu"] });
    expect(seriesQuery(filters, now).filter).toMatchObject({ bucket: "day", tags: ["billing", "eu"] });
  });

  it("metadata filters: metadata.<key>=<value> in the URL as in the API, keys sorted, bad keys dropped, removable one by one", () => {
    const filters = withMetadata(withMetadata(emptyFilters, "plan", "pro"), "amount", metadataText(42.5));
    expect(filters.metadata).toEqual({ amount: "42.5", plan: "pro" });
    expect(Object.keys(filters.metadata)).toEqual(["amount", "plan"]);
    expect(filtersToParams(filters).toString()).toBe("metadata.amount=42.5&metadata.plan=pro");
    expect(parseFilters(filtersToParams(filters))).toEqual(filters);
    expect(withMetadata(filters, "plan", null).metadata).toEqual({ amount: "42.5" });
    // A key the API refuses, or a value longer than it allows, is dropped; an empty value is a value.
    expect(parseFilters(new URLSearchParams(`metadata.bad key=1&metadata.=2&metadata.long=${"x".repeat(257)}&metadata.empty=`)).metadata).toEqual({ empty: "" });
    expect([metadataText("1234"), metadataText(true), metadataText(0.5)]).toEqual(["1234", "true", "0.5"]);
    const now = Date.parse("2026-12-01T10:00:00Z");
    expect(apiFilter(filters, now).metadata).toEqual({ amount: "42.5", plan: "pro" });
    expect(apiFilter(emptyFilters, now).metadata).toBeUndefined();
    expect(seriesQuery(filters, now).filter).toMatchObject({ bucket: "day", metadata: { amount: "42.5", plan: "pro" } });
  });

  it("request ids: UUID v4 (what the API's idempotency keys and bulk requestIds take), never the same twice", () => {
    const ids = Array.from({ length: 1000 }, newRequestId);
    for (const id of ids) expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("stuck: live past the deadline, or a stop requested and not confirmed; never a finished run", () => {
    const now = Date.parse("2026-12-01T10:00:00Z");
    expect(stuckState(run({ timeoutAt: "2026-12-01T09:59:00Z" }), now)?.kind).toBe("overdue");
    expect(stuckState(run({ timeoutAt: "2026-12-01T10:01:00Z" }), now)).toBeNull();
    expect(stuckState(run({ stopRequestedAt: "2026-12-01T09:58:00Z" } as Partial<Run>), now)?.kind).toBe("stop-unconfirmed");
    expect(stuckState(run({ status: "completed", timeoutAt: "2026-12-01T09:00:00Z" }), now)).toBeNull();
    // An API without stopRequestedAt (older deployments): no field, no crash.
    const old = run();
    delete (old as Partial<Run>).stopRequestedAt;
    expect(stuckState(old, now)).toBeNull();
  });
});

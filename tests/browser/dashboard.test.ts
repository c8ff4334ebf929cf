/**
 * The dashboard in a real browser: headless Chromium (Debian's /usr/bin/chromium, or
 * CHROMIUM_PATH) driven by playwright-core, against `npm start` (which builds and serves the
 * dashboard at /) on a real PostgreSQL database of its own. Users are fresh per test; their
 * runs are made through the API, as an app makes them, while the page is open.
 *
 *   npx vitest run --project database tests/browser/dashboard.test.ts
 *   ET_SCREENSHOTS=1 npx vitest run --project database tests/browser/dashboard.test.ts   # rewrites docs/dashboard-*.png
 */
import { randomUUID } from "node:crypto";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join } from "node:path";
import { promisify } from "node:util";
import { type Browser, type BrowserContext, chromium, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bucketLabel, formatDuration } from "../../dashboard/src/model.ts";
import type { ExecutionStatsSeries } from "../../shared/types.ts";
import { verifyAlertSignature } from "../../shared/alerts/signing.ts";
import { type DevServerProcess, startDevServer } from "../support/dev-server.ts";
import { connect, createMigratedDatabase, createUser, createWorkflow, databaseUrl, dropDatabase, REPO_ROOT, type Sql } from "../support/postgres.ts";
import { expiredToken, forgedToken, serviceToken, userToken } from "../support/tokens.ts";

const run = promisify(execFile);
const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const SCREENSHOTS = /^(1|true|yes)$/i.test(process.env.ET_SCREENSHOTS ?? "");
/** The dashboard polls every 3 s: anything live must show within a few polls (generous: CI shares 2 cores with other test files). */
const LIVE_TIMEOUT = 30_000;

let server: DevServerProcess;
let sql: Sql;
let browser: Browser;
const databaseName = `et_dashboard_${Date.now()}_${randomUUID().slice(0, 8)}`;
const contexts: BrowserContext[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);
  const url = await createMigratedDatabase(databaseUrl(), databaseName);
  sql = connect(url, { max: 2 });
  [server, browser] = await Promise.all([
    // A Temporal whose namespace answers but which refuses every action: runs the tracker acts on
    // in Temporal cannot be stopped there, so their stop stays requested and unconfirmed (a
    // user's own reported runs never reach Temporal at all).
    startDevServer({
      DATABASE_URL: url, START_TEMPORAL: "false", TEMPORAL_HTTP_URL: await startRefusingTemporal(),
      LOCAL_WEBHOOKS: "false", SWEEP_INTERVAL_MS: "0", PG_NET_POLL_MS: "0",
    }),
    chromium.launch({ executablePath: CHROMIUM, args: process.getuid?.() === 0 ? ["--no-sandbox"] : [] }),
  ]);
}, 240_000);

let refusingTemporal: Server | undefined;
async function startRefusingTemporal(): Promise<string> {
  refusingTemporal = createServer((request, response) => {
    const ok = request.method === "GET" && /^\/api\/v1\/namespaces\/[^/]+$/.test(new URL(request.url!, "http://x").pathname);
    response.writeHead(ok ? 200 : 503, { "content-type": "application/json" })
      .end(JSON.stringify(ok ? { namespaceInfo: { name: "default", state: "NAMESPACE_STATE_REGISTERED" } } : { code: 14, message: "unavailable (test stand-in)" }));
  });
  await new Promise<void>((resolve) => refusingTemporal!.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(refusingTemporal.address() as AddressInfo).port}`;
}

afterAll(async () => {
  for (const context of contexts) await context.close().catch(() => {});
  await browser?.close().catch(() => {});
  await server?.stop();
  refusingTemporal?.close();
  await sql?.end({ timeout: 1 });
  await dropDatabase(databaseUrl(), databaseName).catch(() => {});
});

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

interface TestUser {
  id: string;
  token: string;
  workflows: string[];
}

async function newUser(workflowNames: string[] = ["orders"]): Promise<TestUser> {
  const id = await createUser(sql);
  const workflows: string[] = [];
  for (const name of workflowNames) workflows.push(await createWorkflow(sql, id, { name: `${name}-${id.slice(0, 4)}` }));
  return { id, token: await userToken(id), workflows };
}

async function api<T = Record<string, unknown>>(token: string, path: string, init: { method?: string; body?: unknown } = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(`${server.url}/functions/v1/${path}`, {
    method: init.method ?? (init.body ? "POST" : "GET"),
    headers: { authorization: `Bearer ${token}`, ...(init.body ? { "content-type": "application/json" } : {}) },
    body: init.body ? JSON.stringify(init.body) : undefined,
  });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : null) as T };
}

type RunRow = { id: string; temporalWorkflowId: string; status: string };

/** A run as an app records it (running), then moved to `status` when given. */
async function createRun(
  user: TestUser,
  options: {
    workflow?: number; status?: string; input?: unknown; errorMessage?: string; timeoutSeconds?: number; temporalWorkflowId?: string;
    tags?: string[]; metadata?: Record<string, string | number | boolean>;
  } = {},
): Promise<RunRow> {
  const temporalWorkflowId = options.temporalWorkflowId ?? `t-${randomUUID()}`;
  const created = await api<RunRow>(user.token, "executions-create", {
    body: {
      workflowId: user.workflows[options.workflow ?? 0], temporalWorkflowId, input: options.input ?? { n: 1 }, timeoutSeconds: options.timeoutSeconds,
      tags: options.tags, metadata: options.metadata,
    },
  });
  expect(created.status).toBe(201);
  if (options.status) await setStatus(user, created.body.id, options.status, options.errorMessage);
  return { ...created.body, status: options.status ?? "running" };
}

async function setStatus(user: TestUser, id: string, status: string, errorMessage?: string): Promise<void> {
  const updated = await api(user.token, "executions-update", { body: { id, status, ...(errorMessage ? { errorMessage } : {}) } });
  expect(updated.status, JSON.stringify(updated.body)).toBe(200);
}

/** The whole list as the API returns it to this user (newest first). */
async function allRunIds(user: TestUser, query = ""): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { status: number; body: { data: RunRow[]; nextCursor: string | null } } = await api(user.token, `executions-list?limit=100${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    ids.push(...page.body.data.map((r) => r.id));
    cursor = page.body.nextCursor;
  } while (cursor);
  return ids;
}

async function newPage(viewport = { width: 1200, height: 850 }): Promise<Page> {
  const context = await browser.newContext({ viewport, locale: "en-GB", timezoneId: "UTC" });
  contexts.push(context);
  const page = await context.newPage();
  page.setDefaultTimeout(LIVE_TIMEOUT);
  const errors: string[] = [];
  page.on("pageerror", (error) => errors.push(error.message));
  (page as Page & { errors: string[] }).errors = errors;
  return page;
}

async function signInWithToken(page: Page, token: string, baseUrl = server.url): Promise<void> {
  await page.goto(`${baseUrl}/`);
  await page.getByLabel("Supabase access token (JWT)").fill(token);
  await page.getByRole("button", { name: "Use this token" }).click();
  await page.getByRole("heading", { name: "Runs", level: 1 }).waitFor();
}

const rowIds = (page: Page) => page.$$eval("table.runs tbody tr", (rows) => rows.map((r) => (r as HTMLElement).dataset.runId!));
const rowStatus = (page: Page, id: string) => page.locator(`table.runs tr[data-run-id="${id}"]`).getAttribute("data-status");
const chipCount = async (page: Page, status: string) => Number(await page.locator(`.chips [data-count="${status}"]`).textContent());

/** Waits until `probe` returns a value `done` accepts; returns it. */
async function eventually<T>(probe: () => Promise<T>, done: (value: T) => boolean, timeoutMs = LIVE_TIMEOUT): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await probe();
  while (!done(value)) {
    if (Date.now() > deadline) throw new Error(`timed out; last value: ${JSON.stringify(value)}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
    value = await probe();
  }
  return value;
}

const sameSet = (a: string[], b: string[]) => a.length === b.length && [...a].sort().join() === [...b].sort().join();

// ---------------------------------------------------------------------------------------------

describe("dashboard (npm start, Chromium)", { timeout: 180_000 }, () => {
  it("npm start serves it at / and prints the URL; the local sign-in offers the demo user", async () => {
    expect(server.output()).toContain(`Dashboard   ${server.url}/`);
    const page = await newPage();
    const requested: string[] = [];
    const origins = new Set<string>();
    page.on("request", (request) => {
      const url = new URL(request.url());
      requested.push(url.pathname);
      origins.add(url.origin);
    });
    await page.goto(`${server.url}/`);
    await page.getByRole("button", { name: "Sign in as the demo user" }).click();
    await page.getByRole("heading", { name: "Runs", level: 1 }).waitFor();
    expect(await page.locator(".who").textContent()).toBe("demo@local.test");
    // Everything from this server (no CDN); supabase-js is not even loaded without Supabase Auth.
    expect([...origins]).toEqual([new URL(server.url).origin]);
    expect(requested.filter((path) => path.startsWith("/chunks/"))).toEqual([]);
    expect(requested).toEqual(expect.arrayContaining(["/", "/app.js", "/app.css", "/config.json"]));
    // Signing out forgets the token; a reload does not sign in again.
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.reload();
    await page.getByRole("heading", { name: "Sign in" }).waitFor();

    // An expired token is refused before any request; one the server rejects signs out with its reason.
    await page.getByLabel("Supabase access token (JWT)").fill(await expiredToken(randomUUID()));
    await page.getByRole("button", { name: "Use this token" }).click();
    await page.getByRole("alert").getByText(/not look like a valid, unexpired access token/).waitFor();
    await page.getByLabel("Supabase access token (JWT)").fill(await forgedToken(randomUUID()));
    await page.getByRole("button", { name: "Use this token" }).click();
    await page.getByRole("alert").getByText(/server rejected your token/).waitFor();
    expect((page as Page & { errors: string[] }).errors).toEqual([]);
  });

  it("shows only the signed-in user's runs: another user's never appear, not even by URL", async () => {
    const alice = await newUser(["alice-orders"]);
    const bob = await newUser(["bob-billing"]);
    const mine = [await createRun(alice), await createRun(alice, { status: "completed" }), await createRun(alice, { status: "failed", errorMessage: "boom" })];
    const theirs = [await createRun(bob), await createRun(bob, { status: "completed" })];

    const page = await newPage();
    await signInWithToken(page, alice.token);
    expect(await page.locator(".who").textContent()).toBe(`${alice.id}@test.local`);
    await eventually(() => rowIds(page), (ids) => sameSet(ids, mine.map((r) => r.id)));
    expect(await chipCount(page, "total")).toBe(3);
    const text = await page.locator("main").textContent();
    for (const run of theirs) expect(text).not.toContain(run.temporalWorkflowId);
    // The workflow filter lists her workflows only.
    const options = await page.locator("select[name=workflow] option").allTextContents();
    expect(options).toEqual(["All workflows", `alice-orders-${alice.id.slice(0, 4)}`]);

    // Bob creates another run while she watches: still not hers.
    await createRun(bob);
    await page.waitForTimeout(3500);
    expect(sameSet(await rowIds(page), mine.map((r) => r.id))).toBe(true);

    // His run by its URL: RLS says it does not exist.
    await page.goto(`${server.url}/#/runs/${theirs[0].id}`);
    await page.getByRole("heading", { name: "Run not found" }).waitFor();

    // The service role sees everyone's.
    const admin = await newPage();
    await signInWithToken(admin, await serviceToken());
    expect(await admin.locator(".who").textContent()).toBe("service role (every user's runs)");
    await admin.locator(".chips button[data-status=running]").click(); // ...the running ones of both, among others
    await admin.locator(".chips button[data-status=completed]").click();
    await eventually(() => rowIds(admin), (ids) => [...mine, ...theirs].filter((r) => r.status !== "failed").every((r) => ids.includes(r.id)));
    await admin.goto(`${server.url}/#/runs/${theirs[0].id}`);
    await admin.getByRole("heading", { name: "Timeline" }).waitFor();
  });

  it("filters by status chips, workflow, time presets and a custom range (kept in the URL)", async () => {
    const user = await newUser(["ingest", "export"]);
    const running = [await createRun(user), await createRun(user)];
    const failed = await createRun(user, { status: "failed", errorMessage: "disk full" });
    const exported = [await createRun(user, { workflow: 1, status: "completed" }), await createRun(user, { workflow: 1, status: "completed" })];
    // One from three days ago (inserted directly: started_at is the keyset position, immutable through the API).
    const [old] = await sql<{ id: string }[]>`
      insert into public.workflow_executions (workflow_id, created_by, status, started_at, created_at, completed_at, duration_ms, temporal_workflow_id)
      values (${user.workflows[1]}, ${user.id}, 'completed', now() - interval '3 days', now() - interval '3 days',
              now() - interval '3 days' + interval '2 seconds', 2000, ${`t-old-${randomUUID()}`})
      returning id`;

    const page = await newPage();
    await signInWithToken(page, user.token);
    await eventually(() => rowIds(page), (ids) => ids.length === 6);

    await page.locator(".chips button[data-status=failed]").click();
    await eventually(() => rowIds(page), (ids) => sameSet(ids, [failed.id]));
    expect(page.url()).toContain("status=failed");
    expect(await page.locator(".chips button[data-status=failed]").getAttribute("aria-pressed")).toBe("true");

    // Two statuses at once.
    await page.locator(".chips button[data-status=running]").click();
    await eventually(() => rowIds(page), (ids) => sameSet(ids, [failed.id, ...running.map((r) => r.id)]));

    // A workflow: with running+failed selected, the export workflow has none.
    await page.locator("select[name=workflow]").selectOption({ label: `export-${user.id.slice(0, 4)}` });
    await page.getByText("No runs match these filters.").waitFor();
    await page.locator(".chips button", { hasText: "All" }).click();
    await eventually(() => rowIds(page), (ids) => sameSet(ids, [...exported.map((r) => r.id), old.id]));
    expect(await chipCount(page, "total")).toBe(3);

    // Last 24 h hides the old one (and the counts follow the range).
    await page.locator("select[name=range]").selectOption("24h");
    await eventually(() => rowIds(page), (ids) => sameSet(ids, exported.map((r) => r.id)));
    await eventually(() => chipCount(page, "total"), (n) => n === 2);
    await page.locator("select[name=range]").selectOption("7d");
    await eventually(() => rowIds(page), (ids) => ids.length === 3);

    // A custom range around three days ago: the old one only.
    await page.locator("select[name=range]").selectOption("custom");
    const local = (ms: number) => new Date(Date.now() - ms).toISOString().slice(0, 16); // the page runs in UTC
    await page.getByLabel("From").fill(local(4 * 86_400_000));
    await page.getByLabel("Before").fill(local(2 * 86_400_000));
    await eventually(() => rowIds(page), (ids) => sameSet(ids, [old.id]));
    await eventually(() => chipCount(page, "completed"), (n) => n === 1);

    // The URL holds the filters: a reload (or a shared link) shows the same.
    await page.reload();
    await eventually(() => rowIds(page), (ids) => sameSet(ids, [old.id]));
  });

  it("load more walks the list with the API's cursor: every run once, in order, while new runs arrive", async () => {
    const user = await newUser(["batch"]);
    for (let i = 0; i < 55; i++) await createRun(user, i % 5 === 0 ? { status: "completed" } : {});
    const page = await newPage();
    await signInWithToken(page, user.token);
    await eventually(() => rowIds(page), (ids) => ids.length === 25);
    await page.getByRole("button", { name: "Load more" }).click();
    await eventually(() => rowIds(page), (ids) => ids.length === 50);

    // New runs arrive between pages: they appear on top, nothing is skipped or shown twice.
    const arrived = [await createRun(user), await createRun(user)];
    await eventually(() => rowIds(page), (ids) => ids[0] === arrived[1].id && ids[1] === arrived[0].id);
    await page.getByRole("button", { name: "Load more" }).click();
    const ids = await eventually(() => rowIds(page), (ids) => ids.length === 57);
    expect(new Set(ids).size).toBe(57);
    expect(ids).toEqual(await allRunIds(user));
    await eventually(() => page.getByRole("button", { name: "Load more" }).count(), (n) => n === 0);
    expect(await page.locator("[data-shown]").textContent()).toBe("Showing 57 of 57");
  });

  it("watches runs change live, opens one, cancels it after asking, and the numbers follow", async () => {
    const user = await newUser(["payments"]);
    const first = await createRun(user, { status: "completed" });
    const page = await newPage();
    await signInWithToken(page, user.token);
    await eventually(() => rowIds(page), (ids) => sameSet(ids, [first.id]));
    expect(await chipCount(page, "running")).toBe(0);

    // A new run, created through the API while the page is open, appears; its status changes live.
    const live = await createRun(user, { input: { orderId: 42, items: ["book"] } });
    await eventually(() => rowIds(page), (ids) => ids[0] === live.id);
    await eventually(() => chipCount(page, "running"), (n) => n === 1);
    const other = await createRun(user);
    await eventually(() => rowIds(page), (ids) => ids[0] === other.id);
    await setStatus(user, other.id, "failed", "card declined");
    await eventually(() => rowStatus(page, other.id), (s) => s === "failed");
    await eventually(() => chipCount(page, "failed"), (n) => n === 1);
    expect(await page.locator("[data-summary=success-rate]").textContent()).toBe("50.0%");

    // Open it: timeline, input as formatted JSON.
    await page.locator(`tr[data-run-id="${live.id}"] a.run-link`).click();
    await page.getByRole("heading", { name: "Timeline" }).waitFor();
    const input = (await page.locator("[data-field=input]").textContent())!;
    expect(JSON.parse(input)).toEqual({ orderId: 42, items: ["book"] });
    expect(input).toContain('\n  "orderId": 42'); // indented
    expect(await page.locator(".details").textContent()).toContain(live.temporalWorkflowId);

    // Cancel asks first; "Keep it" changes nothing.
    await page.getByRole("button", { name: "Cancel run" }).click();
    const dialog = page.getByRole("dialog", { name: "Cancel this run?" });
    await dialog.waitFor();
    await dialog.getByRole("button", { name: "Keep it" }).click();
    await dialog.waitFor({ state: "hidden" });
    expect((await api<RunRow>(user.token, `executions-list/${live.id}`)).body.status).toBe("running");
    await page.getByRole("button", { name: "Cancel run" }).click();
    await dialog.getByRole("button", { name: "Cancel run" }).click();
    await page.locator("h1 [data-status=cancelled]").waitFor();
    expect((await api<RunRow>(user.token, `executions-list/${live.id}`)).body.status).toBe("cancelled");
    expect(await page.getByRole("button", { name: "Cancel run" }).count()).toBe(0);

    // The numbers: 1 completed, 1 failed, 1 cancelled.
    await page.getByRole("link", { name: "Numbers" }).click();
    await eventually(() => page.locator("[data-stat=total]").textContent(), (t) => t === "3");
    expect(await page.locator("table.bars [data-count=cancelled]").textContent()).toBe("1");
    expect(await page.locator("[data-stat=success-rate]").textContent()).toBe("33.3%");
    // All time: the charts cover the last 30 days, per day.
    await eventually(() => page.locator("[data-chart=runs] g.bucket").count(), (n) => n === 30);
    // ...and they change live too.
    await setStatus(user, (await createRun(user)).id, "completed");
    await eventually(() => page.locator("[data-stat=total]").textContent(), (t) => t === "4");
    await eventually(() => page.locator("[data-stat=success-rate]").textContent(), (t) => t === "50.0%");
  });

  it("charts runs per status and p50/p95 per hour or day from the API's series (no rows), live, by keyboard, on a phone", async () => {
    const user = await newUser(["charted", "other"]);
    const HOUR = 3600_000;
    const thisHour = Math.floor(Date.now() / HOUR) * HOUR;
    // A custom range of 7 whole UTC hours, the current one and the next included (so a run made now stays inside).
    const from = new Date(thisHour - 5 * HOUR).toISOString();
    const to = new Date(thisHour + 2 * HOUR).toISOString();
    // Runs at known times (inserted directly: started_at is immutable through the API): hour index from `from`, status, duration.
    const seeded: [number, string, number | null][] = [
      [0, "completed", 1200], [2, "failed", 800], [2, "completed", 4000], [2, "completed", 2000],
      [4, "cancelled", 300], [4, "timed_out", null], [4, "completed", 2500],
    ];
    for (const [hour, status, durationMs] of seeded) {
      const startedAt = new Date(thisHour - 5 * HOUR + hour * HOUR + 60_000 + Math.floor(Math.random() * 1000)).toISOString();
      await sql`
        insert into public.workflow_executions (workflow_id, created_by, status, started_at, created_at, completed_at, duration_ms, temporal_workflow_id)
        values (${user.workflows[0]}, ${user.id}, ${status}, ${startedAt}, ${startedAt},
                ${new Date(Date.parse(startedAt) + (durationMs ?? 5000)).toISOString()}, ${durationMs}, ${`t-chart-${randomUUID()}`})`;
    }
    // One in the other workflow (not charted), and a live one now, through the API.
    await createRun(user, { workflow: 1, status: "completed" });
    const live = await createRun(user);

    const seriesFromApi = async () =>
      (await api<ExecutionStatsSeries>(user.token, `executions-stats?bucket=hour&workflowId=${user.workflows[0]}&startedAfter=${from}&startedBefore=${to}`)).body;
    /** What the page's table says, bucket by bucket. */
    const tableRows = (page: Page) =>
      page.$$eval("table.series tbody tr", (rows) =>
        rows.map((row) => {
          const tr = row as HTMLElement;
          const counts = Object.fromEntries([...tr.querySelectorAll("td[data-count]")].map((td) => [(td as HTMLElement).dataset.count!, Number(td.textContent)]));
          const durations = Object.fromEntries([...tr.querySelectorAll("td[data-duration]")].map((td) => [(td as HTMLElement).dataset.duration!, td.textContent]));
          return { start: tr.dataset.bucket!, label: tr.querySelector("th")!.textContent, counts, durations };
        }));
    /** What the bar chart draws, bucket by bucket: the height of each status's segment is its count. */
    const bars = (page: Page) =>
      page.$$eval("[data-chart=runs] g.bucket", (groups) =>
        groups.map((g) => ({
          start: (g as SVGGElement).dataset.bucket!,
          total: Number((g as SVGGElement).dataset.total),
          byStatus: Object.fromEntries([...g.querySelectorAll("rect[data-status]")].map((r) => [(r as SVGRectElement).dataset.status!, Number((r as SVGRectElement).dataset.count)])),
        })));
    const expected = (series: ExecutionStatsSeries) =>
      series.buckets.map((b) => ({
        start: b.start,
        label: bucketLabel(b.start, "hour"),
        counts: { total: b.total, ...b.byStatus },
        durations: { p50: formatDuration(b.p50DurationMs), p95: formatDuration(b.p95DurationMs) },
      }));
    const drawn = (series: ExecutionStatsSeries) =>
      series.buckets.map((b) => ({ start: b.start, total: b.total, byStatus: Object.fromEntries(Object.entries(b.byStatus).filter(([, n]) => n > 0)) }));

    const page = await newPage();
    const requested: string[] = [];
    page.on("request", (request) => requested.push(new URL(request.url()).pathname + new URL(request.url()).search));
    await signInWithToken(page, user.token);
    await page.goto(`${server.url}/#/numbers?workflow=${user.workflows[0]}&range=custom&from=${from}&to=${to}`);
    await eventually(() => page.locator("[data-stat=total]").textContent(), (t) => t === "8");

    let series = await seriesFromApi();
    expect(series.bucket).toBe("hour");
    expect(series.buckets.length).toBe(7);
    // The live run is in the current hour (index 5; 6 if the hour turned meanwhile).
    const now = series.buckets.findIndex((b) => b.byStatus.running === 1);
    expect(now).toBeGreaterThanOrEqual(5);
    expect(series.buckets.map((b) => b.total)).toEqual([1, 0, 3, 0, 3, 0, 0].map((n, i) => n + (i === now ? 1 : 0)));
    await eventually(() => page.locator("[data-chart=runs] g.bucket").count(), (n) => n === 7);
    expect(await tableRows(page)).toEqual(expected(series));
    expect(await bars(page)).toEqual(drawn(series));
    expect(await page.locator("table.series").getAttribute("data-bucket-size")).toBe("hour");
    // The duration chart: a p50 and a p95 line through the hours with durations, a dot per point.
    expect(await page.locator("[data-chart=durations] [data-line=p50] circle").count()).toBe(series.buckets.filter((b) => b.p50DurationMs !== null).length);
    expect(await page.locator("[data-chart=durations] svg").getAttribute("aria-label")).toMatch(/^p50 and p95 duration, per hour \(UTC\), lines over 7 hours/);
    expect(await page.locator("[data-chart=runs] svg").getAttribute("aria-label")).toBe("Runs per status, per hour (UTC), stacked bars over 7 hours: 8 runs in all, at most 3 in one hour.");

    // The keyboard: the chart is one stop, the arrow keys walk the hours and the readout says each one's numbers.
    await page.locator("[data-chart=runs] .chart-plot").focus();
    await page.keyboard.press("Home");
    expect(await page.locator("[data-chart=runs] [data-readout]").textContent()).toBe(`${bucketLabel(from, "hour")}: 1 run (1 completed)`);
    await page.keyboard.press("ArrowRight");
    await page.keyboard.press("ArrowRight");
    expect(await page.locator("[data-chart=runs] [data-readout]").textContent()).toBe(`${bucketLabel(series.buckets[2].start, "hour")}: 3 runs (2 completed, 1 failed)`);
    await page.keyboard.press("End");
    if (now === 5) await page.keyboard.press("ArrowLeft");
    expect(await page.locator("[data-chart=runs] [data-readout]").textContent()).toBe(`${bucketLabel(series.buckets[now].start, "hour")}: 1 run (1 running)`);
    expect(await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle)).not.toBe("none");

    // A status changes: the chart follows at the next poll, and still equals the API's series.
    await setStatus(user, live.id, "failed", "charted failure");
    await eventually(() => bars(page), (b) => b[now]?.byStatus.failed === 1 && b[now]?.byStatus.running === undefined);
    series = await seriesFromApi();
    expect(series.buckets[now].byStatus).toMatchObject({ running: 0, failed: 1 });
    expect(await tableRows(page)).toEqual(expected(series));
    expect(await bars(page)).toEqual(drawn(series));

    // The page read stats and series only: no rows (the runs page's polls ended when it closed).
    const sinceNumbers = requested.slice(requested.findIndex((r) => r.includes("bucket=hour")));
    expect(sinceNumbers.filter((r) => r.startsWith("/functions/v1/executions-list"))).toEqual([]);
    expect(sinceNumbers.filter((r) => r.includes("bucket=hour")).length).toBeGreaterThan(1);

    // Presets: the last 24 h per hour (25 buckets, the first and the current one partial), 7 days per day.
    await page.locator("select[name=range]").selectOption("24h");
    await eventually(() => page.locator("table.series tbody tr").count(), (n) => n === 25);
    expect(await page.locator("table.series").getAttribute("data-bucket-size")).toBe("hour");
    await page.locator("select[name=range]").selectOption("7d");
    await eventually(() => page.locator("table.series").getAttribute("data-bucket-size"), (b) => b === "day");
    expect(await page.locator("[data-chart=runs] g.bucket").count()).toBe(8);
    expect(requested.some((r) => r.includes("bucket=day"))).toBe(true);

    // On a phone: the charts fit the screen (nothing wider than it).
    const phone = await newPage({ width: 390, height: 844 });
    await signInWithToken(phone, user.token);
    await phone.goto(`${server.url}/#/numbers?workflow=${user.workflows[0]}&range=custom&from=${from}&to=${to}`);
    await eventually(() => phone.locator("[data-chart=durations] g[data-line=p95] circle").count(), (n) => n > 0);
    expect(await phone.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    expect((page as Page & { errors: string[] }).errors).toEqual([]);
    expect((phone as Page & { errors: string[] }).errors).toEqual([]);
  });

  it("Pause stops the live updates (filters still apply while paused); Resume catches up", async () => {
    const user = await newUser(["paused"]);
    const done = await createRun(user, { status: "completed" });
    const live = await createRun(user);
    const page = await newPage();
    await signInWithToken(page, user.token);
    await eventually(() => rowIds(page), (ids) => ids.length === 2);
    await page.getByRole("button", { name: "Pause" }).click();
    await page.getByText("Live updates paused").waitFor();
    await page.locator(".chips button[data-status=completed]").click();
    await eventually(() => rowIds(page), (ids) => sameSet(ids, [done.id]));
    await page.locator(".chips button", { hasText: "All" }).click();
    await eventually(() => rowIds(page), (ids) => ids.length === 2);
    const later = await createRun(user);
    await setStatus(user, live.id, "failed");
    await page.waitForTimeout(4000);
    expect(await rowIds(page)).not.toContain(later.id);
    expect(await rowStatus(page, live.id)).toBe("running");
    await page.getByRole("button", { name: "Resume" }).click();
    await eventually(() => rowIds(page), (ids) => ids[0] === later.id);
    expect(await rowStatus(page, live.id)).toBe("failed");
  });

  it("shows the API's message when an action is refused, and deletes after asking", async () => {
    const user = await newUser(["reports"]);
    const run = await createRun(user);
    const page = await newPage();
    await signInWithToken(page, user.token);
    await page.goto(`${server.url}/#/runs/${run.id}`);
    await page.getByRole("button", { name: "Cancel run" }).waitFor();
    // It completes behind the page's back; the cancel is refused by the lifecycle.
    await setStatus(user, run.id, "completed");
    await page.getByRole("button", { name: "Cancel run" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Cancel run" }).click();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/^Cancel refused: .*(ended|completed|terminal|finished).*Dismiss$/i);
    expect((await api<RunRow>(user.token, `executions-list/${run.id}`)).body.status).toBe("completed");

    await page.getByRole("button", { name: "Delete" }).click();
    await page.getByRole("dialog", { name: "Delete this run?" }).getByRole("button", { name: "Delete" }).click();
    await page.getByText("The run was deleted.").waitFor();
    expect((await api(user.token, `executions-list/${run.id}`)).status).toBe(404);
    expect(await rowIds(page)).toEqual([]);
  });

  it("shows a run's tags and filters by them, clicked or typed (kept in the URL); a bad tag is named and applies nothing", async () => {
    const user = await newUser(["tagged"]);
    const both = await createRun(user, { tags: ["eu", "billing"], metadata: { orderId: "1234", amount: 42.5, priority: true } });
    const eu = await createRun(user, { tags: ["eu"], status: "failed", errorMessage: "card declined" });
    const plain = await createRun(user);
    const page = await newPage();
    await signInWithToken(page, user.token);
    await eventually(() => rowIds(page), (ids) => sameSet(ids, [both.id, eu.id, plain.id]));
    const rowTags = (id: string) => page.locator(`tr[data-run-id="${id}"] .tag`).allTextContents();
    expect(await rowTags(both.id)).toEqual(["billing", "eu"]); // as stored: sorted
    expect(await rowTags(plain.id)).toEqual([]);

    // A click on a run's tag filters by it: the list, the chips' counts and the URL.
    await page.locator(`tr[data-run-id="${both.id}"]`).getByRole("button", { name: "eu", exact: true }).click();
    await eventually(() => rowIds(page), (ids) => sameSet(ids, [both.id, eu.id]));
    await eventually(() => chipCount(page, "total"), (n) => n === 2);
    expect(await chipCount(page, "failed")).toBe(1);
    expect(new URLSearchParams(new URL(page.url()).hash.split("?")[1]).get("tag")).toBe("eu");
    const field = page.locator("input[name=tags]");
    expect(await field.inputValue()).toBe("eu");

    // Typed, with a space between: runs with all of them.
    await field.fill("eu billing");
    await field.press("Enter");
    await eventually(() => rowIds(page), (ids) => sameSet(ids, [both.id]));
    expect(new URLSearchParams(new URL(page.url()).hash.split("?")[1]).get("tag")).toBe("billing,eu");
    expect(await field.inputValue()).toBe("billing, eu");

    // A tag the API would refuse is named; the filter (and the URL) stay as they were.
    const before = page.url();
    await field.fill("eu, not ok!");
    await field.press("Enter");
    await page.getByRole("alert").getByText(/"ok!" is not a tag/).waitFor();
    expect(await field.getAttribute("aria-invalid")).toBe("true");
    expect(page.url()).toBe(before);
    expect(await rowIds(page)).toEqual([both.id]);

    // The numbers keep the filter.
    await page.getByRole("link", { name: "All numbers" }).click();
    await eventually(() => page.locator("[data-stat=total]").textContent(), (t) => t === "1");

    // Cleared: every run again.
    await page.goto(`${server.url}/#/?tag=billing`);
    await eventually(() => rowIds(page), (ids) => sameSet(ids, [both.id]));
    await field.fill("");
    await field.press("Enter");
    await eventually(() => rowIds(page), (ids) => sameSet(ids, [both.id, eu.id, plain.id]));

    // One run: its tags (links that filter the runs) and metadata.
    await page.goto(`${server.url}/#/runs/${both.id}`);
    await page.getByRole("heading", { name: "Timeline" }).waitFor();
    expect(await page.locator("[data-field=tags] .tag").allTextContents()).toEqual(["billing", "eu"]);
    expect(await page.locator("[data-field=metadata] li").allTextContents()).toEqual(["amount = 42.5", 'orderId = "1234"', "priority = true"]);
    await page.locator("[data-field=tags]").getByRole("link", { name: "billing" }).click();
    await eventually(() => rowIds(page), (ids) => sameSet(ids, [both.id]));

    // A metadata value links to the runs with the same value (the API's metadata.<key>=<value>);
    // the filter shows above the list and is removed with one click.
    const sameOrder = await createRun(user, { metadata: { orderId: "1234" } });
    await createRun(user, { metadata: { orderId: "9999" } });
    await page.goto(`${server.url}/#/runs/${both.id}`);
    await page.locator("[data-field=metadata]").getByRole("link", { name: '"1234"' }).click();
    await eventually(() => rowIds(page), (ids) => sameSet(ids, [both.id, sameOrder.id]));
    expect(new URLSearchParams(new URL(page.url()).hash.split("?")[1]).get("metadata.orderId")).toBe("1234");
    await eventually(() => chipCount(page, "total"), (n) => n === 2);
    await page.getByRole("button", { name: "Remove the filter orderId = 1234" }).click();
    await eventually(() => rowIds(page), (ids) => ids.length === 5);
    // A number filters by its text too.
    await page.goto(`${server.url}/#/runs/${both.id}`);
    await page.locator("[data-field=metadata]").getByRole("link", { name: "42.5" }).click();
    await eventually(() => rowIds(page), (ids) => sameSet(ids, [both.id]));
    expect((page as Page & { errors: string[] }).errors).toEqual([]);
  });

  it("retries a run after asking: opens the new run, linked both ways; a run the tracker cannot start is refused with the API's message", async () => {
    const id = await createUser(sql);
    const suffix = id.slice(0, 4);
    // Only a workflow naming a registered Temporal type and queue can be retried (the tracker starts it).
    const startable = await createWorkflow(sql, id, { name: `greet-${suffix}`, temporalWorkflowType: "greet", taskQueue: "dashboard-tests" });
    const reportedOnly = await createWorkflow(sql, id, { name: `external-${suffix}` });
    const user: TestUser = { id, token: await userToken(id), workflows: [startable, reportedOnly] };
    const original = await createRun(user, { status: "failed", errorMessage: "timeout talking to the mail server", input: { to: "ada@example.com" }, tags: ["mail"] });

    const page = await newPage();
    await signInWithToken(page, user.token);
    await page.goto(`${server.url}/#/runs/${original.id}`);
    await page.getByRole("button", { name: "Retry" }).click();
    const dialog = page.getByRole("dialog", { name: "Retry this run?" });
    await dialog.getByRole("button", { name: "Keep it" }).click();
    await dialog.waitFor({ state: "hidden" });
    const retriesOf = async () => (await api<{ data: (RunRow & { retryOf: string; input: unknown; tags: string[] })[] }>(user.token, `executions-list?retryOf=${original.id}`)).body.data;
    expect(await retriesOf()).toEqual([]);

    await page.getByRole("button", { name: "Retry" }).click();
    await dialog.getByRole("button", { name: "Retry" }).click();
    // The new run opens: pending (this Temporal refuses the start, so the sweeper would start it), a retry of the original.
    await eventually(() => Promise.resolve(new URL(page.url()).hash), (hash) => hash.startsWith("#/runs/") && !hash.endsWith(original.id));
    const retryId = new URL(page.url()).hash.slice("#/runs/".length);
    await page.locator("h1 [data-status=pending]").waitFor();
    const [retry] = await retriesOf();
    expect(retry).toMatchObject({ id: retryId, retryOf: original.id, input: { to: "ada@example.com" }, tags: ["mail"], status: "pending" });
    expect(await retriesOf()).toHaveLength(1);
    await page.locator(".details").getByRole("link", { name: original.id }).click();
    // The original lists its retry.
    await page.locator(`[data-field=retries] a[href="#/runs/${retryId}"]`).waitFor();
    expect(await page.locator("[data-field=retries] li").count()).toBe(1);

    // A run of a workflow without a Temporal type: the API's refusal, and no retry.
    const external = await createRun(user, { workflow: 1, status: "failed", errorMessage: "x" });
    await page.goto(`${server.url}/#/runs/${external.id}`);
    await page.getByRole("button", { name: "Retry" }).click();
    await dialog.getByRole("button", { name: "Retry" }).click();
    const alert = page.getByRole("alert");
    await alert.waitFor();
    expect(await alert.textContent()).toMatch(/^Retry refused: .*Temporal.*Dismiss$/i);
    expect(new URL(page.url()).hash).toBe(`#/runs/${external.id}`);
    expect((await api<{ data: unknown[] }>(user.token, `executions-list?retryOf=${external.id}`)).body.data).toEqual([]);
    expect((page as Page & { errors: string[] }).errors).toEqual([]);
  });

  it("cancels, then deletes, every run matching the filters: counted first, asked, progress until done; the service role gets no bulk actions", async () => {
    const user = await newUser(["batch"]);
    const tagged = [await createRun(user, { tags: ["nightly"] }), await createRun(user, { tags: ["nightly"] }), await createRun(user, { tags: ["nightly"] })];
    const ended = await createRun(user, { tags: ["nightly"], status: "completed" });
    const untouched = await createRun(user);
    const statusOf = async (id: string) => (await api<RunRow>(user.token, `executions-list/${id}`)).body.status;

    const page = await newPage();
    await signInWithToken(page, user.token);
    await page.goto(`${server.url}/#/?tag=nightly`);
    await eventually(() => rowIds(page), (ids) => sameSet(ids, [...tagged, ended].map((r) => r.id)));

    // The dry run's count is in the question; "Keep it" changes nothing.
    await page.getByRole("button", { name: "Cancel matching…" }).click();
    const cancelDialog = page.getByRole("dialog", { name: "Cancel 4 matching runs?" });
    await cancelDialog.waitFor();
    expect(await cancelDialog.locator("[data-field=bulk-explanation]").textContent()).toMatch(/already ended are skipped/);
    await cancelDialog.getByRole("button", { name: "Keep it" }).click();
    await cancelDialog.waitFor({ state: "hidden" });
    for (const run of tagged) expect(await statusOf(run.id)).toBe("running");

    await page.getByRole("button", { name: "Cancel matching…" }).click();
    await cancelDialog.getByRole("button", { name: "Cancel", exact: true }).click();
    const progress = page.locator("[data-bulk-status]");
    await eventually(() => progress.getAttribute("data-bulk-status"), (s) => s === "done");
    expect(await progress.locator("[data-bulk=done]").textContent()).toBe("3");
    expect(await progress.locator("[data-bulk=skipped]").textContent()).toBe("1"); // the one that had ended
    expect(await progress.locator("[data-bulk=failed]").textContent()).toBe("0");
    for (const run of tagged) expect(await statusOf(run.id)).toBe("cancelled");
    expect(await statusOf(ended.id)).toBe("completed");
    expect(await statusOf(untouched.id)).toBe("running"); // not tagged: not matched
    await eventually(() => Promise.all(tagged.map((r) => rowStatus(page, r.id))), (s) => s.every((x) => x === "cancelled"));
    await progress.getByRole("button", { name: "Dismiss" }).click();
    await progress.waitFor({ state: "hidden" });

    // Delete, this time for the cancelled ones only (the status chip narrows the filter).
    await page.locator(".chips button[data-status=cancelled]").click();
    await eventually(() => rowIds(page), (ids) => sameSet(ids, tagged.map((r) => r.id)));
    await page.getByRole("button", { name: "Delete matching…" }).click();
    const deleteDialog = page.getByRole("dialog", { name: "Delete 3 matching runs?" });
    await deleteDialog.getByRole("button", { name: "Delete", exact: true }).click();
    await eventually(() => progress.getAttribute("data-bulk-status"), (s) => s === "done");
    expect(await progress.locator("[data-bulk=done]").textContent()).toBe("3");
    await eventually(() => rowIds(page), (ids) => ids.length === 0);
    for (const run of tagged) expect((await api(user.token, `executions-list/${run.id}`)).status).toBe(404);
    expect(await statusOf(ended.id)).toBe("completed");

    // Nothing matches now: the question says so and there is nothing to confirm.
    await page.getByRole("button", { name: "Retry matching…" }).click();
    const none = page.getByRole("dialog", { name: "No run matches these filters" });
    await none.waitFor();
    expect(await none.getByRole("button", { name: "Retry", exact: true }).isDisabled()).toBe(true);
    await none.getByRole("button", { name: "Keep it" }).click();

    const admin = await newPage();
    await signInWithToken(admin, await serviceToken());
    await admin.locator("table.runs tbody tr").first().waitFor();
    expect(await admin.locator(".bulk-buttons").count()).toBe(0);
    expect((page as Page & { errors: string[] }).errors).toEqual([]);
  });

  it("alerts: adds an endpoint (its secret shown once), whose signed alerts show in the delivery log; disable, rotate, delete; a refused URL names why", async () => {
    // A receiver on 127.0.0.1 (npm start allows private URLs) that keeps what it got.
    const received: { signature: string | null; body: string }[] = [];
    const receiver = createServer((request, response) => {
      let body = "";
      request.on("data", (chunk) => (body += chunk));
      request.on("end", () => {
        received.push({ signature: request.headers["x-execution-tracker-signature"] as string ?? null, body });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
    const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/runs`;
    try {
      const user = await newUser(["billing"]);
      const endpointsOf = async () => (await api<{ data: { id: string; enabled: boolean }[] }>(user.token, "alerts/endpoints")).body.data;
      const page = await newPage();
      await signInWithToken(page, user.token);
      await page.getByRole("link", { name: "Alerts" }).click();
      await page.getByText("No endpoints yet").waitFor();

      // A URL the API refuses: its message, nothing stored.
      await page.getByLabel("URL").fill("ftp://example.com/hooks");
      await page.getByRole("button", { name: "Add endpoint" }).click();
      await page.getByRole("alert").getByText(/^Adding the endpoint refused: /).waitFor();
      expect(await endpointsOf()).toEqual([]);
      expect(await page.getByLabel("URL").inputValue()).toBe("ftp://example.com/hooks");

      await page.getByLabel("URL").fill(receiverUrl);
      await page.getByLabel("Description").fill("on-call");
      await page.getByRole("button", { name: "Add endpoint" }).click();
      const secretNote = page.locator("[data-field=secret]");
      await secretNote.waitFor();
      const secret = (await secretNote.textContent())!;
      const [endpoint] = await endpointsOf();
      expect(endpoint).toMatchObject({ enabled: true });
      expect(await page.getByLabel("URL").inputValue()).toBe(""); // added: the form is cleared (a refused one kept what was typed)
      expect(await page.locator(`tr[data-endpoint-id="${endpoint.id}"]`).textContent()).toContain("Failed, Timed out");

      // A run fails: the receiver gets it, signed with that secret, and the log says delivered.
      const failed = await createRun(user, { status: "failed", errorMessage: "card declined" });
      await eventually(() => Promise.resolve(received.length), (n) => n === 1);
      expect(await verifyAlertSignature(secret, received[0].signature, received[0].body)).toBe(true);
      expect(JSON.parse(received[0].body).execution).toMatchObject({ id: failed.id, status: "failed", errorMessage: "card declined" });
      const delivered = page.locator("table.deliveries tr[data-status=delivered]");
      await delivered.waitFor();
      expect(await delivered.locator(`a[href="#/runs/${failed.id}"]`).count()).toBe(1);
      await page.locator(".note.secret").getByRole("button", { name: "Done" }).click();
      expect(await page.locator("[data-field=secret]").count()).toBe(0);

      // Disabled: no alert for the next failure, no log row.
      await page.getByLabel(`Send alerts to ${receiverUrl}`).uncheck();
      await eventually(endpointsOf, (list) => list[0]?.enabled === false);
      const quiet = await createRun(user, { status: "failed" });
      await page.waitForTimeout(3000);
      expect(received).toHaveLength(1);
      expect(await page.locator(`table.deliveries a[href="#/runs/${quiet.id}"]`).count()).toBe(0);

      // Rotated: a new secret, shown once; the old one no longer signs.
      await page.getByRole("button", { name: "Rotate secret" }).click();
      await eventually(() => page.locator("[data-field=secret]").textContent().catch(() => null), (t) => t !== null && t !== secret);
      await page.getByLabel(`Send alerts to ${receiverUrl}`).check();
      await eventually(endpointsOf, (list) => list[0]?.enabled === true);
      const rotated = (await page.locator("[data-field=secret]").textContent())!;
      await createRun(user, { status: "timed_out" });
      await eventually(() => Promise.resolve(received.length), (n) => n === 2);
      expect(await verifyAlertSignature(rotated, received[1].signature, received[1].body)).toBe(true);
      expect(await verifyAlertSignature(secret, received[1].signature, received[1].body)).toBe(false);

      // Deleted after asking: gone with its log.
      await page.getByRole("button", { name: "Delete" }).click();
      await page.getByRole("dialog", { name: "Delete this endpoint?" }).getByRole("button", { name: "Delete" }).click();
      await page.getByText("No endpoints yet").waitFor();
      expect(await endpointsOf()).toEqual([]);
      await eventually(() => page.locator("table.deliveries tbody tr").count(), (n) => n === 0);

      // The service role has no alerts of its own to manage.
      const admin = await newPage();
      await signInWithToken(admin, await serviceToken());
      expect(await admin.getByRole("link", { name: "Alerts" }).count()).toBe(0);
      expect((page as Page & { errors: string[] }).errors).toEqual([]);
    } finally {
      receiver.close();
    }
  });

  it("marks stuck runs at a glance: running past their timeout", async () => {
    const user = await newUser(["stuck"]);
    const overdue = await createRun(user, { timeoutSeconds: 1 });
    const fine = await createRun(user, { timeoutSeconds: 3600 });
    const page = await newPage();
    await signInWithToken(page, user.token);
    await eventually(() => page.locator(`tr[data-run-id="${overdue.id}"].stuck`).count(), (n) => n === 1);
    expect(await page.locator(`tr[data-run-id="${overdue.id}"] .badge.stuck`).textContent()).toBe("Overdue");
    expect(await page.locator(`tr[data-run-id="${fine.id}"].stuck`).count()).toBe(0);
    await page.locator(`tr[data-run-id="${overdue.id}"] a.run-link`).click();
    expect(await page.getByRole("status").first().textContent()).toMatch(/^Overdue: past its timeout by/);
  });

  it("marks a stop that Temporal has not confirmed (Temporal refuses it)", async (context) => {
    const user = await newUser(["registered"]);
    // A run the service role vouches for: the tracker acts on it in Temporal.
    const created = await api<RunRow & { temporalLink?: string }>(await serviceToken(), "executions-create", {
      body: { workflowId: user.workflows[0], temporalWorkflowId: `reg-${randomUUID()}`, userId: user.id },
    });
    expect(created.status).toBe(201);
    const page = await newPage();
    await signInWithToken(page, user.token);
    await page.goto(`${server.url}/#/runs/${created.body.id}`);
    await page.getByRole("button", { name: "Cancel run" }).click();
    await page.getByRole("dialog").getByRole("button", { name: "Cancel run" }).click();
    await page.locator(".note.ok, .note.error").first().waitFor();
    const after = (await api<RunRow & { stopRequestedAt?: string | null }>(user.token, `executions-list/${created.body.id}`)).body;
    if (!("stopRequestedAt" in after) || after.stopRequestedAt === null || after.status === "cancelled") {
      // An API without stop requests ends the run at once: nothing can be unconfirmed.
      expect(after.status).toBe("cancelled");
      return context.skip("this API has no unconfirmed stops (stopRequestedAt)");
    }
    await page.getByText(/Stop requested .* ago, not confirmed by Temporal/).first().waitFor();
    await page.getByText(/^Cancel requested: the run is running until Temporal confirms the stop\.$/).waitFor();
    await page.getByRole("link", { name: "← Runs" }).click();
    await eventually(() => page.locator(`tr[data-run-id="${created.body.id}"] .badge.stuck`).textContent(), (t) => t === "Stop unconfirmed");
  });

  it("is keyboard-usable and fits a phone", async () => {
    const user = await newUser(["mobile", "nightly"]);
    for (const status of ["completed", "failed", undefined, "completed", "cancelled"]) await createRun(user, { status, workflow: status === "failed" ? 1 : 0 });
    await createRun(user, { timeoutSeconds: 1 });
    const page = await newPage({ width: 390, height: 844 });
    await signInWithToken(page, user.token);
    await eventually(() => rowIds(page), (ids) => ids.length === 6);
    // Nothing wider than the screen.
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);

    // Tab to the first run's link and open it with Enter; Escape closes a dialog.
    const first = (await rowIds(page))[0];
    let reached = false;
    for (let i = 0; i < 40 && !reached; i++) {
      await page.keyboard.press("Tab");
      reached = await page.evaluate((id) => document.activeElement?.closest("tr")?.getAttribute("data-run-id") === id, first);
    }
    expect(reached).toBe(true);
    const outline = await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle);
    expect(outline).not.toBe("none");
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Timeline" }).waitFor();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
    await page.getByRole("button", { name: "Delete" }).focus();
    await page.keyboard.press("Enter");
    await page.getByRole("dialog").waitFor();
    await page.keyboard.press("Escape");
    await page.getByRole("dialog").waitFor({ state: "hidden" });
    expect((await api(user.token, `executions-list/${first}`)).status).toBe(200);
  });

  it("deploys as static files: built with the project's URL and anon key, served from another origin; Supabase Auth sign-in or a token", async () => {
    const outDir = mkdtempSync(join(tmpdir(), "et-dashboard-"));
    let staticServer: Server | undefined;
    try {
      const user = await newUser(["deployed"]);
      const created = await createRun(user);

      // Any static file server will do: this one knows nothing but files, plus a stand-in for
      // Supabase Auth's password grant at /auth/v1 (the project URL), as GoTrue answers it.
      const types: Record<string, string> = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".json": "application/json" };
      const authRequests: string[] = [];
      staticServer = createServer(async (request, response) => {
        const url = new URL(request.url!, "http://x");
        if (url.pathname.startsWith("/auth/v1/")) {
          authRequests.push(`${request.method} ${url.pathname}${url.search}`);
          let body = "";
          for await (const chunk of request) body += chunk;
          if (url.pathname === "/auth/v1/token" && url.searchParams.get("grant_type") === "password") {
            const { email, password } = JSON.parse(body);
            if (email !== `${user.id}@test.local` || password !== "correct horse") {
              return void response.writeHead(400, { "content-type": "application/json" })
                .end(JSON.stringify({ code: 400, error_code: "invalid_credentials", msg: "Invalid login credentials" }));
            }
            const session = {
              access_token: user.token, token_type: "bearer", expires_in: 3600, expires_at: Math.floor(Date.now() / 1000) + 3600,
              refresh_token: "refresh-1",
              user: { id: user.id, aud: "authenticated", role: "authenticated", email, app_metadata: {}, user_metadata: {}, created_at: new Date().toISOString() },
            };
            return void response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(session));
          }
          if (url.pathname === "/auth/v1/logout") return void response.writeHead(204).end();
          return void response.writeHead(404).end();
        }
        const file = join(outDir, url.pathname === "/" ? "index.html" : url.pathname.slice(1));
        if (!file.startsWith(outDir) || !existsSync(file)) return void response.writeHead(404).end();
        response.writeHead(200, { "content-type": types[extname(file)] ?? "application/octet-stream" }).end(readFileSync(file));
      });
      await new Promise<void>((resolve) => staticServer!.listen(0, "127.0.0.1", resolve));
      const origin = `http://127.0.0.1:${(staticServer.address() as AddressInfo).port}`;

      await run(join(REPO_ROOT, "node_modules", ".bin", "deno"), [
        "run", "-A", "--config", "deno.json", "dashboard/build.ts", "--out", outDir,
        "--supabase-url", origin, "--anon-key", "the-anon-key",
        "--functions-url", `${server.url}/functions/v1`, "--temporal-ui-url", "http://temporal.invalid:8233",
      ], { cwd: REPO_ROOT, env: { ...process.env, NO_COLOR: "1" } });
      expect(JSON.parse(readFileSync(join(outDir, "config.json"), "utf8"))).toEqual({
        functionsUrl: `${server.url}/functions/v1`, supabaseUrl: origin, anonKey: "the-anon-key", temporalUiUrl: "http://temporal.invalid:8233",
      });

      const page = await newPage();
      await page.goto(`${origin}/`);
      // No demo user on a deployed dashboard; email + password through supabase-js.
      expect(await page.getByRole("button", { name: "Sign in as the demo user" }).count()).toBe(0);
      await page.getByLabel("Email").fill(`${user.id}@test.local`);
      await page.getByLabel("Password").fill("wrong");
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      await page.getByRole("alert").getByText("Invalid login credentials").waitFor();
      await page.getByLabel("Password").fill("correct horse");
      await page.getByRole("button", { name: "Sign in", exact: true }).click();
      await page.getByRole("heading", { name: "Runs", level: 1 }).waitFor();
      await eventually(() => rowIds(page), (ids) => sameSet(ids, [created.id]));
      expect(authRequests).toContain("POST /auth/v1/token?grant_type=password");

      // The session survives a reload (supabase-js keeps it), and the run links to the Temporal Web UI.
      await page.reload();
      await eventually(() => rowIds(page), (ids) => sameSet(ids, [created.id]));
      await page.locator("a.run-link").click();
      const link = page.getByRole("link", { name: created.temporalWorkflowId });
      expect(await link.getAttribute("href")).toBe(`http://temporal.invalid:8233/namespaces/default/workflows/${created.temporalWorkflowId}`);
      await page.getByRole("button", { name: "Sign out" }).click();
      await page.getByRole("heading", { name: "Sign in" }).waitFor();
      expect(authRequests.some((r) => r.startsWith("POST /auth/v1/logout"))).toBe(true);

      // A pasted token works there too.
      await signInWithToken(page, user.token, origin);
      await eventually(() => rowIds(page), (ids) => sameSet(ids, [created.id]));
    } finally {
      staticServer?.close();
      rmSync(outDir, { recursive: true, force: true });
    }
  });

  it.runIf(SCREENSHOTS)("screenshots for docs/: dashboard-numbers.png", async () => {
    const user = await newUser(["checkout"]);
    // A day of runs, hour by hour (a fixed pseudo-random pattern): mostly completed, a few failures, a slow spell.
    let seed = 7;
    const next = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
    const now = Date.now();
    const rows: { status: string; startedAt: string; durationMs: number | null }[] = [];
    for (let h = 23; h >= 0; h--) {
      const count = 3 + Math.round(6 * next() + (h > 8 && h < 14 ? 5 : 0));
      for (let i = 0; i < count; i++) {
        const startedAt = now - h * 3600_000 - Math.floor(next() * 3500_000);
        if (startedAt > now - 5_000) continue;
        const r = next();
        const live = h === 0 && i < 2;
        const status = live ? "running" : r < 0.78 ? "completed" : r < 0.9 ? "failed" : r < 0.95 ? "timed_out" : "cancelled";
        const slow = h >= 15 && h <= 17 ? 3 : 1;
        const durationMs = live ? null : Math.round((600 + 1800 * next() + (next() < 0.1 ? 6000 : 0)) * slow);
        rows.push({ status, startedAt: new Date(startedAt).toISOString(), durationMs });
      }
    }
    for (const row of rows) {
      await sql`
        insert into public.workflow_executions (workflow_id, created_by, status, started_at, created_at, completed_at, duration_ms, temporal_workflow_id)
        values (${user.workflows[0]}, ${user.id}, ${row.status}, ${row.startedAt}, ${row.startedAt},
                ${row.durationMs === null ? null : new Date(Date.parse(row.startedAt) + row.durationMs).toISOString()}, ${row.durationMs}, ${`checkout-${randomUUID().slice(0, 8)}`})`;
    }
    const page = await newPage({ width: 1200, height: 760 });
    await signInWithToken(page, user.token);
    await page.goto(`${server.url}/#/numbers?range=24h`);
    await eventually(() => page.locator("[data-chart=runs] g.bucket").count(), (n) => n === 25);
    await page.waitForTimeout(500);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(REPO_ROOT, "docs", "dashboard-numbers.png"), fullPage: true });
  });

  it.runIf(SCREENSHOTS)("screenshots for docs/: dashboard-runs.png, dashboard-run.png, dashboard-phone.png", async () => {
    const user = await newUser(["checkout", "nightly-report", "email-digest"]);
    const plan: [number, string | undefined, unknown, string?][] = [
      [0, "completed", { orderId: 1031 }], [1, "failed", { day: "2026-11-30" }, "upstream timed out after 30 s"],
      [0, "completed", { orderId: 1032 }], [2, "completed", { batch: 17 }], [0, undefined, { orderId: 1033 }],
      [1, "completed", { day: "2026-11-29" }], [2, "cancelled", { batch: 18 }], [0, "completed", { orderId: 1034 }],
      [0, "completed", { orderId: 1035 }], [1, undefined, { day: "2026-12-01" }],
    ];
    const names = ["checkout", "nightly-report", "email-digest"];
    const created: RunRow[] = [];
    for (const [i, [workflow, status, input, errorMessage]] of plan.entries()) {
      const temporalWorkflowId = `${names[workflow]}-${1040 + i}-${randomUUID().slice(0, 4)}`;
      created.push(await createRun(user, { workflow, status, input, errorMessage, temporalWorkflowId }));
      await new Promise((resolve) => setTimeout(resolve, 120 + 90 * i));
    }
    await createRun(user, { workflow: 0, timeoutSeconds: 1, input: { orderId: 1036 }, temporalWorkflowId: `checkout-1050-${randomUUID().slice(0, 4)}` });
    const page = await newPage({ width: 1200, height: 760 });
    await signInWithToken(page, user.token);
    await eventually(() => rowIds(page), (ids) => ids.length === 11);
    await page.waitForTimeout(3500);
    await page.mouse.move(0, 0);
    await page.screenshot({ path: join(REPO_ROOT, "docs", "dashboard-runs.png") });

    await page.locator(`tr[data-run-id="${created[1].id}"] a.run-link`).click();
    await page.getByRole("heading", { name: "Error" }).waitFor();
    await page.screenshot({ path: join(REPO_ROOT, "docs", "dashboard-run.png"), fullPage: true });

    const phone = await newPage({ width: 390, height: 844 });
    await signInWithToken(phone, user.token);
    await eventually(() => rowIds(phone), (ids) => ids.length === 11);
    await phone.waitForTimeout(1000);
    await phone.screenshot({ path: join(REPO_ROOT, "docs", "dashboard-phone.png") });
  });
});

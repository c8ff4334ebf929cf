/**
 * The schema as the Supabase CLI applied it (`supabase db push`, tests/support/postgres.ts):
 * its history table lists every migration file, and the tables, RLS, policies, views,
 * functions and triggers of the product are there.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connect, databaseUrl, REPO_ROOT, type Sql } from "../support/postgres.ts";

/**
 * `schema.table.trigger` of every trigger the migrations leave behind, read from the files in
 * order: each `create [or replace] [constraint] trigger <name> ... on <table>` adds one, each
 * `drop trigger [if exists] <name> on <table>` removes it (comments ignored).
 */
function triggersOfMigrations(): string[] {
  const directory = join(REPO_ROOT, "supabase", "migrations");
  const triggers = new Set<string>();
  const statement = /\b(create\s+(?:or\s+replace\s+)?(?:constraint\s+)?trigger|drop\s+trigger(?:\s+if\s+exists)?)\s+(\w+)\s[\s\S]*?\bon\s+([\w.]+)/gi;
  for (const file of readdirSync(directory).filter((f) => f.endsWith(".sql")).sort()) {
    const text = readFileSync(join(directory, file), "utf8").replace(/--.*$/gm, "");
    for (const [, verb, name, table] of text.matchAll(statement)) {
      const key = `${table.includes(".") ? table : `public.${table}`}.${name}`.toLowerCase();
      if (/^create/i.test(verb)) triggers.add(key);
      else triggers.delete(key);
    }
  }
  return [...triggers].sort();
}

let sql: Sql;
beforeAll(() => {
  sql = connect(databaseUrl(), { max: 2 });
});
afterAll(async () => {
  await sql.end({ timeout: 1 });
});

describe("migrations applied by the Supabase CLI", () => {
  it("supabase_migrations.schema_migrations lists every file of supabase/migrations", async () => {
    const files = readdirSync(join(REPO_ROOT, "supabase", "migrations")).filter((f) => f.endsWith(".sql")).sort();
    expect(files.length).toBeGreaterThan(0);
    const expected = files.map((f) => {
      const [, version, name] = /^(\d+)_(.+)\.sql$/.exec(f)!;
      return { version, name };
    });
    const rows = await sql`select version, name, statements from supabase_migrations.schema_migrations order by version`;
    expect(rows.map(({ version, name }) => ({ version, name }))).toEqual(expected);
    for (const row of rows) expect(row.statements.length).toBeGreaterThan(0);
  });

  it("creates the tables with row level security enabled", async () => {
    const rows = await sql`
      select c.relname, c.relrowsecurity
        from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind = 'r'
       order by 1`;
    expect(rows.map((r) => r.relname)).toEqual(
      expect.arrayContaining(["execution_duration_bins", "execution_stats_rollup", "workflow_executions", "workflows"]),
    );
    for (const row of rows) expect(row.relrowsecurity, `${row.relname} has RLS`).toBe(true);
  });

  it("creates one policy per command for authenticated on the owned tables, read-only ones on the rollups", async () => {
    const rows = await sql`
      select tablename, cmd, roles::text[] as roles, qual, with_check
        from pg_policies where schemaname = 'public' order by tablename, cmd`;
    const byTable = (t: string) => rows.filter((r) => r.tablename === t).map((r) => r.cmd).sort();
    expect(byTable("workflows")).toEqual(["DELETE", "INSERT", "SELECT", "UPDATE"]);
    expect(byTable("workflow_executions")).toEqual(["DELETE", "INSERT", "SELECT", "UPDATE"]);
    expect(byTable("execution_stats_rollup")).toEqual(["SELECT"]);
    expect(byTable("execution_duration_bins")).toEqual(["SELECT"]);
    expect(byTable("execution_owner_duration_bins")).toEqual(["SELECT"]);
    // The registry of startable workflow types is shared: every user reads all of it.
    expect(rows.filter((r) => r.tablename === "temporal_workflow_types").map((r) => [r.cmd, r.qual])).toEqual([["SELECT", "true"]]);
    for (const row of rows.filter((r) => r.tablename !== "temporal_workflow_types")) {
      expect(row.roles).toEqual(["authenticated"]);
      // Every policy scopes by the owner.
      expect(`${row.qual ?? ""} ${row.with_check ?? ""}`).toContain("auth.uid()");
    }
  });

  it("creates the stats views with security_invoker, and the summary function", async () => {
    const views = await sql`
      select c.relname, c.reloptions from pg_class c join pg_namespace n on n.oid = c.relnamespace
       where n.nspname = 'public' and c.relkind = 'v' order by 1`;
    expect(views.map((v) => v.relname)).toEqual([
      "execution_duration_histogram", "execution_owner_duration_histogram", "execution_stats", "execution_stats_source",
    ]);
    for (const view of views) expect(view.reloptions).toContain("security_invoker=true");

    const functions = await sql`
      select p.proname, p.prosecdef,
             has_function_privilege('anon', p.oid, 'execute') or has_function_privilege('authenticated', p.oid, 'execute') as callable_by_api_users
        from pg_proc p join pg_namespace n on n.oid = p.pronamespace
       where n.nspname = 'public' order by 1`;
    expect(functions.map((f) => f.proname)).toEqual(expect.arrayContaining([
      "execution_duration_bin", "execution_duration_bin_value", "execution_stats_summary",
      "execution_status_is_terminal", "execution_transition_allowed",
    ]));
    // Nothing in public that anon or a user can call runs with its owner's rights (the bulk
    // processor's kick, 20261202000400, does: for the service role alone).
    for (const f of functions) if (f.prosecdef) expect(f.callable_by_api_users, f.proname).toBe(false);
  });

  it("installs exactly the triggers the migration files create (and do not drop again)", async () => {
    const rows = await sql`
      select n.nspname || '.' || c.relname || '.' || t.tgname as name
        from pg_trigger t join pg_class c on c.oid = t.tgrelid join pg_namespace n on n.oid = c.relnamespace
       where not t.tgisinternal and n.nspname in ('public', 'private') order by 1`;
    const expected = triggersOfMigrations();
    expect(rows.map((r) => r.name)).toEqual(expected);
    // What the product relies on, named, so a parser slip above cannot hide a missing one.
    expect(expected).toEqual(expect.arrayContaining([
      "enforce_execution_lifecycle", "execution_temporal_link", "convert_stop_into_request", "clamp_dispatch_lease",
      "execution_inserted_pending_webhook", "execution_stop_requested_webhook", "execution_deleted_live_webhook",
      "execution_deleted_stop_request", "truncate_execution_rollups",
      "execution_tags_inserted", "execution_tags_changed", "execution_tags_deleted",
      "execution_metadata_inserted", "execution_metadata_changed", "execution_metadata_deleted",
      "execution_retry_of_same_owner",
      "append_inserted_stat_deltas", "append_updated_stat_deltas", "append_deleted_stat_deltas",
      "execution_inserted_alert", "execution_status_alert",
    ].map((name) => `public.workflow_executions.${name}`)));
    expect(expected).toContain("public.alert_endpoints.alert_endpoints_set_updated_at");
    // The stat deltas (20261202000200) replaced the folding triggers.
    expect(expected.filter((name) => /\.fold_\w+_executions$/.test(name))).toEqual([]);
  });

  it("gives anon nothing and the API roles no way into schema private", async () => {
    const [row] = await sql`
      select has_table_privilege('anon', 'public.workflow_executions', 'select') as anon_exec,
             has_table_privilege('anon', 'public.workflows', 'select') as anon_wf,
             has_schema_privilege('authenticated', 'private', 'usage') as auth_private,
             has_schema_privilege('service_role', 'private', 'usage') as service_private,
             has_table_privilege('authenticated', 'public.execution_stats_rollup', 'insert') as auth_rollup_insert,
             has_function_privilege('anon', 'public.execution_stats_summary(uuid, timestamptz, timestamptz)', 'execute') as anon_summary`;
    expect(row).toEqual({ anon_exec: false, anon_wf: false, auth_private: false, service_private: false, auth_rollup_insert: false, anon_summary: false });
  });

  it("schedules the timeout sweeper with pg_cron when pg_cron is loaded", async (context) => {
    const [{ loaded }] = await sql`select exists (select from pg_extension where extname = 'pg_cron') as loaded`;
    // Plain PostgreSQL without pg_cron: the migration schedules nothing (and must not fail). The
    // test says so as a skip rather than passing; CI installs pg_cron, so it runs there.
    if (!loaded) return context.skip("pg_cron is not loaded in this cluster");
    const jobs = await sql`select jobname, schedule, command from cron.job where jobname = 'execution-tracker-timeout-sweeper'`;
    expect(jobs).toEqual([{ jobname: "execution-tracker-timeout-sweeper", schedule: "* * * * *", command: "select private.invoke_timeout_sweeper()" }]);
  });

  it("calls functions through pg_net with the URL and secret from Vault, waiting 60 s for the sweeper's and the deliverer's long runs", async () => {
    const rollback = new Error("rollback");
    // In a transaction rolled back at the end: no other test's writes queue webhooks meanwhile.
    await expect(sql.begin(async (tx) => {
      await tx`select vault.create_secret('http://127.0.0.1:1/functions/v1/', 'execution_tracker_functions_url')`;
      await tx`select vault.create_secret('s3cret', 'execution_tracker_webhook_secret')`;
      const [{ mark }] = await tx`select coalesce(max(id), 0)::int as mark from net.http_request_queue`;
      await tx`select private.post_to_function('executions-webhook', '{"type":"INSERT"}'::jsonb)`;
      await tx`select private.invoke_timeout_sweeper()`;
      await tx`select private.invoke_alerts_deliverer()`;
      const queued = await tx`
        select url, headers ->> 'x-webhook-secret' as secret, body, timeout_milliseconds
          from net.http_request_queue where id > ${mark} order by id`;
      expect(queued).toEqual([
        { url: "http://127.0.0.1:1/functions/v1/executions-webhook", secret: "s3cret", body: { type: "INSERT" }, timeout_milliseconds: 10000 },
        { url: "http://127.0.0.1:1/functions/v1/timeout-sweeper", secret: "s3cret", body: {}, timeout_milliseconds: 60000 },
        { url: "http://127.0.0.1:1/functions/v1/alerts-deliver", secret: "s3cret", body: {}, timeout_milliseconds: 60000 },
      ]);
      throw rollback;
    })).rejects.toBe(rollback);
    const [{ callable }] = await sql`
      select has_function_privilege('authenticated', 'private.post_to_function(text, jsonb, integer)', 'execute') as callable`;
    expect(callable).toBe(false);
  });

  it("pushing again is a no-op", async () => {
    const { pushMigrations } = await import("../support/postgres.ts");
    const before = await sql`select count(*)::int as n from supabase_migrations.schema_migrations`;
    await pushMigrations(databaseUrl());
    const after = await sql`select count(*)::int as n from supabase_migrations.schema_migrations`;
    expect(after).toEqual(before);
  });
});

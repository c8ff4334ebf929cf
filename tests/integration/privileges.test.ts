/**
 * What anon and authenticated may do, object by object, compared with an explicit allow-list.
 *
 * The local platform bootstrap reproduces Supabase's default privileges in schema public (ALL on
 * every new table, view, sequence and function for anon, authenticated and service_role), so
 * every object a migration creates starts out wide open, as on a real project. Migration
 * 20261201000900_api_privileges.sql takes away what RLS cannot guard. This file lists, from the
 * catalog (has_schema_privilege, has_table_privilege, has_column_privilege,
 * has_sequence_privilege, has_function_privilege: grants to PUBLIC and through role membership
 * included), every privilege anon and authenticated hold on every schema, table, view,
 * sequence and function of ours (every schema but the platform's and PostgreSQL's; extension
 * members skipped), and compares it with ALLOWED below, both ways:
 *   - a privilege that is not allow-listed fails, naming the object and the privilege (a new
 *     table or function without a deliberate grant lands here: the defaults give it ALL);
 *   - an allow-listed privilege that is missing fails too (the app needs it).
 * Privileges are listed as held on the object itself, whether or not the role may use its
 * schema: EXECUTE on a function in private must be revoked even though private is closed.
 */
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate as migrateLikeNpmStart } from "../../local/migrate.ts";
import { asRole, connect, createUser, databaseUrl, type Sql, sqlState } from "../support/postgres.ts";

type Role = "anon" | "authenticated";
const ROLES: Role[] = ["anon", "authenticated"];

/** `PRIVILEGE (column)` for each column. */
const columns = (privilege: string, names: string[]) => names.map((name) => `${privilege} (${name})`);

/**
 * The allow-list: object -> privileges per role. Column privileges are written `PRIVILEGE (column)`
 * and listed only where the role lacks the privilege on the whole table. Anything absent is
 * expected to be absent. Keep a reason next to every entry.
 */
const ALLOWED: Record<string, Partial<Record<Role, string[]>>> = {
  // The platform grants USAGE on public to the API roles (PostgREST needs it); nothing creates there.
  "schema public": { anon: ["USAGE"], authenticated: ["USAGE"] },
  // schema private: nothing for anyone but its owner.

  // Users manage their own workflows and executions under RLS (owner-only policies).
  "table public.workflows": { authenticated: ["SELECT", "INSERT", "UPDATE", "DELETE"] },
  // Executions: INSERT and UPDATE by column only (20261201000300_temporal_effects): never
  // temporal_link, stop_*, temporal_closed_at, running_at, temporal_checked_at or other
  // bookkeeping. UPDATE of the identity columns is granted on purpose: the lifecycle trigger
  // refuses any change with ET002 naming the column (rather than a bare 42501).
  "table public.workflow_executions": {
    authenticated: [
      "SELECT", "DELETE",
      ...columns("INSERT", [
        "id", "workflow_id", "created_by", "temporal_workflow_id", "temporal_run_id", "status", "started_at", "completed_at",
        "duration_ms", "timeout_at", "input", "output", "error_message", "activities_executed", "dispatch_claimed_until",
        "tags", "metadata", "retry_of", // 20261202000100
      ]),
      ...columns("UPDATE", [
        "status", "output", "error_message", "duration_ms", "activities_executed", "temporal_run_id", "timeout_at", "completed_at",
        "id", "workflow_id", "created_by", "started_at", "created_at", "temporal_workflow_id",
        "tags", "metadata", "retry_of", // 20261202000100: retry_of only for its ET002
      ]),
    ],
  },
  // Stop requests (cancel / timeout / delete of an acted-on run): the owner reads its own under
  // RLS; only triggers and the service role write them.
  "table public.execution_stop_requests": { authenticated: ["SELECT"] },
  // Bulk actions (20261202000400): the owner reads its records under RLS; the service role
  // writes them and their items (the items: nothing for users at all).
  "table public.execution_bulk_actions": { authenticated: ["SELECT"] },
  // Alerts (20261202000500): users manage their own endpoints under RLS, every column but the
  // secret readable (it is written, by the API that generated it, and never read back); the
  // delivery log is read-only to its owner (the trigger and the service role write it).
  "table public.alert_endpoints": {
    authenticated: [
      "DELETE",
      ...columns("SELECT", ["id", "created_by", "url", "description", "workflow_id", "statuses", "enabled", "created_at", "updated_at"]),
      ...columns("INSERT", ["created_by", "url", "description", "workflow_id", "statuses", "enabled", "secret"]),
      ...columns("UPDATE", ["url", "description", "workflow_id", "statuses", "enabled", "secret"]),
    ],
  },
  "table public.alert_deliveries": { authenticated: ["SELECT"] },
  // Tag and metadata side tables (20261202000100): the owner reads its own under RLS; only triggers write them.
  "table public.execution_tags": { authenticated: ["SELECT"] },
  "table public.execution_metadata_entries": { authenticated: ["SELECT"] },
  // Read-only to users: the stats rollups, all-time and hourly (written by triggers as their owner), and the registry
  // of startable workflow types (written by the service role).
  "table public.execution_stats_rollup": { authenticated: ["SELECT"] },
  "table public.execution_duration_bins": { authenticated: ["SELECT"] },
  "table public.execution_owner_duration_bins": { authenticated: ["SELECT"] },
  "table public.execution_hourly_stats_rollup": { authenticated: ["SELECT"] },
  "table public.execution_hourly_duration_bins": { authenticated: ["SELECT"] },
  // Stat deltas and the period rollups (20261202000200): the owner reads its own under RLS; only the fold writes them.
  "table public.execution_stat_deltas": { authenticated: ["SELECT"] },
  "table public.execution_period_stats": { authenticated: ["SELECT"] },
  "table public.execution_period_duration_bins": { authenticated: ["SELECT"] },
  "table public.temporal_workflow_types": { authenticated: ["SELECT"] },
  // The stats views (security_invoker: the rollups' RLS applies) are read-only.
  "view public.execution_stats": { authenticated: ["SELECT"] },
  "view public.execution_duration_histogram": { authenticated: ["SELECT"] },
  "view public.execution_owner_duration_histogram": { authenticated: ["SELECT"] },
  "view public.execution_stats_source": { authenticated: ["SELECT"] },

  // What a user's queries, views and triggers call (all security invoker).
  "function public.execution_stats_summary(uuid,timestamp with time zone,timestamp with time zone)": { authenticated: ["EXECUTE"] },
  "function public.execution_stats_series(text,timestamp with time zone,timestamp with time zone,uuid)": { authenticated: ["EXECUTE"] },
  "function public.execution_stats_buckets(text,timestamp with time zone,timestamp with time zone,uuid)": { authenticated: ["EXECUTE"] },
  "function public.execution_stats_overview(uuid,timestamp with time zone,timestamp with time zone)": { authenticated: ["EXECUTE"] },
  "function public.execution_status_is_terminal(public.execution_status)": { authenticated: ["EXECUTE"] },
  "function public.execution_transition_allowed(public.execution_status,public.execution_status)": { authenticated: ["EXECUTE"] },
  "function public.execution_duration_bin(bigint)": { authenticated: ["EXECUTE"] },
  "function public.execution_duration_bin_value(smallint)": { authenticated: ["EXECUTE"] },
  "function public.temporal_id_is_addressable(text)": { authenticated: ["EXECUTE"] },
  "function public.execution_status_is_live(public.execution_status)": { authenticated: ["EXECUTE"] },
  "function public.execution_timestamp_in_range(timestamp with time zone)": { authenticated: ["EXECUTE"] },
  // The tag and metadata limits (20261202000100: their CHECKs call them).
  "function public.execution_tags_are_valid(text[])": { authenticated: ["EXECUTE"] },
  "function public.execution_metadata_is_valid(jsonb)": { authenticated: ["EXECUTE"] },
};

/** Schemas that are not ours: PostgreSQL's, the platform's (or their local stand-ins), the CLI's. */
const NOT_OURS = [
  "pg_catalog", "information_schema", "pg_toast",
  "auth", "vault", "net", "cron", "extensions", "supabase_migrations", "storage", "realtime", "_realtime",
  "graphql", "graphql_public", "pgsodium", "pgsodium_masks", "supabase_functions", "pgbouncer", "_analytics",
];

interface Held {
  object: string;
  role: Role;
  privilege: string;
}

let sql: Sql;
beforeAll(() => {
  sql = connect(databaseUrl(), { max: 2 });
});
afterAll(async () => {
  await sql.end({ timeout: 1 });
});

/** Every privilege anon and authenticated hold on an object of ours, from the catalog. */
async function heldPrivileges(sql: Sql): Promise<Held[]> {
  const [{ version }] = await sql<{ version: number }[]>`select current_setting('server_version_num')::int as version`;
  const tablePrivileges = ["SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER", ...(version >= 170000 ? ["MAINTAIN"] : [])];
  // search_path '' so that every name (types of arguments included) is schema-qualified.
  return await sql.begin(async (tx) => {
    await tx`set local search_path = ''`;
    return await tx<Held[]>`
    with roles (role) as (select unnest(${ROLES}::text[])),
    schemas as (
      select n.oid, n.nspname
        from pg_namespace n
       where n.nspname <> all (${NOT_OURS}::text[])
         and n.nspname !~ '^pg_(toast_)?temp_'
         and not exists (select from pg_depend d where d.classid = 'pg_namespace'::regclass and d.objid = n.oid and d.deptype = 'e')
    ),
    relations as (
      select c.oid, s.nspname, c.relname, c.relkind,
             case c.relkind when 'v' then 'view' when 'm' then 'materialized view' when 'f' then 'foreign table'
                            when 'S' then 'sequence' else 'table' end as kind
        from pg_class c
        join schemas s on s.oid = c.relnamespace
       where c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
         and not exists (select from pg_depend d where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
    ),
    routines as (
      select p.oid, s.nspname,
             case p.prokind when 'p' then 'procedure' when 'a' then 'aggregate' else 'function' end as kind
        from pg_proc p
        join schemas s on s.oid = p.pronamespace
       where not exists (select from pg_depend d where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
    )
    select 'schema ' || s.nspname as object, r.role, p.privilege
      from schemas s, roles r, unnest(array['USAGE', 'CREATE']) p (privilege)
     where has_schema_privilege(r.role, s.oid, p.privilege)
    union all
    select t.kind || ' ' || t.nspname || '.' || t.relname, r.role, p.privilege
      from relations t, roles r, unnest(${tablePrivileges}::text[]) p (privilege)
     where t.relkind <> 'S' and has_table_privilege(r.role, t.oid, p.privilege)
    union all
    select t.kind || ' ' || t.nspname || '.' || t.relname, r.role, p.privilege || ' (' || a.attname || ')'
      from relations t
      join pg_attribute a on a.attrelid = t.oid and a.attnum > 0 and not a.attisdropped,
           roles r, unnest(array['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']) p (privilege)
     where t.relkind <> 'S'
       and not has_table_privilege(r.role, t.oid, p.privilege)
       and has_column_privilege(r.role, t.oid, a.attnum, p.privilege)
    union all
    select t.kind || ' ' || t.nspname || '.' || t.relname, r.role, p.privilege
      from relations t, roles r, unnest(array['USAGE', 'SELECT', 'UPDATE']) p (privilege)
     where t.relkind = 'S' and has_sequence_privilege(r.role, t.oid, p.privilege)
    union all
    select f.kind || ' ' || f.oid::regprocedure::text, r.role, 'EXECUTE'
      from routines f, roles r
     where has_function_privilege(r.role, f.oid, 'EXECUTE')
     order by 1, 2, 3`;
  }) as Held[];
}

const line = ({ object, role, privilege }: Held) => `${role} ${privilege} on ${object}`;

/** Fails naming every privilege held but not allow-listed, and every allow-listed one not held. */
async function expectExactlyAllowed(sql: Sql, where: string) {
  const actual = new Set((await heldPrivileges(sql)).map(line));
  const expected = new Set(
    Object.entries(ALLOWED).flatMap(([object, byRole]) =>
      ROLES.flatMap((role) => (byRole[role] ?? []).map((privilege) => line({ object, role, privilege })))),
  );
  const unexpected = [...actual].filter((l) => !expected.has(l));
  const missing = [...expected].filter((l) => !actual.has(l));
  expect(
    unexpected,
    `${where}: privileges that are not in the allow-list of tests/integration/privileges.test.ts: revoke them in a migration, ` +
      "or grant them deliberately and add them to ALLOWED with the reason\n  " + unexpected.join("\n  "),
  ).toEqual([]);
  expect(missing, `${where}: allow-listed privileges the database does not grant (the app needs them)\n  ` + missing.join("\n  ")).toEqual([]);
}

/** Supabase's default privileges in public (see local/platform-bootstrap.sql), as the catalog shows them for `owner`. */
async function expectSupabaseDefaults(sql: Sql) {
  const [{ version }] = await sql<{ version: number }[]>`select current_setting('server_version_num')::int as version`;
  const rows = await sql`
    select d.defaclobjtype as type, a.grantee::regrole::text as grantee, a.privilege_type as privilege
      from pg_default_acl d, aclexplode(d.defaclacl) a
     where d.defaclnamespace = 'public'::regnamespace
       and d.defaclrole = (select relowner from pg_class where oid = 'public.workflow_executions'::regclass)`;
  const granted = (type: string, grantee: string) =>
    rows.filter((r) => r.type === type && r.grantee === grantee).map((r) => r.privilege).sort();
  const all = ["DELETE", "INSERT", ...(version >= 170000 ? ["MAINTAIN"] : []), "REFERENCES", "SELECT", "TRIGGER", "TRUNCATE", "UPDATE"];
  for (const grantee of ["anon", "authenticated", "service_role"]) {
    expect(granted("r", grantee), `tables -> ${grantee}`).toEqual(all);
    expect(granted("S", grantee), `sequences -> ${grantee}`).toEqual(["SELECT", "UPDATE", "USAGE"]);
    expect(granted("f", grantee), `functions -> ${grantee}`).toEqual(["EXECUTE"]);
  }
}

describe("privileges of the API roles", () => {
  it("the local database has Supabase's default privileges in public for the role that ran the migrations", async () => {
    // Without them this file would pass against a database that is tighter than a real project.
    await expectSupabaseDefaults(sql);
    // So a table created now starts with ALL for anon and authenticated (rolled back).
    const rolledBack = new Error("rolled back");
    let probe: Record<string, boolean> = {};
    await sql.begin(async (tx) => {
      await tx`create table public.privileges_probe (id int)`;
      [probe] = await tx`select has_table_privilege('anon', 'public.privileges_probe', 'truncate') as anon,
                                has_table_privilege('authenticated', 'public.privileges_probe', 'truncate') as authenticated`;
      throw rolledBack;
    }).catch((error) => {
      if (error !== rolledBack) throw error;
    });
    expect(probe).toEqual({ anon: true, authenticated: true });
  });

  it("anon and authenticated hold exactly the allow-listed privileges on every object of ours", async () => {
    await expectExactlyAllowed(sql, "PostgreSQL (migrated by the Supabase CLI)");
  });
});

describe("what RLS cannot guard is refused", () => {
  it("a signed-in user cannot TRUNCATE, or write the rollups or the views, or call private functions", async () => {
    const user = await createUser(sql);
    const tables = await sql<{ name: string }[]>`
      select c.oid::regclass::text as name from pg_class c
       where c.relnamespace in ('public'::regnamespace, 'private'::regnamespace) and c.relkind in ('r', 'p')`;
    const views = await sql<{ name: string; column: string }[]>`
      select c.oid::regclass::text as name, (select attname from pg_attribute where attrelid = c.oid and attnum = 1) as column
        from pg_class c where c.relnamespace = 'public'::regnamespace and c.relkind in ('v', 'm')`;
    const privateFunctions = await sql<{ signature: string; args: number }[]>`
      select p.oid::regprocedure::text as signature, p.pronargs as args
        from pg_proc p where p.pronamespace = 'private'::regnamespace and p.prorettype <> 'trigger'::regtype`;
    const rollups = (await sql<{ name: string }[]>`
      select relname as name from pg_class
       where relnamespace = 'public'::regnamespace and relkind = 'r' and relname ~ '_(rollup|bins)$'`).map((r) => r.name);
    expect(rollups).toEqual(expect.arrayContaining(["execution_stats_rollup", "execution_duration_bins", "execution_owner_duration_bins"]));
    expect(tables.map((t) => t.name)).toContain("workflow_executions");
    expect(privateFunctions.map((f) => f.signature)).toContain("private.vault_secret(text)");
    await asRole(sql, user, async (tx) => {
      for (const { name } of tables) {
        expect(await sqlState(tx.savepoint((sp) => sp.unsafe(`truncate ${name}`))), `truncate ${name}`).toBe("42501");
      }
      for (const name of rollups) {
        for (const write of [`delete from public.${name}`, `update public.${name} set executions = 0`]) {
          expect(await sqlState(tx.savepoint((sp) => sp.unsafe(write))), write).toBe("42501");
        }
      }
      // A view that is not automatically updatable (the stats views aggregate rollups and
      // deltas, 20261202000200) refuses a write before privileges are checked: 55000.
      for (const { name, column } of views) {
        expect(["42501", "55000"], `delete from ${name}`).toContain(await sqlState(tx.savepoint((sp) => sp.unsafe(`delete from ${name}`))));
        expect(["42501", "55000"], `update ${name}`).toContain(await sqlState(tx.savepoint((sp) => sp.unsafe(`update ${name} set ${column} = ${column}`))));
      }
      for (const { signature, args } of privateFunctions) {
        const name = signature.slice(0, signature.indexOf("("));
        const call = `select ${name}(${Array.from({ length: args }, () => "null").join(", ")})`;
        expect(await sqlState(tx.savepoint((sp) => sp.unsafe(call))), call).toBe("42501");
      }
    });
  });

  it("anon reads, writes and calls nothing of ours", async () => {
    const relations = await sql<{ name: string }[]>`
      select c.oid::regclass::text as name from pg_class c
       where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm')`;
    await sql.begin(async (tx) => {
      await tx`set local role anon`;
      for (const { name } of relations) {
        expect(await sqlState(tx.savepoint((sp) => sp.unsafe(`select from ${name} limit 1`))), `select from ${name}`).toBe("42501");
      }
      expect(await sqlState(tx.savepoint((sp) => sp`select * from public.execution_stats_summary()`))).toBe("42501");
    });
  });
});

describe("on npm start's embedded database (PGlite, migrated by local/migrate.ts)", () => {
  let db: PGlite | undefined;
  let server: PGLiteSocketServer | undefined;
  let embedded: Sql | undefined;
  beforeAll(async () => {
    db = await PGlite.create();
    server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0 });
    await server.start();
    embedded = connect(`postgres://postgres:postgres@${server.getServerConn()}/postgres`, { max: 1 });
    const result = await migrateLikeNpmStart(embedded);
    expect(result.bootstrapped).toBe(true);
  });
  afterAll(async () => {
    await embedded?.end({ timeout: 1 });
    await server?.stop();
    await db?.close();
  });

  it("has the same default privileges and exactly the allow-listed privileges (PostgreSQL 17+: MAINTAIN revoked too)", async () => {
    await expectSupabaseDefaults(embedded!);
    await expectExactlyAllowed(embedded!, "PGlite (npm start)");
  });
});

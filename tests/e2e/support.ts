/**
 * Shared by the end-to-end tests: the functions on Deno (tests/support/functions-server.ts)
 * over this run's database, a local JWKS, and clients as apps use them: supabase-js
 * `functions.invoke` with the user's access token, or raw fetch where supabase-js cannot
 * express the request.
 *
 * The functions reach the database through PgBouncer in transaction mode (2 server
 * connections), as Edge Functions reach Postgres through Supavisor on Supabase; `e2e.sql` is
 * a direct superuser connection for the tests' own checks. ET_TEST_POOLER=direct runs the
 * functions on a direct connection instead.
 */
import { createClient, FunctionsHttpError, type FunctionInvokeOptions, type SupabaseClient } from "@supabase/supabase-js";
import { conform } from "../contract/conformance.ts";
import { type FunctionsServer, startFunctionsServer } from "../support/functions-server.ts";
import { connect, databaseUrl, type Sql } from "../support/postgres.ts";
import { anonToken, type JwksServer, startJwksServer } from "../support/tokens.ts";

export interface E2E {
  server: FunctionsServer;
  /** The PgBouncer between the functions and the database; null when ET_TEST_POOLER=direct. */
  pgbouncer: FunctionsServer["pgbouncer"];
  jwks: JwksServer;
  /** Direct superuser connection (not through PgBouncer) for the tests' own SQL. */
  sql: Sql;
  anonKey: string;
  stop(): Promise<void>;
}

export interface E2EOptions {
  /** PgBouncer's server connections; default 2. */
  poolerSize?: number;
  /** More environment for the functions. */
  env?: Record<string, string>;
}

export async function startE2E(options: E2EOptions = {}): Promise<E2E> {
  const jwks = await startJwksServer("ES256");
  const server = await startFunctionsServer({ databaseUrl: databaseUrl(), jwksUrl: jwks.url, poolerSize: options.poolerSize, env: options.env });
  const sql = connect(databaseUrl(), { max: 4 });
  return {
    server,
    pgbouncer: server.pgbouncer,
    jwks,
    sql,
    anonKey: await anonToken(),
    stop: async () => {
      await server.stop();
      await jwks.stop();
      await sql.end({ timeout: 1 });
    },
  };
}

/** A supabase-js client of an app, signed in with `accessToken` (as after supabase.auth.signIn*). */
export function clientFor(e2e: E2E, accessToken: string): SupabaseClient {
  return createClient(e2e.server.url, e2e.anonKey, {
    auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false },
    global: { headers: { Authorization: `Bearer ${accessToken}` } },
  });
}

export interface Answer {
  status: number;
  // deno-lint-ignore no-explicit-any
  body: any;
  headers: Headers;
}

/**
 * `functions.invoke`, with the HTTP status and the parsed body of a success or an error.
 * Every answer (here and in `raw`) is checked against the OpenAPI document (tests/contract/conformance.ts).
 */
export async function invoke(client: SupabaseClient, name: string, options: FunctionInvokeOptions = {}): Promise<Answer> {
  const { data, error, response } = await client.functions.invoke(name, options);
  if (error) {
    if (!(error instanceof FunctionsHttpError)) throw error;
    const answer = error.context as Response;
    return conform(options.method ?? "POST", answer.url, { status: answer.status, body: await answer.json(), headers: answer.headers });
  }
  return conform(options.method ?? "POST", response!.url, { status: response!.status, body: data, headers: response!.headers });
}

/** A raw request to a function (malformed bodies, wrong content types, big bodies, no token). */
export async function raw(e2e: E2E, path: string, init: RequestInit = {}): Promise<Answer> {
  const response = await fetch(`${e2e.server.functionsUrl}/${path}`, init);
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : null;
  } catch { /* not JSON */ }
  return conform(init.method ?? "GET", response.url, { status: response.status, body, headers: response.headers });
}

/** The row as stored (every column), to prove a rejected request changed nothing. */
export async function storedRow(sql: Sql, id: string) {
  const [row] = await sql`select * from public.workflow_executions where id = ${id}`;
  return row;
}

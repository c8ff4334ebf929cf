/**
 * The functions deploy to Supabase as they are, proven without a Supabase project. For every
 * function folder on disk (supabase/functions/<name>, none listed here):
 *
 *  1. the real CLI (`supabase functions deploy <name> --use-api`, node_modules/.bin/supabase)
 *     deploys it to a stand-in Management API on 127.0.0.1 (tests/deploy/management-api.ts,
 *     reached through `--profile`), which keeps the multipart upload;
 *  2. the upload's metadata: the entry point, an import map that was itself uploaded,
 *     verify_jwt as supabase/config.toml sets it;
 *  3. the uploaded files alone, unpacked into an empty folder (no node_modules, no root
 *     deno.json, a Deno cache of this run only), type-check with Deno and the uploaded map;
 *  4. that unpacked entry point runs on Deno as the Edge Runtime runs it (its Deno.serve
 *     handler receives `/<name>/...`, env as the platform sets it plus our secrets) against
 *     PostgreSQL migrated by the CLI, and answers real requests.
 *
 * What this cannot show (the platform's own bundler and Deno version, the gateway, Supavisor,
 * Vault, pg_net and pg_cron calling the deployed URL) is listed in the README's deploy section.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, isAbsolute, join, normalize, relative, sep } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createDatabase, type Sql as ProductSql } from "../../shared/db.ts";
import { createExecutionService } from "../../shared/service.ts";
import type { Caller } from "../../shared/types.ts";
import { functionNames } from "../../scripts/sync-import-maps.ts";
import { connect, createMigratedDatabase, createUser, createWorkflow, databaseUrl, dropDatabase, freePort, REPO_ROOT } from "../support/postgres.ts";
import { anonToken, type JwksServer, serviceToken, startJwksServer, TEST_JWT_SECRET, userToken } from "../support/tokens.ts";
import { type ManagementApi, startManagementApi, type Upload, writeProfile } from "./management-api.ts";

const names = functionNames();
const SUPABASE = join(REPO_ROOT, "node_modules", ".bin", "supabase");
const DENO = join(REPO_ROOT, "node_modules", ".bin", "deno");
/** Any 20 lowercase letters are a well-formed project ref. */
const PROJECT_REF = "deploytestabcdefghij";
/** The CLI only checks the shape of a personal access token: sbp_ + 40 hex. */
const ACCESS_TOKEN = `sbp_${randomBytes(20).toString("hex")}`;
const WEBHOOK_SECRET = `whsec-${randomUUID()}`;

let api: ManagementApi;
let work: string;
let profilePath: string;
let cliHome: string;
/** One Deno cache for every function of this run: fresh (never the developer's), downloaded once. */
let denoDir: string;
let dbName: string;
let dbUrl: string;
let productSql: ProductSql;
let jwks: JwksServer;
let user: string;
let workflowId: string;
const uploads = new Map<string, Upload>();
const unpacked = new Map<string, string>();

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), "et-deploy-"));
  profilePath = join(work, "profile.yaml");
  cliHome = join(work, "home");
  denoDir = join(work, "deno-dir");
  mkdirSync(cliHome);
  api = await startManagementApi();
  writeProfile(profilePath, api.url);
  // A database of its own: the sweeper acts on every row it can see.
  dbName = `et_deploy_${randomUUID().slice(0, 8)}`;
  dbUrl = await createMigratedDatabase(databaseUrl(), dbName);
  productSql = createDatabase({ url: dbUrl, poolSize: 2 });
  const admin = connect(dbUrl, { max: 1 });
  try {
    user = await createUser(admin);
    workflowId = await createWorkflow(admin, user, { name: "deploy-test" });
  } finally {
    await admin.end({ timeout: 1 });
  }
  jwks = await startJwksServer("ES256");
}, 180_000);

afterAll(async () => {
  await api?.stop();
  await jwks?.stop();
  await productSql?.end({ timeout: 1 }).catch(() => {});
  if (dbName) await dropDatabase(databaseUrl(), dbName).catch(() => {});
  if (work && !process.env.ET_KEEP_DEPLOY_DIR) rmSync(work, { recursive: true, force: true });
  else if (work) console.log(`[deploy] kept ${work}`);
});

// ---------------------------------------------------------------------------------------------
// Processes
// ---------------------------------------------------------------------------------------------

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Spawned, never spawnSync: the stand-in API lives in this process and must keep answering. */
function runAsync(command: string, args: string[], options: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env, stdio: ["ignore", "pipe", "pipe"], detached: true });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      stderr += `\n[deploy test] killed after ${options.timeoutMs} ms`;
      killGroup(child);
    }, options.timeoutMs);
    child.once("error", (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

function killGroup(child: ChildProcess) {
  try {
    process.kill(-child.pid!, "SIGKILL");
  } catch { /* already gone */ }
}

/** Network settings a registry download may need; nothing else of this process reaches Deno. */
function networkEnv(): Record<string, string> {
  const env: Record<string, string> = {};
  for (const key of ["HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy", "NPM_CONFIG_REGISTRY", "DENO_CERT", "DENO_TLS_CA_STORE", "NODE_EXTRA_CA_CERTS", "SSL_CERT_FILE", "SSL_CERT_DIR"]) {
    const value = process.env[key];
    if (value) env[key] = value;
  }
  if (env.HTTP_PROXY || env.HTTPS_PROXY || env.http_proxy || env.https_proxy) {
    env.NO_PROXY = env.no_proxy = [env.NO_PROXY ?? env.no_proxy, "127.0.0.1", "localhost"].filter(Boolean).join(",");
  }
  return env;
}

/** Deno in the unpacked folder: its own cache, no package.json discovery (as the CLI's bundler sets it). */
function denoEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    ...networkEnv(),
    HOME: cliHome,
    DENO_DIR: denoDir,
    DENO_NO_PACKAGE_JSON: "1",
    DENO_NO_UPDATE_CHECK: "1",
    NO_COLOR: "1",
    ...extra,
  };
}

// ---------------------------------------------------------------------------------------------
// The CLI
// ---------------------------------------------------------------------------------------------

/** `supabase functions deploy [names] --use-api` against the stand-in; returns its output, asserts a clean run. */
async function deployWithCli(functions: string[]): Promise<string> {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) if (!key.startsWith("SUPABASE_")) env[key] = value;
  Object.assign(env, {
    HOME: cliHome, // no ~/.supabase of the developer (token, profile, telemetry)
    SUPABASE_ACCESS_TOKEN: ACCESS_TOKEN,
    SUPABASE_TELEMETRY_DISABLED: "1",
    DO_NOT_TRACK: "1",
    NO_COLOR: "1",
  });
  const result = await runAsync(SUPABASE, [
    "functions", "deploy", ...functions, "--use-api", "--project-ref", PROJECT_REF, "--profile", profilePath, "--workdir", REPO_ROOT,
  ], { cwd: REPO_ROOT, env, timeoutMs: 120_000 });
  const output = `${result.stdout}\n${result.stderr}`;
  expect(result.code, output).toBe(0);
  // A file of the import graph that could not be read, or outside the project, is only a WARN to the CLI.
  expect(output.split("\n").filter((line) => /WARN|WARNING/.test(line)), output).toEqual([]);
  expect(api.unexpected).toEqual([]);
  return output;
}

// ---------------------------------------------------------------------------------------------
// supabase/config.toml: verify_jwt per function
// ---------------------------------------------------------------------------------------------

/** `[functions.<name>] verify_jwt = true|false` from config.toml (undefined when not set). */
function configuredVerifyJwt(name: string): boolean | undefined {
  const toml = readFileSync(join(REPO_ROOT, "supabase", "config.toml"), "utf8");
  let section = "";
  for (const raw of toml.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) section = header[1].trim().replace(/"/g, "");
    const setting = /^verify_jwt\s*=\s*(true|false)$/.exec(line);
    if (setting && section === `functions.${name}`) return setting[1] === "true";
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------
// The deployed function on Deno, as the Edge Runtime serves it
// ---------------------------------------------------------------------------------------------

/**
 * Loaded before the entry point (`deno run --preload`, from outside the unpacked folder): the
 * Edge Runtime hands each request to the handler the function gives Deno.serve, whatever
 * port or hostname it asks for. Here that handler listens on the free port of this run.
 */
const edgeRuntimeShim = `
const port = Number(Deno.env.get("DEPLOY_TEST_PORT"));
const serve = Deno.serve.bind(Deno);
let watching = false;
Deno.serve = (...args) => {
  let options = {};
  let handler;
  if (typeof args[0] === "function") handler = args[0];
  else if (typeof args[1] === "function") [options, handler] = args;
  else { options = args[0] ?? {}; handler = options.handler; }
  // Not the platform's, the harness's: once serving, stop when the test process is gone (stdin
  // at EOF). Started here, not at the top: a pending stdin read in a preload holds the main module.
  if (!watching) {
    watching = true;
    (async () => {
      const reader = Deno.stdin.readable.getReader();
      while (!(await reader.read()).done) { /* nothing is sent */ }
      Deno.exit(0);
    })();
  }
  return serve({ ...options, hostname: "127.0.0.1", port, onListen: () => console.log("[edge] listening on " + port) }, handler);
};
`;

interface Served {
  /** The function's base, as the gateway passes it on: http://127.0.0.1:<port>/<name> */
  url: string;
  logs(): string;
  stop(): Promise<void>;
}

function platformEnv(port: number): Record<string, string> {
  const supabaseUrl = new URL(jwks.url).origin; // serves /auth/v1/.well-known/jwks.json, as a project does
  return {
    DEPLOY_TEST_PORT: String(port),
    // Set by the platform for every function:
    SUPABASE_URL: supabaseUrl,
    SUPABASE_DB_URL: dbUrl,
    SUPABASE_ANON_KEY: anonKey,
    SUPABASE_SERVICE_ROLE_KEY: serviceRoleKey,
    SB_REGION: "local-test",
    // Our secrets (`supabase secrets set`; the CLI refuses names starting with SUPABASE_):
    JWT_SECRET: TEST_JWT_SECRET,
    WEBHOOK_SECRET,
    // Temporal configured but unreachable: dispatches queue, nothing is lost (port 9: discard).
    TEMPORAL_HTTP_URL: "http://127.0.0.1:9",
  };
}

let anonKey = "";
let serviceRoleKey = "";

async function serveUnpacked(name: string): Promise<Served> {
  const dir = unpacked.get(name)!;
  const upload = uploads.get(name)!;
  const shim = join(work, "edge-runtime-shim.js");
  writeFileSync(shim, edgeRuntimeShim);
  anonKey ||= await anonToken();
  serviceRoleKey ||= await serviceToken();
  const port = await freePort();
  const child = spawn(DENO, [
    "run", "--no-lock", "--allow-net", "--allow-env",
    "--config", join(dir, upload.metadata.import_map_path!),
    "--preload", shim,
    join(dir, upload.metadata.entrypoint_path),
  ], { cwd: dir, env: denoEnv(platformEnv(port)), stdio: ["pipe", "pipe", "pipe"], detached: true });
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
    if (process.env.ET_TEST_VERBOSE) process.stderr.write(`[${name}] ${chunk}`);
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once("exit", () => { exited = true; resolve(); }));
  const stop = async () => {
    if (exited) return;
    killGroup(child);
    await exit;
  };
  const deadline = Date.now() + 90_000;
  while (!output.includes(`[edge] listening on ${port}`)) {
    if (exited) throw new Error(`${name} exited before listening:\n${output}`);
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} did not listen in time:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { url: `http://127.0.0.1:${port}/${name}`, logs: () => output, stop };
}

// ---------------------------------------------------------------------------------------------
// Requests per function
// ---------------------------------------------------------------------------------------------

const userCaller = (id: string): Caller => ({ role: "authenticated", userId: id, claims: { sub: id, role: "authenticated", aud: "authenticated" } });

/** A run reported by its app (it started the Temporal workflow itself), recorded through the service as the user. */
async function seedExecution(options: { timeoutSeconds?: number } = {}) {
  const service = createExecutionService({ sql: productSql, caller: userCaller(user), temporal: null });
  const { execution } = await service.createExecution({ workflowId, temporalWorkflowId: `deploy-test-${randomUUID()}`, ...options });
  return execution;
}

async function executionStatus(id: string): Promise<string> {
  const service = createExecutionService({ sql: productSql, caller: userCaller(user), temporal: null });
  return (await service.getExecution(id)).status;
}

interface Call {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: unknown;
}

async function call(served: Served, { method = "GET", path = "", headers = {}, body }: Call) {
  const response = await fetch(`${served.url}${path}`, {
    method,
    headers: { ...(body === undefined ? {} : { "content-type": "application/json" }), ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(20_000),
  });
  const text = await response.text();
  let json: unknown = null;
  try {
    json = JSON.parse(text);
  } catch { /* not JSON: asserted by the caller */ }
  return { status: response.status, json: json as any, text };
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** What each function must answer once deployed. A function without an entry still gets the generic checks. */
const scenarios: Record<string, (served: Served) => Promise<void>> = {
  "executions-create": async (served) => {
    const temporalWorkflowId = `deploy-test-${randomUUID()}`;
    const created = await call(served, { method: "POST", headers: bearer(await jwks.userToken(user)), body: { workflowId, temporalWorkflowId, input: { hello: "edge" } } });
    expect(created.status, created.text).toBe(201);
    expect(created.json).toMatchObject({ workflowId, temporalWorkflowId, status: "running" });
    expect(await executionStatus(created.json.id)).toBe("running");
    const again = await call(served, { method: "POST", headers: bearer(await userToken(user)), body: { workflowId, temporalWorkflowId } });
    expect(again.status, again.text).toBe(200);
    expect(again.json.id).toBe(created.json.id);
  },
  "executions-list": async (served) => {
    const execution = await seedExecution();
    const listed = await call(served, { path: `?workflowId=${workflowId}&limit=100`, headers: bearer(await jwks.userToken(user)) });
    expect(listed.status, listed.text).toBe(200);
    expect(listed.json.data.map((e: { id: string }) => e.id)).toContain(execution.id);
    const one = await call(served, { path: `/${execution.id}`, headers: bearer(await userToken(user)) });
    expect(one.status, one.text).toBe(200);
    expect(one.json.id).toBe(execution.id);
    const other = await call(served, { path: `/${execution.id}`, headers: bearer(await userToken(randomUUID())) });
    expect(other.status, other.text).toBe(404);
  },
  "executions-stats": async (served) => {
    await seedExecution();
    const stats = await call(served, { path: `?workflowId=${workflowId}`, headers: bearer(await jwks.userToken(user)) });
    expect(stats.status, stats.text).toBe(200);
    expect(stats.json.total).toBeGreaterThanOrEqual(1);
    expect(stats.json.byStatus.running).toBeGreaterThanOrEqual(1);
  },
  "executions-update": async (served) => {
    const execution = await seedExecution();
    const updated = await call(served, {
      method: "POST",
      headers: bearer(await userToken(user)),
      body: { id: execution.id, status: "completed", output: { done: true }, durationMs: 1200 },
    });
    expect(updated.status, updated.text).toBe(200);
    expect(updated.json).toMatchObject({ id: execution.id, status: "completed", output: { done: true } });
    expect(await executionStatus(execution.id)).toBe("completed");
  },
  "executions-webhook": async (served) => {
    const execution = await seedExecution();
    const payload = {
      type: "INSERT", table: "workflow_executions", schema: "public", old_record: null,
      record: { id: execution.id, status: execution.status, temporal_workflow_id: execution.temporalWorkflowId },
    };
    const delivered = await call(served, { method: "POST", headers: { "x-webhook-secret": WEBHOOK_SECRET }, body: payload });
    expect(delivered.status, delivered.text).toBe(200);
    expect(delivered.json.executionId).toBe(execution.id);
    const forged = await call(served, { method: "POST", headers: { "x-webhook-secret": `${WEBHOOK_SECRET}x` }, body: payload });
    expect(forged.status, forged.text).toBe(401);
  },
  "timeout-sweeper": async (served) => {
    const execution = await seedExecution({ timeoutSeconds: 1 });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    const swept = await call(served, { method: "POST", headers: { "x-webhook-secret": WEBHOOK_SECRET } });
    expect(swept.status, swept.text).toBe(200);
    expect(typeof swept.json).toBe("object");
    expect(await executionStatus(execution.id)).toBe("timed_out");
    // pg_cron may call with the service role key instead of the secret.
    const asService = await call(served, { method: "POST", headers: bearer(serviceRoleKey), body: { maxBatches: 1 } });
    expect(asService.status, asService.text).toBe(200);
    const asUser = await call(served, { method: "POST", headers: bearer(await userToken(user)) });
    expect(asUser.status, asUser.text).toBe(401);
  },
  workflows: async (served) => {
    const name = `deployed-${randomUUID().slice(0, 8)}`;
    const created = await call(served, { method: "POST", headers: bearer(await jwks.userToken(user)), body: { name } });
    expect(created.status, created.text).toBe(201);
    const listed = await call(served, { path: "?limit=100", headers: bearer(await userToken(user)) });
    expect(listed.status, listed.text).toBe(200);
    const ids = listed.json.data.map((w: { id: string }) => w.id);
    expect(ids).toContain(created.json.id);
    expect(ids).toContain(workflowId);
  },
};

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

describe("the functions deploy to Supabase as they are", () => {
  it("finds the functions on disk", () => {
    expect(names).toContain("executions-create");
  });

  describe.each(names)("%s", (name) => {
    it("deploys with the real Supabase CLI (--use-api) to the stand-in Management API", async () => {
      const before = api.uploads.length;
      const output = await deployWithCli([name]);
      expect(output).toContain(`Deployed Functions on project ${PROJECT_REF}: ${name}`);
      expect(api.uploads.length).toBe(before + 1);
      const upload = api.uploads[api.uploads.length - 1];
      expect(upload).toMatchObject({ ref: PROJECT_REF, slug: name, bundleOnly: false, authorization: `Bearer ${ACCESS_TOKEN}` });
      uploads.set(name, upload);
    }, 150_000);

    it("uploads its entry point, its own import map and verify_jwt as config.toml sets it", () => {
      const upload = uploads.get(name);
      expect(upload, "not deployed").toBeDefined();
      const { metadata, files } = upload!;
      expect(metadata.name).toBe(name);
      expect(metadata.entrypoint_path).toBe(`supabase/functions/${name}/index.ts`);
      expect(metadata.import_map_path, "no import map: bare imports would not resolve on the platform").toBe(`supabase/functions/${name}/deno.json`);
      expect([...files.keys()]).toContain(metadata.entrypoint_path);
      expect([...files.keys()]).toContain(metadata.import_map_path);
      const verifyJwt = configuredVerifyJwt(name);
      expect(verifyJwt, `set [functions.${name}] verify_jwt in supabase/config.toml (the platform's default is true)`).toBeDefined();
      expect(metadata.verify_jwt).toBe(verifyJwt);
      expect(metadata.static_patterns ?? []).toEqual([]);
      // Paths inside the project, each byte for byte the repository's file.
      for (const [path, content] of files) {
        expect(isAbsolute(path) || normalize(path).startsWith(`..${sep}`) || path.includes("\\"), path).toBe(false);
        expect(content.equals(readFileSync(join(REPO_ROOT, path))), `${path} differs from the repository`).toBe(true);
      }
      // Nothing but the function, its map and shared/ code.
      expect([...files.keys()].filter((path) => !path.startsWith(`supabase/functions/${name}/`) && !path.startsWith("shared/"))).toEqual([]);
    });

    it("type-checks from the uploaded files alone, with only the uploaded import map", async () => {
      const upload = uploads.get(name);
      expect(upload, "not deployed").toBeDefined();
      const dir = join(work, "unpacked", name);
      for (const [path, content] of upload!.files) {
        mkdirSync(dirname(join(dir, path)), { recursive: true });
        writeFileSync(join(dir, path), content);
      }
      unpacked.set(name, dir);
      const listing = (folder: string): string[] =>
        readdirSync(folder, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? listing(join(folder, e.name)) : [relative(dir, join(folder, e.name))]));
      expect(listing(dir).sort()).toEqual([...upload!.files.keys()].sort());
      const result = await runAsync(DENO, [
        "check", "--no-lock", "--config", join(dir, upload!.metadata.import_map_path!), join(dir, upload!.metadata.entrypoint_path),
      ], { cwd: dir, env: denoEnv(), timeoutMs: 150_000 });
      expect(result.code, `${result.stdout}\n${result.stderr}`).toBe(0);
    }, 180_000);

    it("runs as the Edge Runtime runs it and answers real requests at /<name>", async () => {
      expect(unpacked.get(name), "not unpacked").toBeDefined();
      const served = await serveUnpacked(name);
      try {
        // Every function authenticates its caller itself (verify_jwt is off).
        const anonymous = await call(served, { method: "POST", body: {} });
        expect(anonymous.status, anonymous.text).toBe(401);
        expect(anonymous.json?.error?.code, anonymous.text).toBe("unauthorized");
        // Mounted at /<name> (the gateway strips /functions/v1; the app also accepts that prefix, which the
        // local router leaves on): any other path is not this function's.
        const outside = await fetch(served.url.replace(`/${name}`, `/not-${name}`), { headers: bearer(await userToken(user)) });
        expect(outside.status).toBe(404);
        await outside.body?.cancel();
        const scenario = scenarios[name];
        if (scenario) await scenario(served);
      } catch (error) {
        throw new Error(`${error instanceof Error ? error.message : String(error)}\n--- ${name} output ---\n${served.logs()}`, { cause: error });
      } finally {
        await served.stop();
      }
      expect(served.logs()).not.toMatch(/error: Uncaught|unhandled error/i);
    }, 180_000);
  });

  it("deploys them all with one command (the README's), uploading what each single deploy uploaded", async () => {
    const before = api.uploads.length;
    const bulkBefore = api.bulkUpdates.length;
    const output = await deployWithCli([]);
    expect(output).toContain(`Deployed Functions on project ${PROJECT_REF}:`);
    const batch = api.uploads.slice(before);
    // Each function bundled on its own (bundleOnly), then all activated by one bulk update.
    expect(batch.map((u) => u.slug).sort()).toEqual([...names].sort());
    expect(batch.every((u) => u.bundleOnly)).toBe(true);
    expect(api.bulkUpdates.length).toBe(bulkBefore + 1);
    expect(api.bulkUpdates[api.bulkUpdates.length - 1].map((f) => f.slug).sort()).toEqual([...names].sort());
    for (const upload of batch) {
      const single = uploads.get(upload.slug);
      expect(single, `${upload.slug} was not deployed alone`).toBeDefined();
      expect(upload.metadata).toEqual(single!.metadata);
      expect([...upload.files.keys()].sort()).toEqual([...single!.files.keys()].sort());
    }
  }, 180_000);
});

/**
 * The shared HTTP frame's request ids and request logs (shared/http/app.ts,
 * shared/http/request-log.ts), on a real function (executions-list) and on a function app with
 * routes that fail, without a database: the caller verifier is a stand-in.
 */
import { afterEach, beforeEach, describe, expect, it, type MockInstance, vi } from "vitest";
import { ConfigError, loadConfig } from "../../shared/config.ts";
import { UnauthorizedError, ValidationError } from "../../shared/errors.ts";
import { createFunctionApp } from "../../shared/http/app.ts";
import { standardOutput } from "../../shared/http/request-log.ts";
import type { Runtime } from "../../shared/http/runtime.ts";
import { createApp as executionsList } from "../../supabase/functions/executions-list/app.ts";

const userId = "6f1c1a52-8d1e-4c1f-9a55-0b6f3a0c2e11";

function runtime(logLevel?: string): Runtime {
  const config = loadConfig((name) => ({ DATABASE_URL: "postgres://unused", SUPABASE_JWT_SECRET: "s", LOG_LEVEL: logLevel })[name]);
  return {
    config,
    sql: null as unknown as Runtime["sql"],
    temporal: null,
    log: () => {},
    verifyCaller: async (authorization) => {
      if (authorization === "Bearer user") return { role: "authenticated", userId, claims: { sub: userId } };
      if (authorization === "Bearer service") return { role: "service_role", userId: null, claims: { role: "service_role" } };
      throw new UnauthorizedError("missing or invalid token");
    },
  };
}

function testApp(rt: Runtime) {
  const app = createFunctionApp("probe", rt);
  app.get("/", (c) => c.json({ ok: true }));
  app.get("/refused", () => {
    throw new ValidationError("bad field", [{ path: "x", message: "no" }]);
  });
  app.get("/boom", () => {
    throw new Error("secret detail: select * from users");
  });
  return app;
}

let logged: MockInstance;
const lines = () => logged.mock.calls.map(([line]) => JSON.parse(String(line)) as Record<string, unknown>);

beforeEach(() => {
  logged = vi.spyOn(console, "log").mockImplementation(() => {});
  vi.spyOn(console, "error").mockImplementation(() => {});
});
afterEach(() => vi.restoreAllMocks());

describe("request ids and request logs", () => {
  it("one JSON line per request: method, path, status, duration, role, request id (also in the x-request-id header)", async () => {
    const app = testApp(runtime());
    const response = await app.request("/probe?x=1", { headers: { authorization: "Bearer user" } });
    expect(response.status).toBe(200);
    const id = response.headers.get("x-request-id");
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect(lines()).toHaveLength(1);
    const [line] = lines();
    expect(line).toMatchObject({ level: "info", msg: "request", requestId: id, function: "probe", method: "GET", path: "/probe", status: 200, role: "authenticated", userId });
    expect(typeof line.durationMs).toBe("number");
    expect(Date.parse(String(line.time))).not.toBeNaN();
    expect(line).not.toHaveProperty("query"); // debug only
  });

  it("keeps a caller's valid x-request-id and replaces an invalid one", async () => {
    const app = testApp(runtime());
    const kept = await app.request("/probe", { headers: { authorization: "Bearer service", "x-request-id": "client-abc.123:7" } });
    expect(kept.headers.get("x-request-id")).toBe("client-abc.123:7");
    for (const bad of ["", " ", "has space", "x".repeat(129), "-leading", "new\u00e9"]) {
      const replaced = await app.request("/probe", { headers: { authorization: "Bearer service", "x-request-id": bad } });
      expect(replaced.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    }
    expect(lines()[0]).toMatchObject({ requestId: "client-abc.123:7", role: "service_role" });
  });

  it("puts the request id in every error body; 4xx logged at warn, 5xx at error with the error (never in the body)", async () => {
    const app = testApp(runtime());
    const unauthorized = await app.request("/probe", { headers: { "x-request-id": "req-401" } });
    expect(unauthorized.status).toBe(401);
    expect(await unauthorized.json()).toEqual({ error: { code: "unauthorized", message: expect.any(String), requestId: "req-401" } });
    expect(unauthorized.headers.get("x-request-id")).toBe("req-401");

    const refused = await app.request("/probe/refused", { headers: { authorization: "Bearer user", "x-request-id": "req-400" } });
    expect(await refused.json()).toMatchObject({ error: { code: "validation_failed", details: { fields: [{ path: "x" }] }, requestId: "req-400" } });

    const missing = await app.request("/probe/nothing", { headers: { authorization: "Bearer user", "x-request-id": "req-404" } });
    expect(await missing.json()).toMatchObject({ error: { code: "not_found", requestId: "req-404" } });

    const boom = await app.request("/probe/boom", { headers: { authorization: "Bearer user", "x-request-id": "req-500" } });
    expect(boom.status).toBe(500);
    const body = await boom.text();
    expect(JSON.parse(body)).toEqual({ error: { code: "internal", message: "internal error", requestId: "req-500" } });
    expect(body).not.toContain("secret detail");

    const byId = (id: string) => lines().filter((line) => line.requestId === id);
    expect(byId("req-401")).toEqual([expect.objectContaining({ level: "warn", status: 401, role: null })]);
    expect(byId("req-400")).toEqual([expect.objectContaining({ level: "warn", status: 400, role: "authenticated" })]);
    expect(byId("req-404")).toEqual([expect.objectContaining({ level: "warn", status: 404 })]);
    const failed = byId("req-500");
    expect(failed).toEqual([
      expect.objectContaining({ level: "error", msg: "unhandled error", route: "GET /probe/boom", error: expect.stringContaining("secret detail") }),
      expect.objectContaining({ level: "error", msg: "request", status: 500 }),
    ]);
  });

  it("answers CORS preflights with the id exposed to browsers", async () => {
    const app = testApp(runtime());
    const preflight = await app.request("/probe", { method: "OPTIONS", headers: { origin: "http://x.test", "access-control-request-method": "GET" } });
    expect(preflight.headers.get("x-request-id")).toBeTruthy();
    const response = await app.request("/probe", { headers: { origin: "http://x.test", authorization: "Bearer user" } });
    expect(response.headers.get("access-control-expose-headers")).toContain("x-request-id");
  });

  it("answers a request under the gateway's /functions/v1 prefix as its own path (no copy of the request needed)", async () => {
    const app = testApp(runtime());
    const response = await app.request("http://x.test/functions/v1/probe?x=1", { headers: { authorization: "Bearer user" } });
    expect(response.status).toBe(200);
    const missing = await app.request("http://x.test/functions/v1/probe/nothing", { headers: { authorization: "Bearer user" } });
    expect(await missing.json()).toMatchObject({ error: { code: "not_found", message: "no route for GET /probe/nothing" } });
    expect(lines().map((line) => line.path)).toEqual(["/probe", "/probe/nothing"]);
  });

  it("CORS: a preflight is a 204 naming the methods and headers; every answer allows any origin", async () => {
    const app = testApp(runtime());
    const preflight = await app.request("/probe", { method: "OPTIONS", headers: { origin: "http://x.test", "access-control-request-method": "POST" } });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get("access-control-allow-methods")).toBe("GET,POST,PATCH,DELETE,OPTIONS");
    expect(preflight.headers.get("access-control-allow-headers")?.split(",")).toEqual(expect.arrayContaining(["authorization", "content-type", "idempotency-key"]));
    expect(preflight.headers.get("access-control-allow-origin")).toBe("*");
    for (const path of ["/probe", "/probe/refused", "/probe/boom"]) {
      const answer = await app.request(path, { headers: { origin: "http://x.test", authorization: "Bearer user" } });
      expect(answer.headers.get("access-control-allow-origin")).toBe("*");
    }
    const unauthorized = await app.request("/probe", { headers: { origin: "http://x.test" } });
    expect(unauthorized.headers.get("access-control-allow-origin")).toBe("*");
  });

  it("writes lines with console.log where there is no Deno stdout (Node, and Supabase's Edge Runtime)", () => {
    standardOutput()("{\"msg\":\"probe\"}");
    expect(lines()).toEqual([{ msg: "probe" }]);
  });

  it("LOG_LEVEL filters: warn keeps 4xx/5xx only, error only 5xx, debug adds the query and user agent", async () => {
    const warn = testApp(runtime("warn"));
    await warn.request("/probe", { headers: { authorization: "Bearer user" } });
    await warn.request("/probe");
    expect(lines().map((line) => line.status)).toEqual([401]);

    logged.mockClear();
    const error = testApp(runtime("ERROR"));
    await error.request("/probe");
    await error.request("/probe/boom", { headers: { authorization: "Bearer user" } });
    expect(lines().map((line) => line.msg)).toEqual(["unhandled error", "request"]);

    logged.mockClear();
    const debug = testApp(runtime("debug"));
    await debug.request("/probe?limit=5", { headers: { authorization: "Bearer user", "user-agent": "probe/1" } });
    expect(lines()[0]).toMatchObject({ level: "info", query: "?limit=5", userAgent: "probe/1" });
  });

  it("holds for a real function (executions-list): a refused request carries its id in header, body and log", async () => {
    const app = executionsList(runtime());
    const response = await app.request("/executions-list", { headers: { "x-request-id": "list-1" } });
    expect(response.status).toBe(401);
    expect((await response.json()).error.requestId).toBe("list-1");
    expect(lines()).toEqual([expect.objectContaining({ function: "executions-list", path: "/executions-list", status: 401, requestId: "list-1" })]);
  });

  it("LOG_LEVEL is validated with every other setting", () => {
    expect(() => runtime("verbose")).toThrow(ConfigError);
    try {
      loadConfig((name) => ({ DATABASE_URL: "x", JWT_SECRET: "s", LOG_LEVEL: "verbose", DB_POOL_SIZE: "0" })[name]);
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([expect.stringContaining("DB_POOL_SIZE"), 'LOG_LEVEL must be one of error, warn, info, debug, got "verbose"']);
    }
    expect(runtime().config.logLevel).toBe("info");
  });
});

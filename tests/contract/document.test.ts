/**
 * The OpenAPI document itself (shared/openapi/document.ts): complete (every function, every
 * error code, the statuses every operation can answer), valid JSON Schema 2020-12 throughout,
 * committed as generated (shared/openapi/openapi.json, shared/client/api-types.ts), and the
 * conformance check (tests/contract/conformance.ts, run on every e2e answer) refuses what it must.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Ajv2020 } from "ajv/dist/2020.js";
import addFormats from "ajv-formats";
import { describe, expect, it } from "vitest";
import { generatedFiles, staleFiles } from "../../scripts/openapi.ts";
import { errorStatus } from "../../shared/errors.ts";
import { apiVersion, functionNames, openApiDocument, operationsOf } from "../../shared/openapi/document.ts";
import { REPO_ROOT } from "../support/postgres.ts";
import { checkAnswer } from "./conformance.ts";

const document = openApiDocument();
const headers = (extra: Record<string, string> = {}) => new Headers({ "content-type": "application/json", "x-request-id": "r-1", ...extra });
const uuid = "0b5e1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
const at = "2026-11-25T21:04:30.210Z";
const execution = {
  id: uuid, workflowId: uuid, createdBy: uuid, temporalWorkflowId: "order-1", temporalRunId: null, temporalLink: "registered",
  stopRequestedAt: null, stopReason: null, temporalClosedAt: null, status: "running", startedAt: at, completedAt: null,
  durationMs: null, timeoutAt: null, input: { a: [1, "x", null] }, output: null, errorMessage: null, activitiesExecuted: 0, tags: [], metadata: {}, retryOf: null,
  createdAt: at, updatedAt: at, workflow: { id: uuid, name: "ship order" },
};
const F = "http://127.0.0.1:1/functions/v1";

describe("the OpenAPI document", () => {
  it("is committed as generated: shared/openapi/openapi.json and shared/client/api-types.ts (npm run openapi)", async () => {
    expect(await staleFiles(), "stale generated files: run npm run openapi").toEqual([]);
    const files = await generatedFiles();
    expect(Object.keys(files).length).toBe(2);
  });

  it("is OpenAPI 3.1 with package.json's version", () => {
    expect(document.openapi).toBe("3.1.0");
    expect(apiVersion).toBe(JSON.parse(readFileSync(join(REPO_ROOT, "package.json"), "utf8")).version);
  });

  it("covers every function under supabase/functions", () => {
    const folders = readdirSync(join(REPO_ROOT, "supabase", "functions"), { withFileTypes: true })
      .filter((entry) => entry.isDirectory() && !entry.name.startsWith("_"))
      .map((entry) => entry.name);
    expect([...functionNames].sort()).toEqual(folders.sort());
    const operations = operationsOf(document);
    for (const name of functionNames) {
      const own = operations.filter((op) => op.path === `/${name}` || op.path.startsWith(`/${name}/`));
      expect(own.length, name).toBeGreaterThanOrEqual(2); // its operations and its /openapi.json
      expect(own.map((op) => op.path), name).toContain(`/${name}/openapi.json`);
    }
    expect(new Set(operations.map((op) => op.operationId)).size).toBe(operations.length);
  });

  it("declares the statuses every operation can answer, and every error code", () => {
    for (const op of operationsOf(document)) {
      for (const status of ["400", "401", "500", "503"]) expect(op.statuses, `${op.method} ${op.path}`).toContain(status);
      expect(op.statuses.some((status) => status.startsWith("2")), `${op.method} ${op.path}`).toBe(true);
    }
    const declaredCodes = Object.entries(document.components.schemas)
      .filter(([name]) => /^Error\d{3}$/.test(name))
      .flatMap(([, schema]) => (schema as { properties: { error: { properties: { code: { enum: string[] } } } } }).properties.error.properties.code.enum);
    expect(declaredCodes.sort()).toEqual(Object.keys(errorStatus).sort());
    expect(document.components.responses.Error503.headers["Retry-After"]).toBeDefined();
  });

  it("holds only valid JSON Schema 2020-12 (strict ajv compiles every component)", () => {
    const ajv = new Ajv2020({ strict: true, strictTypes: false, strictRequired: false, allErrors: true });
    (addFormats as unknown as (ajv: Ajv2020) => void)(ajv);
    // The components as $defs of one schema (strict mode knows no `components` keyword).
    const $defs = JSON.parse(JSON.stringify(document.components.schemas).replaceAll("#/components/schemas/", "#/$defs/"));
    ajv.addSchema({ $id: "components.json", $defs });
    for (const name of Object.keys($defs)) {
      expect(() => ajv.getSchema(`components.json#/$defs/${name}`), name).not.toThrow();
      expect(ajv.getSchema(`components.json#/$defs/${name}`), name).toBeTypeOf("function");
    }
  });

  it("one function's document holds only its own paths", () => {
    const own = openApiDocument({ only: "workflows" });
    expect(Object.keys(own.paths).every((path) => path === "/workflows" || path.startsWith("/workflows/"))).toBe(true);
    expect(Object.keys(own.paths)).toContain("/workflows/types");
  });
});

describe("the conformance check", () => {
  it("accepts conforming answers", () => {
    expect(checkAnswer("GET", `${F}/executions-list/${uuid}`, { status: 200, body: execution, headers: headers() })).toBeNull();
    expect(checkAnswer("POST", `${F}/executions-create`, { status: 202, body: { ...execution, status: "pending", message: "Temporal is unreachable" }, headers: headers() })).toBeNull();
    expect(checkAnswer("DELETE", `${F}/workflows/${uuid}`, { status: 204, body: null, headers: headers({ "content-type": "" }) })).toBeNull();
    const conflict = { error: { code: "terminal_execution", message: "ended", details: { field: "status" }, requestId: "r-1" } };
    expect(checkAnswer("POST", `${F}/executions-update`, { status: 409, body: conflict, headers: headers() })).toBeNull();
    const noRoute = { error: { code: "not_found", message: "no route for PUT /workflows", requestId: "r-1" } };
    expect(checkAnswer("PUT", `${F}/workflows`, { status: 404, body: noRoute, headers: headers() })).toBeNull();
    expect(checkAnswer("GET", `${F}/workflows/types`, { status: 200, body: { data: [] }, headers: headers() })).toBeNull();
  });

  it("refuses an undocumented field, status, code, route or header", () => {
    const extra = checkAnswer("GET", `${F}/executions-list/${uuid}`, { status: 200, body: { ...execution, secret: 1 }, headers: headers() });
    expect(extra).toMatch(/does not match #\/components\/schemas\/Execution.*secret/);
    expect(checkAnswer("GET", `${F}/executions-list/${uuid}`, { status: 201, body: execution, headers: headers() })).toMatch(/does not declare/);
    const wrongCode = { error: { code: "conflict", message: "x", requestId: "r-1" } };
    expect(checkAnswer("GET", `${F}/executions-list/${uuid}`, { status: 404, body: wrongCode, headers: headers() })).toMatch(/Error404/);
    expect(checkAnswer("GET", `${F}/executions-list/${uuid}/more`, { status: 200, body: {}, headers: headers() })).toMatch(/not in the document/);
    expect(checkAnswer("GET", `${F}/executions-list/${uuid}`, { status: 200, body: execution, headers: new Headers({ "content-type": "application/json" }) })).toMatch(/x-request-id/);
    const unavailable = { error: { code: "unavailable", message: "down", requestId: "r-1" } };
    expect(checkAnswer("GET", `${F}/executions-stats`, { status: 503, body: unavailable, headers: headers() })).toMatch(/Retry-After/);
    expect(checkAnswer("GET", `${F}/executions-stats`, { status: 503, body: unavailable, headers: headers({ "retry-after": "1" }) })).toBeNull();
    expect(checkAnswer("GET", `${F}/executions-list/${uuid}`, { status: 200, body: { ...execution, startedAt: "yesterday" }, headers: headers() })).toMatch(/startedAt/);
  });
});

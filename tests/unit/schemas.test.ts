import { randomUUID } from "node:crypto";
import { describe, expect, it } from "vitest";
import { ValidationError } from "../../shared/errors.ts";
import {
  checkBodyDepth,
  createExecutionSchema,
  idParamSchema,
  listExecutionsSchema,
  maxBodyDepth,
  maxJsonDepth,
  parseInput,
  statsSchema,
  updateExecutionSchema,
} from "../../shared/schemas.ts";

/** The ValidationError parseInput throws, with the field paths its details name. */
function failure(run: () => unknown): { error: ValidationError; paths: string[] } {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(ValidationError);
    const v = error as ValidationError;
    expect(v.status).toBe(400);
    expect(v.code).toBe("validation_failed");
    expect(v.details).toEqual({ fields: v.issues });
    return { error: v, paths: [...new Set(v.issues.map((i) => i.path))].sort() };
  }
  throw new Error("expected a ValidationError");
}

const uuid = randomUUID();

describe("createExecutionSchema", () => {
  it("accepts a minimal and a full body", () => {
    expect(parseInput(createExecutionSchema, { workflowId: uuid })).toEqual({ workflowId: uuid });
    const full = { workflowId: uuid, temporalWorkflowId: "wf-1", temporalRunId: "run-1", input: { a: [1, "x", null, { b: true }] }, timeoutSeconds: 60, userId: randomUUID() };
    expect(parseInput(createExecutionSchema, full)).toEqual(full);
  });

  it("names each bad field", () => {
    const { error, paths } = failure(() =>
      parseInput(createExecutionSchema, { workflowId: "nope", temporalWorkflowId: "", temporalRunId: 5, timeoutSeconds: -1, userId: "me" })
    );
    expect(paths).toEqual(["temporalRunId", "temporalWorkflowId", "timeoutSeconds", "userId", "workflowId"]);
    expect(error.message).toContain("workflowId");
    for (const issue of error.issues) expect(issue.message).toBeTruthy();
  });

  it("requires workflowId", () => {
    expect(failure(() => parseInput(createExecutionSchema, {})).paths).toEqual(["workflowId"]);
  });

  it("rejects unknown keys, naming them", () => {
    const { error } = failure(() => parseInput(createExecutionSchema, { workflowId: uuid, status: "completed", createdBy: uuid }));
    const text = JSON.stringify(error.issues);
    expect(text).toContain("status");
    expect(text).toContain("createdBy");
  });

  it("rejects a non-object body", () => {
    for (const body of [null, [], "x", 1, true]) {
      expect(failure(() => parseInput(createExecutionSchema, body)).paths).toEqual(["(body)"]);
    }
  });

  it("bounds timeoutSeconds to a whole positive number of at most a year", () => {
    for (const t of [0, 1.5, 366 * 24 * 3600 + 1, "60"]) {
      expect(failure(() => parseInput(createExecutionSchema, { workflowId: uuid, timeoutSeconds: t })).paths).toEqual(["timeoutSeconds"]);
    }
  });
});

describe("updateExecutionSchema", () => {
  it("accepts a status change by id or by temporalWorkflowId", () => {
    expect(parseInput(updateExecutionSchema, { id: uuid, status: "completed", output: { ok: 1 }, durationMs: 5 }))
      .toEqual({ id: uuid, status: "completed", output: { ok: 1 }, durationMs: 5 });
    expect(parseInput(updateExecutionSchema, { temporalWorkflowId: "wf", status: "failed", errorMessage: null }))
      .toEqual({ temporalWorkflowId: "wf", status: "failed", errorMessage: null });
  });

  it("names each bad field", () => {
    const { paths } = failure(() =>
      parseInput(updateExecutionSchema, { id: uuid, status: "done", durationMs: -1, activitiesExecuted: 1.5, errorMessage: 7, temporalRunId: "" })
    );
    expect(paths).toEqual(["activitiesExecuted", "durationMs", "errorMessage", "status", "temporalRunId"]);
  });

  it("wants exactly one of id and temporalWorkflowId", () => {
    expect(failure(() => parseInput(updateExecutionSchema, { status: "running" })).paths).toEqual(["id"]);
    expect(failure(() => parseInput(updateExecutionSchema, { id: uuid, temporalWorkflowId: "wf" })).paths).toEqual(["id"]);
  });

  it("bounds activitiesExecuted to int4 and durationMs to safe integers", () => {
    expect(failure(() => parseInput(updateExecutionSchema, { id: uuid, activitiesExecuted: 2 ** 31 })).paths).toEqual(["activitiesExecuted"]);
    expect(failure(() => parseInput(updateExecutionSchema, { id: uuid, durationMs: 2 ** 53 })).paths).toEqual(["durationMs"]);
  });
});

describe("listExecutionsSchema (query strings)", () => {
  it("parses and defaults", () => {
    expect(parseInput(listExecutionsSchema, {})).toEqual({ order: "desc", limit: 20 });
    expect(parseInput(listExecutionsSchema, { order: "asc" })).toEqual({ order: "asc", limit: 20 });
    expect(parseInput(listExecutionsSchema, { status: "running, failed", limit: "5", workflowId: uuid, startedAfter: "2026-01-01T00:00:00Z", startedBefore: "2026-01-02T00:00:00.123+02:00", cursor: "abc" }))
      .toEqual({ status: ["running", "failed"], order: "desc", limit: 5, workflowId: uuid, startedAfter: "2026-01-01T00:00:00Z", startedBefore: "2026-01-02T00:00:00.123+02:00", cursor: "abc" });
  });

  it("names each bad field", () => {
    const { paths } = failure(() =>
      parseInput(listExecutionsSchema, { status: "running,bogus", limit: "0", workflowId: "x", startedAfter: "yesterday", startedBefore: "2026-01-01", cursor: "" }, "query")
    );
    expect(paths.map((p) => p.split(".")[0])).toEqual(expect.arrayContaining(["cursor", "limit", "startedAfter", "startedBefore", "status", "workflowId"]));
    expect(new Set(paths.map((p) => p.split(".")[0])).size).toBe(6);
  });

  it("limits limit to 1..100 and rejects unknown parameters", () => {
    for (const limit of ["0", "101", "1.5", "abc", "-1"]) {
      expect(failure(() => parseInput(listExecutionsSchema, { limit })).paths).toEqual(["limit"]);
    }
    expect(parseInput(listExecutionsSchema, { limit: "100" }).limit).toBe(100);
    expect(JSON.stringify(failure(() => parseInput(listExecutionsSchema, { sort: "asc" })).error.issues)).toContain("sort");
    expect(failure(() => parseInput(listExecutionsSchema, { order: "ASC" })).paths).toEqual(["order"]);
  });

  it("needs at least one status in a status list", () => {
    expect(failure(() => parseInput(listExecutionsSchema, { status: " , " })).paths).toEqual(["status"]);
  });
});

describe("statsSchema and idParamSchema", () => {
  it("validate", () => {
    expect(parseInput(statsSchema, { workflowId: uuid })).toEqual({ workflowId: uuid });
    expect(failure(() => parseInput(statsSchema, { workflowId: "x", startedAfter: "2026-13-01T00:00:00Z" })).paths)
      .toEqual(["startedAfter", "workflowId"]);
    expect(parseInput(idParamSchema, { id: uuid.toUpperCase() })).toEqual({ id: uuid.toUpperCase() });
    expect(failure(() => parseInput(idParamSchema, { id: "1 or 1=1" })).paths).toEqual(["id"]);
  });
});

describe("what PostgreSQL cannot store as sent, and JSON depth", () => {
  const nest = (depth: number): unknown => {
    let value: unknown = 1;
    for (let i = 0; i < depth; i++) value = [value];
    return value;
  };

  it("a NUL or an unpaired surrogate anywhere is a 400 naming its path (keys too, escaped)", () => {
    expect(failure(() => parseInput(updateExecutionSchema, { id: uuid, errorMessage: "x\u0000" })).paths).toEqual(["errorMessage"]);
    expect(failure(() => parseInput(updateExecutionSchema, { id: uuid, output: { a: [0, { b: "\ud800" }] } })).paths).toEqual(["output.a.1.b"]);
    expect(failure(() => parseInput(createExecutionSchema, { workflowId: uuid, input: { "k\u0000": 1 } })).paths).toEqual(["input.k\\u0000"]);
    expect(failure(() => parseInput(listExecutionsSchema, { cursor: "\u0000" })).paths).toEqual(["cursor"]);
    // Paired surrogates (emoji) are fine.
    expect(parseInput(updateExecutionSchema, { id: uuid, errorMessage: "🧪 ok" })).toEqual({ id: uuid, errorMessage: "🧪 ok" });
  });

  it("input and output nest at most maxJsonDepth (64) levels; 5,000 does not overflow the stack", () => {
    expect(maxJsonDepth).toBe(64);
    expect(parseInput(createExecutionSchema, { workflowId: uuid, input: nest(64) }).input).toEqual(nest(64));
    for (const depth of [65, 5000, 100_000]) {
      expect(failure(() => parseInput(createExecutionSchema, { workflowId: uuid, input: nest(depth) })).paths).toEqual(["input"]);
    }
    expect(() => checkBodyDepth({ output: nest(maxBodyDepth - 1) })).not.toThrow();
    const error = (() => {
      try {
        checkBodyDepth({ output: nest(maxBodyDepth) });
      } catch (e) {
        return e as ValidationError;
      }
    })();
    expect(error?.issues.map((i) => i.path)).toEqual(["output"]);
  });

  it("JSON values are validated in place: a __proto__ key is kept as sent; non-finite numbers are refused", () => {
    const input = JSON.parse('{"__proto__":{"polluted":true},"a":[{"__proto__":1}]}');
    const parsed = parseInput(createExecutionSchema, { workflowId: uuid, input });
    expect(parsed.input).toBe(input);
    expect(Object.keys(parsed.input as object)).toEqual(["__proto__", "a"]);
    expect(JSON.stringify(parsed.input)).toBe('{"__proto__":{"polluted":true},"a":[{"__proto__":1}]}');
    expect(failure(() => parseInput(updateExecutionSchema, { id: uuid, output: { n: JSON.parse("1e400") } })).paths).toEqual(["output.n"]);
    expect(failure(() => parseInput(updateExecutionSchema, { id: uuid, output: { f: () => 1 } })).paths).toEqual(["output.f"]);
  });
});

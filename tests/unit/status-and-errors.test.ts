import { describe, expect, it } from "vitest";
import { translateDatabaseError } from "../../shared/database-errors.ts";
import {
  ConflictError,
  errorStatus,
  ExecutionError,
  ImmutableFieldError,
  InvalidTransitionError,
  NotFoundError,
  TerminalExecutionError,
  ValidationError,
} from "../../shared/errors.ts";
import { canTransition, executionStatuses, isLive, isTerminal, liveStatuses, terminalStatuses } from "../../shared/status.ts";

describe("status rules", () => {
  it("terminal states are final; non-terminal ones may stay", () => {
    for (const from of executionStatuses) {
      for (const to of executionStatuses) {
        if (isTerminal(from)) expect(canTransition(from, to), `${from}->${to}`).toBe(false);
      }
      expect(canTransition(from, from)).toBe(!isTerminal(from));
    }
    expect([...terminalStatuses].sort()).toEqual(["cancelled", "completed", "failed", "timed_out"]);
  });

  it("every status is exactly one of live and terminal", () => {
    expect([...liveStatuses]).toEqual(["pending", "running"]);
    for (const status of executionStatuses) expect(isLive(status), status).toBe(!isTerminal(status));
    expect([...liveStatuses, ...terminalStatuses].sort()).toEqual([...executionStatuses].sort());
  });

  it("pending and running move forward only", () => {
    const allowed = executionStatuses.flatMap((from) => executionStatuses.filter((to) => from !== to && canTransition(from, to)).map((to) => `${from}->${to}`));
    expect(allowed.sort()).toEqual([
      "pending->cancelled", "pending->failed", "pending->running", "pending->timed_out",
      "running->cancelled", "running->completed", "running->failed", "running->timed_out",
    ]);
  });
});

describe("database errors become typed errors", () => {
  const pgError = (code: string, extra: Record<string, string> = {}) => Object.assign(new Error("raw driver message with SQL"), { code, ...extra });

  it("maps our SQLSTATEs and the standard ones, by code and by column or constraint name only", () => {
    // The message and detail are the driver's; nothing is read from them.
    const transition = translateDatabaseError(pgError("ET001", { column_name: "status", detail: "from=completed to=running" }));
    expect(transition).toBeInstanceOf(InvalidTransitionError);
    expect(transition).toMatchObject({ status: 409, code: "invalid_transition", details: { field: "status" } });
    const terminal = translateDatabaseError(pgError("ET003", { column_name: "error_message" }));
    expect(terminal).toBeInstanceOf(TerminalExecutionError);
    expect(terminal).toMatchObject({ status: 409, code: "terminal_execution", details: { field: "errorMessage" } });
    const immutable = translateDatabaseError(pgError("ET002", { column_name: "started_at" }));
    expect(immutable).toBeInstanceOf(ImmutableFieldError);
    expect(immutable).toMatchObject({ status: 409, code: "immutable_field", details: { field: "startedAt" } });
    const bound = translateDatabaseError(pgError("23514", { constraint_name: "workflow_executions_timeout_at_in_range" }));
    expect(bound).toBeInstanceOf(ValidationError);
    expect(bound).toMatchObject({ status: 400, details: { fields: [{ path: "timeoutAt", message: expect.stringContaining("2200") }] } });
    // Every bound constraint names its column, including ones later migrations add by the same convention.
    expect(translateDatabaseError(pgError("23514", { constraint_name: "workflow_executions_stop_requested_at_in_range" })))
      .toMatchObject({ details: { fields: [{ path: "stopRequestedAt" }] } });
    expect(translateDatabaseError(pgError("23514", { constraint_name: "workflows_created_at_in_range" })))
      .toMatchObject({ details: { fields: [{ path: "createdAt" }] } });
    expect(translateDatabaseError(pgError("23514", { constraint_name: "workflow_executions_duration_ms_check" })))
      .toMatchObject({ details: { fields: [{ path: "durationMs" }] } });
    expect(translateDatabaseError(pgError("23514", { constraint_name: "execution_status_known" })))
      .toMatchObject({ details: { fields: [{ path: "status" }] } });
    expect(translateDatabaseError(pgError("23502", { column_name: "workflow_id" })))
      .toMatchObject({ status: 400, details: { fields: [{ path: "workflowId", message: "must not be null" }] } });
    expect(translateDatabaseError(pgError("23505"))).toBeInstanceOf(ConflictError);
    expect(translateDatabaseError(pgError("23503"))).toBeInstanceOf(NotFoundError);
    expect(translateDatabaseError(pgError("42501"))).toBeInstanceOf(NotFoundError);
    for (const code of ["22P02", "22007", "22008", "22003", "22021", "22P05", "23514"]) {
      expect(translateDatabaseError(pgError(code))).toBeInstanceOf(ValidationError);
    }
    for (const code of ["23505", "23503", "42501", "22P02", "ET001", "ET002", "ET003", "23514"]) {
      expect((translateDatabaseError(pgError(code, { column_name: "status" })) as Error).message).not.toContain("SQL");
    }
  });

  it("passes other errors through (they become a bare 500)", () => {
    const other = pgError("57014");
    expect(translateDatabaseError(other)).toBe(other);
    const plain = new Error("x");
    expect(translateDatabaseError(plain)).toBe(plain);
    expect(translateDatabaseError("string")).toBe("string");
  });

  it("every error class carries its code's HTTP status", () => {
    for (const [code, status] of Object.entries(errorStatus)) {
      expect(new ExecutionError(code as keyof typeof errorStatus, "m").status).toBe(status);
    }
  });
});

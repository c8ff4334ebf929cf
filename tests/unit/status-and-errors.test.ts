import { describe, expect, it } from "vitest";
import { translateDatabaseError } from "../../shared/db.ts";
import {
  ConflictError,
  errorStatus,
  ExecutionError,
  InvalidTransitionError,
  NotFoundError,
  ValidationError,
} from "../../shared/errors.ts";
import { canTransition, executionStatuses, isTerminal, terminalStatuses } from "../../shared/status.ts";

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

  it("maps our SQLSTATEs and the standard ones", () => {
    const transition = translateDatabaseError(pgError("ET001", { detail: "from=completed to=running" }));
    expect(transition).toBeInstanceOf(InvalidTransitionError);
    expect(transition).toMatchObject({ status: 409, code: "invalid_transition", details: { from: "completed", to: "running" } });
    expect(translateDatabaseError(pgError("ET002"))).toBeInstanceOf(ConflictError);
    expect(translateDatabaseError(pgError("23505"))).toBeInstanceOf(ConflictError);
    expect(translateDatabaseError(pgError("23503"))).toBeInstanceOf(NotFoundError);
    expect(translateDatabaseError(pgError("42501"))).toBeInstanceOf(NotFoundError);
    for (const code of ["22P02", "22007", "22008", "23514"]) expect(translateDatabaseError(pgError(code))).toBeInstanceOf(ValidationError);
    for (const code of ["23505", "23503", "42501", "22P02", "ET002"]) {
      expect((translateDatabaseError(pgError(code)) as Error).message).not.toContain("SQL");
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

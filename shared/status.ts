/**
 * Execution status rules for TypeScript callers (a worker deciding what it may report, a UI
 * deciding which actions to offer). The database is the authority: trigger
 * `enforce_execution_lifecycle` applies the same rules to every write, and the service relies on
 * it (one UPDATE, ET001 -> 409). A test checks both agree for every pair.
 */

export const executionStatuses = ["pending", "running", "completed", "failed", "cancelled", "timed_out"] as const;
export type ExecutionStatus = (typeof executionStatuses)[number];

export const terminalStatuses = ["completed", "failed", "cancelled", "timed_out"] as const satisfies readonly ExecutionStatus[];
export type TerminalStatus = (typeof terminalStatuses)[number];

const allowedNext: Record<ExecutionStatus, readonly ExecutionStatus[]> = {
  pending: ["running", "failed", "cancelled", "timed_out"],
  running: ["completed", "failed", "cancelled", "timed_out"],
  completed: [],
  failed: [],
  cancelled: [],
  timed_out: [],
};

export function isTerminal(status: ExecutionStatus): status is TerminalStatus {
  return (terminalStatuses as readonly string[]).includes(status);
}

/** Whether a row in `from` may move to `to` (staying in the same non-terminal state counts as allowed). */
export function canTransition(from: ExecutionStatus, to: ExecutionStatus): boolean {
  if (from === to) return !isTerminal(from);
  return allowedNext[from].includes(to);
}

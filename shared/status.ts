/**
 * The execution statuses, which of them are live and which terminal, and the lifecycle
 * between them: the one TypeScript statement of these rules (SQL states them once too, in
 * public.execution_status_is_live / _is_terminal / execution_transition_allowed). Everything
 * else in TypeScript imports them from here. The database is the authority: trigger
 * `enforce_execution_lifecycle` applies the same rules to every write, and the service relies
 * on it (one UPDATE, ET001/ET003 -> 409). A test checks both agree for every pair.
 */

export const executionStatuses = ["pending", "running", "completed", "failed", "cancelled", "timed_out"] as const;
export type ExecutionStatus = (typeof executionStatuses)[number];

/** Still going: waiting for Temporal (`pending`) or running there. Only these may change. */
export const liveStatuses = ["pending", "running"] as const satisfies readonly ExecutionStatus[];
export type LiveStatus = (typeof liveStatuses)[number];

/** Final: a terminal execution never changes again. */
export const terminalStatuses = ["completed", "failed", "cancelled", "timed_out"] as const satisfies readonly ExecutionStatus[];
export type TerminalStatus = (typeof terminalStatuses)[number];

const allowedNext: Record<ExecutionStatus, readonly ExecutionStatus[]> = {
  pending: ["running", "failed", "cancelled", "timed_out"],
  running: terminalStatuses,
  completed: [],
  failed: [],
  cancelled: [],
  timed_out: [],
};

export function isLive(status: ExecutionStatus): status is LiveStatus {
  return (liveStatuses as readonly string[]).includes(status);
}

export function isTerminal(status: ExecutionStatus): status is TerminalStatus {
  return (terminalStatuses as readonly string[]).includes(status);
}

/** Whether a row in `from` may move to `to` (staying in the same live state counts as allowed). */
export function canTransition(from: ExecutionStatus, to: ExecutionStatus): boolean {
  if (from === to) return isLive(from);
  return allowedNext[from].includes(to);
}

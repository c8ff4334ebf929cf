/**
 * The one place SQL errors become typed errors (shared/errors.ts), by SQLSTATE and by the
 * structured fields PostgreSQL sends with an error (postgres.js exposes them as
 * `constraint_name`, `column_name`), never by reading message or detail text: those are for
 * people and may change. The SQLSTATEs our schema raises are listed in the banners of the
 * migrations that raise them (20261201000200_execution_integrity.sql: ET001-ET003;
 * 20261201000100_temporal_ownership.sql: ET010-ET012). Anything not listed here passes
 * through unchanged and is answered as a bare 500.
 */
import {
  ConflictError,
  type FieldIssue,
  ImmutableFieldError,
  InvalidTransitionError,
  NotFoundError,
  TerminalExecutionError,
  ValidationError,
} from "./errors.ts";
import { executionStatuses } from "./status.ts";

/** The fields of a PostgreSQL error this module reads (postgres.js `PostgresError`). */
export interface PostgresErrorFields {
  code?: string;
  constraint_name?: string;
  column_name?: string;
}

/** The API's name of a column: `error_message` -> `errorMessage`. */
export function fieldOfColumn(column: string): string {
  return column.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/**
 * Lowest and highest time a timestamp column holds (migration 20261201000200: every
 * timestamptz column of workflow_executions and workflows, `infinity` and `-infinity`
 * excluded). Inclusive lower bound, exclusive upper bound.
 */
export const timestampBounds = { from: "2000-01-01T00:00:00Z", before: "2200-01-01T00:00:00Z" } as const;

const timestampIssue = (column: string): FieldIssue => ({
  path: fieldOfColumn(column),
  message: `must be a finite time from ${timestampBounds.from} to before ${timestampBounds.before}`,
});

/**
 * The bound constraint of a timestamp column, `<table>_<column>_in_range` (20261201000200; a
 * column added later takes one under the same name), as the field it names.
 */
const timestampConstraint = /^(?:workflow_executions|workflows)_([a-z0-9_]+?)_in_range$/;

/** CHECK constraints (and the status domain's) a write can fail, by name: the field and what is wrong. */
const checkConstraints: Record<string, FieldIssue> = {
  execution_status_known: { path: "status", message: `must be one of ${executionStatuses.join(", ")}` },
  workflow_executions_duration_ms_check: { path: "durationMs", message: "must not be negative" },
  workflow_executions_activities_executed_check: { path: "activitiesExecuted", message: "must not be negative" },
  workflow_executions_temporal_workflow_id_check: { path: "temporalWorkflowId", message: "must be 1 to 1000 characters" },
  workflow_executions_temporal_run_id_check: { path: "temporalRunId", message: "must be 1 to 1000 characters" },
  workflows_name_check: { path: "name", message: "must be 1 to 200 characters" },
  // 20261202000100_execution_tags_metadata: the limits of shared/schemas.ts (tagLimits, metadataLimits).
  workflow_executions_tags_valid: { path: "tags", message: "at most 10 distinct tags of 1 to 64 characters of A-Z a-z 0-9 _ . : / -, sorted, without duplicates" },
  workflow_executions_metadata_valid: {
    path: "metadata",
    message: "a flat object of at most 16 keys ([A-Za-z0-9_-]{1,64}), each a string of at most 256 characters, a number or a boolean; at most 4096 bytes",
  },
  workflows_temporal_workflow_type_check: { path: "temporalWorkflowType", message: "must be 1 to 255 characters" },
  workflows_task_queue_check: { path: "taskQueue", message: "must be 1 to 255 characters" },
};

/** What a CHECK constraint of ours says is wrong, by its name. */
function checkIssue(constraint: string | undefined): FieldIssue | undefined {
  if (!constraint) return undefined;
  const timestamp = timestampConstraint.exec(constraint);
  return timestamp ? timestampIssue(timestamp[1]) : checkConstraints[constraint];
}

/** Maps the SQLSTATEs our schema raises (and a few standard ones) to typed errors; others pass through. */
export function translateDatabaseError(error: unknown): unknown {
  if (!(error instanceof Error) || !("code" in error)) return error;
  const pg = error as PostgresErrorFields;
  return translateOwnershipError(pg) ?? translateIntegrityError(pg) ?? error;
}

/**
 * The conditions of migration 20261201000200 (execution integrity) and the standard
 * SQLSTATEs a client's bad value can cause.
 */
function translateIntegrityError(pg: PostgresErrorFields): Error | null {
  const column = pg.column_name || null;
  switch (pg.code) {
    case "ET001": // a live execution's status change the lifecycle forbids
      return new InvalidTransitionError(undefined, fieldOfColumn(column ?? "status"));
    case "ET003": // any change to a terminal execution
      return new TerminalExecutionError(fieldOfColumn(column ?? "status"));
    case "ET002": // a column fixed at insert
      return column ? new ImmutableFieldError(fieldOfColumn(column)) : new ConflictError("that field of an execution cannot change");
    case "23514": { // check_violation, by constraint name
      const issue = checkIssue(pg.constraint_name);
      return issue ? new ValidationError(`invalid ${issue.path}`, [issue]) : new ValidationError("a value is out of range");
    }
    case "23502": // not_null_violation: PostgreSQL names the column
      return column
        ? new ValidationError(`invalid ${fieldOfColumn(column)}`, [{ path: fieldOfColumn(column), message: "must not be null" }])
        : new ValidationError("a required value is missing");
    case "23505": // unique_violation
      return new ConflictError("an execution with this temporalWorkflowId already exists");
    case "23503": // foreign_key_violation: the workflow (or owner) does not exist for this caller
      if (pg.constraint_name?.startsWith("workflow_executions_retry_of_")) return new NotFoundError("the execution to retry was not found");
      return new NotFoundError("workflow not found");
    case "42501": // insufficient_privilege, including RLS with-check failures
      return new NotFoundError("not found");
    case "22P02": // invalid_text_representation
    case "22007": // invalid_datetime_format
    case "22008": // datetime_field_overflow
    case "22003": // numeric_value_out_of_range
    case "22021": // character_not_in_repertoire (a NUL in text; the HTTP edge rejects it first)
    case "22P05": // untranslatable_character (\u0000 in jsonb; likewise)
      return new ValidationError("a value has an invalid format");
    default:
      return null;
  }
}

/**
 * The conditions of migration 20261201000100 (Temporal ownership), by SQLSTATE and constraint
 * name, never by message text. No message carries a key: a unique clash names no id, owner or
 * tenant.
 */
function translateOwnershipError(pg: PostgresErrorFields): Error | null {
  switch (pg.code) {
    case "ET010": // temporal_link is set by the database at insert
      return new ImmutableFieldError("temporalLink", "temporalLink is set by the database and cannot change");
    case "ET011":
      return new ValidationError("invalid temporalWorkflowId", [
        { path: "temporalWorkflowId", message: 'the prefix "execution-" is reserved for runs the tracker dispatches' },
      ]);
    case "ET012":
      return new ValidationError("invalid temporalWorkflowId", [
        { path: "temporalWorkflowId", message: "a pending execution's Temporal workflow id is derived from its id and cannot be chosen" },
      ]);
  }
  switch (pg.constraint_name) {
    case "workflow_executions_temporal_workflow_id_shape":
      return new ValidationError("invalid temporalWorkflowId", [
        { path: "temporalWorkflowId", message: 'must be 1 to 1000 bytes, without "/" or control characters, and not "." or ".."' },
      ]);
    case "workflow_executions_owner_temporal_workflow_id_key":
    case "workflow_executions_acted_temporal_workflow_id_key":
      return new ConflictError("an execution with this temporalWorkflowId already exists");
    case "workflows_temporal_workflow_type_registered_fkey":
      return new ValidationError("invalid workflow type", [
        { path: "temporalWorkflowType", message: "temporalWorkflowType and taskQueue must name a registered workflow type (GET /workflows/types)" },
      ]);
    case "workflows_temporal_workflow_type_pair":
      return new ValidationError("invalid workflow type", [
        { path: "taskQueue", message: "temporalWorkflowType and taskQueue are set together, or both null" },
      ]);
    case "workflows_created_by_fkey":
      return new NotFoundError("user not found");
    case "temporal_workflow_types_pkey":
      return new ConflictError("this workflow type is already registered on this task queue");
  }
  return null;
}

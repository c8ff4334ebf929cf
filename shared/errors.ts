/**
 * Typed errors of the execution module. The domain throws these; exactly one place
 * (`http/app.ts`, `onError`) turns them into HTTP responses. Anything else that escapes is
 * answered as a bare 500 `internal`, so no stack trace, SQL or driver message reaches a client.
 */

/** The stable error codes of the API, with the HTTP status each one is answered with. */
export const errorStatus = {
  validation_failed: 400,
  too_many_matches: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  invalid_transition: 409,
  terminal_execution: 409,
  immutable_field: 409,
  conflict: 409,
  not_retryable: 409,
  payload_too_large: 413,
  unsupported_media_type: 415,
  internal: 500,
  unavailable: 503,
} as const;

export type ErrorCode = keyof typeof errorStatus;

/** One problem with one input field: `path` is the dotted field name (`status`, `input.x`). */
export interface FieldIssue {
  path: string;
  message: string;
}

/** Base class: a message safe to show the caller, a code, and optional structured details. */
export class ExecutionError extends Error {
  readonly status: number;
  constructor(readonly code: ErrorCode, message: string, readonly details?: unknown) {
    super(message);
    this.name = new.target.name;
    this.status = errorStatus[code];
  }
}

export class ValidationError extends ExecutionError {
  constructor(message: string, readonly issues: FieldIssue[] = []) {
    super("validation_failed", message, issues.length ? { fields: issues } : undefined);
  }
}

export class UnauthorizedError extends ExecutionError {
  constructor(message = "a valid bearer token is required") {
    super("unauthorized", message);
  }
}

export class ForbiddenError extends ExecutionError {
  constructor(message = "not allowed for this caller") {
    super("forbidden", message);
  }
}

/** Also used for rows of other users: their existence is never revealed. */
export class NotFoundError extends ExecutionError {
  constructor(message = "not found") {
    super("not_found", message);
  }
}

/**
 * A status change the lifecycle forbids for a live execution (running -> pending). `field` is
 * the API field concerned (always `status`).
 */
export class InvalidTransitionError extends ExecutionError {
  constructor(message = "the lifecycle does not allow this status change", readonly field = "status") {
    super("invalid_transition", message, { field });
  }
}

/**
 * Any change to an execution that is already completed, failed, cancelled or timed out
 * (repeating it unchanged is fine). `field` names the first field the change touched.
 */
export class TerminalExecutionError extends ExecutionError {
  constructor(readonly field: string, message = "the execution has ended and can no longer change") {
    super("terminal_execution", message, { field });
  }
}

/** A field that is fixed once the execution exists (id, workflowId, startedAt...). */
export class ImmutableFieldError extends ExecutionError {
  constructor(readonly field: string, message = `${field} cannot change once the execution exists`) {
    super("immutable_field", message, { field });
  }
}

export class ConflictError extends ExecutionError {
  constructor(message: string) {
    super("conflict", message);
  }
}

/** A retry of an execution whose workflow the tracker cannot start (no registered Temporal type and task queue). */
export class NotRetryableError extends ExecutionError {
  constructor(message: string) {
    super("not_retryable", message);
  }
}

/** A bulk action whose filter matches more rows than one request may act on (shared/bulk/). */
export class TooManyMatchesError extends ExecutionError {
  constructor(readonly matched: number, readonly limit: number) {
    super("too_many_matches", `the filter matches more than ${limit} executions (at least ${matched}); narrow it, e.g. by startedBefore`, { matched, limit });
  }
}

export class PayloadTooLargeError extends ExecutionError {
  constructor(limitBytes: number) {
    super("payload_too_large", `request body is larger than ${limitBytes} bytes`);
  }
}

export class UnsupportedMediaTypeError extends ExecutionError {
  constructor() {
    super("unsupported_media_type", "request body must be application/json");
  }
}

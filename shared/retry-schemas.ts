/**
 * What POST /executions-retry/:id accepts (shared/retry.ts): an optional edited input (the
 * same rules as a create's input) and an optional requestId, also accepted as the
 * `Idempotency-Key` header.
 */
import { z } from "zod";
import { ValidationError } from "./errors.ts";
import { createExecutionSchema } from "./schemas.ts";

/** A request id: 1 to 255 characters, no control characters (it is hashed, never stored). */
export const retryRequestIdSchema = z.string().min(1, "must not be empty").max(255, "must be at most 255 characters")
  .refine((v) => !/[\u0000-\u001f\u007f-\u009f]/.test(v), "must not contain control characters")
  .meta({ description: "Makes the retry idempotent: the same requestId for the same execution answers the same retry (200) instead of starting another run. Also accepted as the Idempotency-Key header." });

export const retryExecutionSchema = createExecutionSchema.pick({ input: true }).extend({
  requestId: retryRequestIdSchema.optional(),
}).meta({ description: "Omitted `input`: the original's input (null: a null input)." });

/**
 * The request id of a retry: the body's `requestId` or the `Idempotency-Key` header (checked
 * by the same rules); 400 when both are given and differ.
 */
export function requestIdOf(body: { requestId?: string }, header: string | undefined): string | undefined {
  if (header === undefined) return body.requestId;
  const checked = retryRequestIdSchema.safeParse(header);
  if (!checked.success) {
    throw new ValidationError("invalid request: Idempotency-Key", [{ path: "Idempotency-Key", message: checked.error.issues[0].message }]);
  }
  if (body.requestId !== undefined && body.requestId !== header) {
    throw new ValidationError("invalid request: requestId", [{ path: "requestId", message: "differs from the Idempotency-Key header" }]);
  }
  return header;
}

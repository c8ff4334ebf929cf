/**
 * What both Temporal gateways share, runtime-neutral (Deno and Node): which workflow ids they
 * can address, the payload encoding (the SDK's default converter), Temporal's run status
 * mapped to ours, close-event and failure decoding, and the gRPC status codes (the HTTP API
 * answers them as google.rpc.Status JSON, the SDK as gRPC errors). The HTTP gateway
 * (./http-gateway.ts) and the SDK gateway (./sdk-gateway.ts) import it; it is not part of the
 * gateway API (./gateway.ts).
 */
import { TemporalRequestError, type TemporalRunStatus, type WorkflowDescription } from "./gateway.ts";

// ---------------------------------------------------------------------------------------------------------------
// Workflow ids

/** Temporal's default limit.maxIDLength (bytes); the database and the HTTP edge check the same. */
const maxWorkflowIdBytes = 1000;

/**
 * Refuses (TemporalRequestError, before any request is built) a workflow id Temporal or the
 * HTTP API cannot address: empty, longer than 1000 bytes, containing "/" (the HTTP API routes on
 * the decoded path, so even %2F never reaches the handler) or a control character, or "." / ".."
 * (a URL path normalizes them away: `/workflows/..` would address `/namespaces/<ns>`). Both
 * gateways refuse the same ids, so they answer identically.
 */
export function assertAddressableWorkflowId(workflowId: string): void {
  const problem = !workflowId
    ? "must not be empty"
    : workflowId === "." || workflowId === ".."
    ? 'must not be "." or ".."'
    : workflowId.includes("/")
    ? 'must not contain "/"'
    : /[\u0000-\u001f\u007f-\u009f]/.test(workflowId)
    ? "must not contain control characters"
    : encoder.encode(workflowId).length > maxWorkflowIdBytes
    ? `must be at most ${maxWorkflowIdBytes} bytes`
    : null;
  if (problem) throw new TemporalRequestError(`workflowId ${JSON.stringify(workflowId.slice(0, 100))} ${problem}`);
}

// ---------------------------------------------------------------------------------------------------------------
// gRPC status codes

const GRPC_CODE_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

export function grpcCodeName(code: number): string {
  return GRPC_CODE_NAMES[code] ?? `code ${code}`;
}

/** The HTTP status grpc-gateway answers for a gRPC code (runtime.HTTPStatusFromCode). */
export function httpStatusFromGrpcCode(code: number): number {
  switch (code) {
    case 0: return 200;
    case 1: return 499;
    case 3: case 9: case 11: return 400;
    case 4: return 504;
    case 5: return 404;
    case 6: case 10: return 409;
    case 7: return 403;
    case 8: return 429;
    case 12: return 501;
    case 14: return 503;
    case 16: return 401;
    default: return 500; // UNKNOWN, INTERNAL, DATA_LOSS
  }
}

/** Worth retrying later: 5xx, 429 (resource exhausted), 408/499 (timed out / cancelled), or the matching gRPC codes. */
export function isTransient(httpStatus: number, grpcCode?: number): boolean {
  if (grpcCode === 1 || grpcCode === 4 || grpcCode === 8 || grpcCode === 14) return true;
  return httpStatus >= 500 || httpStatus === 429 || httpStatus === 408 || httpStatus === 499;
}

/** Given the detail type names of a NOT_FOUND error: is it about the workflow (not the namespace)? */
export function isWorkflowNotFoundDetail(detailTypeNames: string[]): boolean {
  return detailTypeNames.some((t) => t.endsWith(".NotFoundFailure")) && !detailTypeNames.some((t) => t.endsWith(".NamespaceNotFoundFailure"));
}

/** A payload with its bytes: the shape of temporal.api.common.v1.Payload in the SDK's protobufjs objects. */
interface BinaryPayload {
  metadata: Record<string, Uint8Array>;
  data: Uint8Array;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Same as the SDK's default payload converter: undefined → binary/null, anything else → json/plain. */
export function encodePayload(value: unknown): BinaryPayload {
  if (value === undefined) return { metadata: { encoding: encoder.encode("binary/null") }, data: new Uint8Array(0) };
  const json = JSON.stringify(value);
  if (json === undefined) throw new TemporalRequestError(`workflow argument is not JSON-serializable: ${typeof value}`);
  return { metadata: { encoding: encoder.encode("json/plain") }, data: encoder.encode(json) };
}

/**
 * Decodes a payload in either shape (HTTP JSON with base64 strings, or SDK objects with Uint8Arrays).
 * json/plain and json/protobuf → parsed JSON, binary/null → null, binary/plain → Uint8Array, anything else
 * (encrypted, custom codecs) → undefined.
 */
function decodePayload(payload: unknown): unknown {
  const record = asRecord(payload);
  const metadata = asRecord(record.metadata);
  const encoding = decoder.decode(toBytes(metadata.encoding));
  const data = toBytes(record.data);
  switch (encoding) {
    case "json/plain":
    case "json/protobuf":
      try {
        return JSON.parse(decoder.decode(data));
      } catch {
        return undefined;
      }
    case "binary/null":
      return null;
    case "binary/plain":
      return data;
    default:
      return undefined;
  }
}

/** Temporal's WorkflowExecutionStatus (enum name from JSON or number from protobuf) → ours. */
export function mapRunStatus(status: string | number | null | undefined): TemporalRunStatus {
  const name = typeof status === "number" ? STATUS_BY_NUMBER[status] : typeof status === "string" ? status.replace(/^WORKFLOW_EXECUTION_STATUS_/, "") : undefined;
  switch (name) {
    case "COMPLETED": return "completed";
    case "FAILED": return "failed";
    case "CANCELED": return "cancelled";
    case "TERMINATED": return "terminated";
    case "TIMED_OUT": return "timed_out";
    case "CONTINUED_AS_NEW": return "continued_as_new";
    default: return "running"; // RUNNING, PAUSED (still open), UNSPECIFIED
  }
}

const STATUS_BY_NUMBER: Record<number, string> = {
  1: "RUNNING",
  2: "COMPLETED",
  3: "FAILED",
  4: "CANCELED",
  5: "TERMINATED",
  6: "CONTINUED_AS_NEW",
  7: "TIMED_OUT",
  8: "PAUSED",
};

/** Closed statuses whose close event carries a result or a message worth fetching. */
export function needsCloseEvent(status: TemporalRunStatus): boolean {
  return status === "completed" || status === "failed" || status === "terminated" || status === "timed_out";
}

/** Result / failure message from a workflow's close event (HTTP JSON or SDK protobuf object, same field names). */
export function closeEventDetails(event: Record<string, unknown>): Pick<WorkflowDescription, "result" | "failureMessage"> {
  const completed = asRecordOrNull(event.workflowExecutionCompletedEventAttributes);
  if (completed) {
    const payloads = asArray(asRecord(completed.result).payloads);
    return { result: payloads.length > 0 ? decodePayload(payloads[0]) : null };
  }
  const failed = asRecordOrNull(event.workflowExecutionFailedEventAttributes);
  if (failed) return { failureMessage: failureMessageOf(failed.failure) ?? "workflow failed" };
  const terminated = asRecordOrNull(event.workflowExecutionTerminatedEventAttributes);
  if (terminated) {
    const reason = typeof terminated.reason === "string" && terminated.reason ? terminated.reason : undefined;
    return reason ? { failureMessage: reason } : {};
  }
  if (asRecordOrNull(event.workflowExecutionTimedOutEventAttributes)) return { failureMessage: "workflow execution timed out" };
  return {};
}

/** temporal.api.failure.v1.Failure → "message: cause message: ..." (encoded attributes decoded when json/plain). */
function failureMessageOf(failure: unknown): string | undefined {
  const parts: string[] = [];
  let current = asRecordOrNull(failure);
  for (let depth = 0; current && depth < 5; depth++) {
    let message = typeof current.message === "string" ? current.message : "";
    const encoded = asRecordOrNull(current.encodedAttributes);
    if (encoded) {
      const attrs = asRecordOrNull(decodePayload(encoded));
      if (attrs && typeof attrs.message === "string") message = attrs.message;
    }
    if (message && !parts.includes(message)) parts.push(message);
    current = asRecordOrNull(current.cause);
  }
  return parts.length > 0 ? parts.join(": ") : undefined;
}

/** google.protobuf.Timestamp as RFC 3339 (JSON) or { seconds: Long|number, nanos } (protobufjs) → Date. */
export function toDate(value: unknown): Date | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") {
    const date = new Date(value);
    return Number.isNaN(date.getTime()) || date.getTime() <= 0 ? null : date;
  }
  if (value instanceof Date) return value;
  const record = asRecord(value);
  const seconds = longToNumber(record.seconds);
  const nanos = typeof record.nanos === "number" ? record.nanos : 0;
  if (seconds === undefined || (seconds === 0 && nanos === 0)) return null;
  return new Date(seconds * 1000 + Math.floor(nanos / 1e6));
}

function longToNumber(value: unknown): number | undefined {
  if (typeof value === "number") return value;
  if (typeof value === "string") return Number(value);
  if (typeof value === "bigint") return Number(value);
  if (value && typeof value === "object" && typeof (value as { toNumber?: unknown }).toNumber === "function") {
    return (value as { toNumber(): number }).toNumber();
  }
  return undefined;
}

/** Bytes from a base64 string (HTTP JSON) or a Uint8Array (SDK). */
function toBytes(value: unknown): Uint8Array {
  if (value instanceof Uint8Array) return value;
  if (typeof value === "string") return base64ToBytes(value);
  return new Uint8Array(0);
}

function base64ToBytes(b64: string): Uint8Array {
  const binary = atob(b64.replace(/-/g, "+").replace(/_/g, "/"));
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}

/** A payload in the HTTP API's protobuf-JSON form (bytes as base64). */
export function toWirePayload(payload: BinaryPayload): { metadata: Record<string, string>; data: string } {
  const metadata: Record<string, string> = {};
  for (const [key, value] of Object.entries(payload.metadata)) metadata[key] = bytesToBase64(value);
  return { metadata, data: bytesToBase64(payload.data) };
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function asRecordOrNull(value: unknown): Record<string, unknown> | null {
  return isRecord(value) ? value : null;
}

export function asRecord(value: unknown): Record<string, unknown> {
  return isRecord(value) ? value : {};
}

export function asArray(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

export function stringOr(value: unknown, fallback: string): string {
  return typeof value === "string" && value ? value : fallback;
}

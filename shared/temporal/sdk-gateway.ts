/**
 * TemporalGateway over gRPC with @temporalio/client (Node only: workers, a Node deployment of the sweeper,
 * Temporal Cloud with mTLS or API keys).
 *
 * It talks to the raw WorkflowService (the same RPCs the HTTP gateway reaches through the HTTP API) rather than
 * `client.workflow.start()`, because only the raw response says whether the start created a run (`started`) and
 * only the raw error carries the existing run id; the payload, status and failure decoding (./codec.ts) is shared
 * with ./http-gateway.ts so both gateways answer identically.
 */
import { Connection, defaultGrpcRetryOptions, isGrpcServiceError, makeGrpcRetryInterceptor, type TLSConfig } from "@temporalio/client";
import {
  TemporalRequestError,
  TemporalUnavailableError,
  type StartedWorkflow,
  type StartWorkflowRequest,
  type TemporalGateway,
  type WorkflowDescription,
} from "./gateway.ts";
import {
  assertAddressableWorkflowId,
  closeEventDetails,
  encodePayload,
  grpcCodeName,
  httpStatusFromGrpcCode,
  isTransient,
  isWorkflowNotFoundDetail,
  mapRunStatus,
  needsCloseEvent,
  toDate,
} from "./codec.ts";

export interface SdkTemporalGatewayOptions {
  /** gRPC host:port, e.g. 127.0.0.1:7233 or <ns>.<account>.tmprl.cloud:7233. */
  address: string;
  namespace: string;
  /** TLS / mTLS; `true` for server-verified TLS with system roots. Defaults to TLS when apiKey is set. */
  tls?: TLSConfig | boolean;
  /** Temporal Cloud API key (sent as a bearer token). */
  apiKey?: string;
  /** Deadline for each call (retries of transient gRPC errors included). Default 10s. */
  timeoutMs?: number;
  /** Recorded by Temporal as the caller of start/cancel/terminate. */
  identity?: string;
  /**
   * Attempts per call for transient gRPC errors (UNAVAILABLE, RESOURCE_EXHAUSTED...), with short backoff, within
   * timeoutMs. Default 3: the caller retries later anyway, so a down server is reported in well under a second.
   */
  retryAttempts?: number;
}

const DEFAULT_TIMEOUT_MS = 10_000;

// temporal.api.enums.v1 values
const WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE = 3;
const WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING = 2;
const HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT = 2;
const TASK_QUEUE_KIND_NORMAL = 1;

const GRPC_NOT_FOUND = 5;
const GRPC_ALREADY_EXISTS = 6;

/**
 * The connection is lazy: creating the gateway never fails because Temporal is down; each call then fails with
 * TemporalUnavailableError until it is back (gRPC reconnects by itself).
 */
export async function createSdkTemporalGateway(options: SdkTemporalGatewayOptions): Promise<TemporalGateway> {
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const namespace = options.namespace;
  const identity = options.identity ?? "execution-tracker/sdk-gateway";
  const connection = Connection.lazy({
    address: options.address,
    tls: options.tls ?? (options.apiKey ? true : undefined),
    apiKey: options.apiKey,
    // Temporal Cloud routes API-key requests by this header.
    metadata: options.apiKey ? { "temporal-namespace": namespace } : undefined,
    connectTimeout: timeoutMs,
    interceptors: [makeGrpcRetryInterceptor(defaultGrpcRetryOptions({ maxAttempts: options.retryAttempts ?? 3 }))],
  });
  const service = connection.workflowService;

  async function call<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await connection.withDeadline(Date.now() + timeoutMs, fn);
    } catch (err) {
      throw new RpcError(what, err);
    }
  }

  async function describeRun(workflowId: string, runId: string | undefined): Promise<WorkflowDescription | null> {
    let response: Awaited<ReturnType<typeof service.describeWorkflowExecution>>;
    try {
      response = await call("DescribeWorkflowExecution", () =>
        service.describeWorkflowExecution({ namespace, execution: { workflowId, runId: runId ?? "" } }),
      );
    } catch (err) {
      if (err instanceof RpcError && err.isWorkflowNotFound()) return null;
      throw toPublicError(err);
    }
    const info = response.workflowExecutionInfo;
    const description: WorkflowDescription = {
      workflowId: info?.execution?.workflowId || workflowId,
      runId: info?.execution?.runId || runId || "",
      status: mapRunStatus(info?.status ?? undefined),
      startTime: toDate(info?.startTime),
      closeTime: toDate(info?.closeTime),
    };
    if (needsCloseEvent(description.status)) {
      let history: Awaited<ReturnType<typeof service.getWorkflowExecutionHistory>>;
      try {
        history = await call("GetWorkflowExecutionHistory", () =>
          service.getWorkflowExecutionHistory({
            namespace,
            execution: { workflowId, runId: description.runId },
            historyEventFilterType: HISTORY_EVENT_FILTER_TYPE_CLOSE_EVENT,
          }),
        );
      } catch (err) {
        if (err instanceof RpcError && err.isWorkflowNotFound()) return description;
        throw toPublicError(err);
      }
      const events = history.history?.events ?? [];
      const close = events[events.length - 1];
      if (close) Object.assign(description, closeEventDetails(close as unknown as Record<string, unknown>));
    }
    return description;
  }

  return {
    async start(req: StartWorkflowRequest): Promise<StartedWorkflow> {
      assertAddressableWorkflowId(req.workflowId);
      const payloads = req.args.map((arg) => encodePayload(arg));
      try {
        const response = await call("StartWorkflowExecution", () =>
          service.startWorkflowExecution({
            namespace,
            workflowId: req.workflowId,
            workflowType: { name: req.workflowType },
            taskQueue: { name: req.taskQueue, kind: TASK_QUEUE_KIND_NORMAL },
            input: { payloads },
            identity,
            // Fresh per call: a repeated request id would make Temporal answer started=true for the old run.
            requestId: crypto.randomUUID(),
            // Never a second run for one workflow id: join the open run, refuse after it closed.
            workflowIdReusePolicy: WORKFLOW_ID_REUSE_POLICY_REJECT_DUPLICATE,
            workflowIdConflictPolicy: WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING,
          }),
        );
        if (!response.runId) throw new TemporalUnavailableError("StartWorkflowExecution: response without runId");
        return { workflowId: req.workflowId, runId: response.runId, alreadyStarted: response.started !== true };
      } catch (err) {
        if (err instanceof RpcError && err.code === GRPC_ALREADY_EXISTS) {
          // The run with this id already closed and the reuse policy refused a new one: report that run.
          const runId = err.alreadyStartedRunId();
          if (runId) return { workflowId: req.workflowId, runId, alreadyStarted: true };
          const existing = await describeRun(req.workflowId, undefined);
          if (existing) return { workflowId: req.workflowId, runId: existing.runId, alreadyStarted: true };
        }
        throw toPublicError(err);
      }
    },

    describe(workflowId: string, runId?: string): Promise<WorkflowDescription | null> {
      try {
        assertAddressableWorkflowId(workflowId);
      } catch (err) {
        return Promise.reject(err);
      }
      return describeRun(workflowId, runId);
    },

    async cancel(workflowId: string, runId?: string, reason?: string): Promise<void> {
      assertAddressableWorkflowId(workflowId);
      try {
        await call("RequestCancelWorkflowExecution", () =>
          service.requestCancelWorkflowExecution({
            namespace,
            workflowExecution: { workflowId, runId: runId ?? "" },
            reason: reason ?? "",
            identity,
            requestId: crypto.randomUUID(),
          }),
        );
      } catch (err) {
        if (err instanceof RpcError && err.isWorkflowNotFound()) return;
        throw toPublicError(err);
      }
    },

    async terminate(workflowId: string, runId?: string, reason?: string): Promise<void> {
      assertAddressableWorkflowId(workflowId);
      try {
        await call("TerminateWorkflowExecution", () =>
          service.terminateWorkflowExecution({
            namespace,
            workflowExecution: { workflowId, runId: runId ?? "" },
            reason: reason ?? "",
            identity,
          }),
        );
      } catch (err) {
        if (err instanceof RpcError && err.isWorkflowNotFound()) return;
        throw toPublicError(err);
      }
    },

    async close(): Promise<void> {
      await connection.close();
    },
  };
}

/** A failed RPC, before it is turned into TemporalUnavailableError / TemporalRequestError. */
class RpcError extends Error {
  readonly code: number | undefined;
  private details: DecodedDetail[] | undefined;

  constructor(readonly rpc: string, readonly original: unknown) {
    super(original instanceof Error ? original.message : String(original), { cause: original });
    this.code = findGrpcCode(original);
  }

  /** google.rpc.Status details (type name + bytes) from the grpc-status-details-bin trailer. */
  decodedDetails(): DecodedDetail[] {
    if (this.details) return this.details;
    this.details = [];
    const grpcError = findGrpcError(this.original);
    const raw = grpcError?.metadata?.get("grpc-status-details-bin")?.[0];
    if (raw && typeof raw !== "string") {
      try {
        this.details = decodeStatusDetails(new Uint8Array(raw));
      } catch {
        // undecodable details: treat as none
      }
    }
    return this.details;
  }

  isWorkflowNotFound(): boolean {
    if (this.code !== GRPC_NOT_FOUND) return false;
    const types = this.decodedDetails().map((d) => d.typeName);
    if (types.length > 0) return isWorkflowNotFoundDetail(types);
    // No details to tell: only an unknown namespace is a real error.
    return !/namespace/i.test(this.message);
  }

  /** run_id (field 2) of a WorkflowExecutionAlreadyStartedFailure detail. */
  alreadyStartedRunId(): string | undefined {
    const detail = this.decodedDetails().find((d) => d.typeName.endsWith(".WorkflowExecutionAlreadyStartedFailure"));
    if (!detail) return undefined;
    const runId = readProtoFields(detail.value).get(2)?.[0];
    return runId instanceof Uint8Array ? new TextDecoder().decode(runId) || undefined : undefined;
  }
}

function toPublicError(err: unknown): Error {
  if (err instanceof TemporalUnavailableError || err instanceof TemporalRequestError) return err;
  if (!(err instanceof RpcError)) return new TemporalUnavailableError(`Temporal call failed: ${String(err)}`, { cause: err });
  const code = err.code;
  const grpcError = findGrpcError(err.original);
  const message = grpcError?.details || err.message;
  if (code === undefined) {
    // Not a gRPC status: connection setup failed (unreachable, TLS handshake, deadline before connecting...).
    return new TemporalUnavailableError(`Temporal ${err.rpc} failed: ${message}`, { cause: err.original });
  }
  const status = httpStatusFromGrpcCode(code);
  const text = `Temporal ${err.rpc}: ${status} ${grpcCodeName(code)}: ${message}`;
  return isTransient(status, code)
    ? new TemporalUnavailableError(text, { cause: err.original })
    : new TemporalRequestError(text, status, { cause: err.original });
}

interface GrpcErrorLike {
  code: number;
  details?: string;
  metadata?: { get(key: string): Array<string | Uint8Array> };
}

/** The gRPC ServiceError itself or the first one in its cause chain (the SDK sometimes wraps them). */
function findGrpcError(err: unknown): GrpcErrorLike | undefined {
  for (let current = err, depth = 0; current && depth < 5; depth++) {
    if (isGrpcServiceError(current)) return current as unknown as GrpcErrorLike;
    current = current instanceof Error ? current.cause : undefined;
  }
  return undefined;
}

function findGrpcCode(err: unknown): number | undefined {
  const grpcError = findGrpcError(err);
  return typeof grpcError?.code === "number" ? grpcError.code : undefined;
}

// --- just enough protobuf wire decoding for google.rpc.Status { int32 code = 1; string message = 2; repeated Any details = 3; }

interface DecodedDetail {
  typeName: string;
  value: Uint8Array;
}

function decodeStatusDetails(bytes: Uint8Array): DecodedDetail[] {
  const decoder = new TextDecoder();
  const details: DecodedDetail[] = [];
  for (const any of readProtoFields(bytes).get(3) ?? []) {
    if (!(any instanceof Uint8Array)) continue;
    const fields = readProtoFields(any);
    const typeUrl = fields.get(1)?.[0];
    const value = fields.get(2)?.[0];
    details.push({
      typeName: typeUrl instanceof Uint8Array ? decoder.decode(typeUrl).replace(/^.*\//, "") : "",
      value: value instanceof Uint8Array ? value : new Uint8Array(0),
    });
  }
  return details;
}

/** Field number → values (varints as numbers, length-delimited fields as bytes; fixed32/64 skipped). */
function readProtoFields(bytes: Uint8Array): Map<number, Array<number | Uint8Array>> {
  const fields = new Map<number, Array<number | Uint8Array>>();
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= bytes.length) throw new Error("truncated varint");
      const byte = bytes[pos++]!;
      result += (byte & 0x7f) * 2 ** shift;
      if ((byte & 0x80) === 0) return result;
      shift += 7;
      if (shift > 63) throw new Error("varint too long");
    }
  };
  while (pos < bytes.length) {
    const key = varint();
    const field = Math.floor(key / 8);
    const wireType = key % 8;
    let value: number | Uint8Array | undefined;
    if (wireType === 0) value = varint();
    else if (wireType === 2) {
      const length = varint();
      if (pos + length > bytes.length) throw new Error("truncated field");
      value = bytes.subarray(pos, pos + length);
      pos += length;
    } else if (wireType === 1) pos += 8;
    else if (wireType === 5) pos += 4;
    else throw new Error(`unsupported wire type ${wireType}`);
    if (value !== undefined) {
      const list = fields.get(field) ?? [];
      list.push(value);
      fields.set(field, list);
    }
  }
  return fields;
}

/**
 * execution-tracker's execution module: everything a server-side TypeScript caller, an edge
 * function or a test needs. Runs unchanged on Deno (Supabase Edge Runtime) and Node.
 * The Node-only SDK gateway is not exported here: import `./temporal/sdk-gateway.ts`.
 */
export * from "./types.ts";
export * from "./errors.ts";
export * from "./status.ts";
export * from "./schemas.ts";
export { type Config, ConfigError, loadConfig, type EnvSource } from "./config.ts";
export { createDatabase, type Sql, withCaller } from "./db.ts";
export { createCallerVerifier, serviceCaller, type VerifyCaller } from "./identity.ts";
export { createExecutionService, type ExecutionService, type ExecutionServiceDeps } from "./service.ts";
export { createWorkflowService, type WorkflowService, type WorkflowServiceDeps } from "./workflows.ts";
export { dispatchExecution } from "./dispatch.ts";
export { retryExecution, type RetryExecutionOptions, type RetryExecutionResult } from "./retry.ts";
export { claimStopsOfTransaction, processStopFor, processStopRequests, type StopReport } from "./stops.ts";
export { type PhaseReport, sweep, type SweeperDeps, type SweepOptions, type SweepReport } from "./sweeper.ts";
export { handleExecutionWebhook } from "./webhook.ts";
export * from "./temporal/gateway.ts";
export { createHttpTemporalGateway } from "./temporal/http-gateway.ts";
export { createRuntime, type Runtime, runtimeFromEnv } from "./http/runtime.ts";
export { createFunctionApp } from "./http/app.ts";

/**
 * A real Temporal worker for tests (Node only): runs the workflows of ./workflows.ts on one task queue.
 *
 * `stop()` shuts the worker down gracefully. Workflows still running at that point stay open in Temporal
 * (nothing completes them), so stopping a worker mid-run is how tests simulate "the worker died"; a worker
 * started later on the same task queue picks them up again.
 */
import { fileURLToPath } from "node:url";
import {
  bundleWorkflowCode,
  DefaultLogger,
  NativeConnection,
  Runtime,
  Worker,
  type WorkflowBundleWithSourceMap,
} from "@temporalio/worker";

export interface TestWorkerOptions {
  /** gRPC host:port of the Temporal frontend. */
  address: string;
  namespace: string;
  taskQueue: string;
  identity?: string;
}

export interface TestWorker {
  readonly taskQueue: string;
  /** Graceful shutdown; resolves once the worker has stopped polling and its connection is closed. Idempotent. */
  stop(): Promise<void>;
}

export const WORKFLOWS_PATH = fileURLToPath(new URL("./workflows.ts", import.meta.url));

let bundlePromise: Promise<WorkflowBundleWithSourceMap> | undefined;

/** Bundles ./workflows.ts once per process (webpack takes a few seconds) and shares it between workers. */
function workflowBundle(): Promise<WorkflowBundleWithSourceMap> {
  bundlePromise ??= bundleWorkflowCode({
    workflowsPath: WORKFLOWS_PATH,
    logger: new DefaultLogger("WARN"),
  }).catch((err: unknown) => {
    bundlePromise = undefined;
    throw err;
  });
  return bundlePromise;
}

let runtimeInstalled = false;

/** Quieter SDK logging and no process signal handlers (the test runner owns those). Only once per process. */
function installRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  try {
    Runtime.install({
      // ERROR by default: the expected failures of failsWorkflow, and tasks of runs terminated mid-task, log at WARN.
      logger: new DefaultLogger((process.env.TEMPORAL_WORKER_LOG_LEVEL as "ERROR" | undefined) ?? "ERROR"),
      shutdownSignals: [],
      telemetryOptions: { logging: { filter: { core: "ERROR", other: "ERROR" } } },
    });
  } catch {
    // Someone else installed a runtime in this process first: use theirs.
  }
}

export async function startTestWorker(options: TestWorkerOptions): Promise<TestWorker> {
  installRuntime();
  const bundle = await workflowBundle();
  const connection = await NativeConnection.connect({ address: options.address });
  let worker: Worker;
  try {
    worker = await Worker.create({
      connection,
      namespace: options.namespace,
      taskQueue: options.taskQueue,
      identity: options.identity ?? `test-worker@${options.taskQueue}`,
      workflowBundle: bundle,
      // After a worker "dies", a new worker gets the sticky tasks of the old one after this long.
      stickyQueueScheduleToStartTimeout: "1s",
      shutdownGraceTime: "1s",
    });
  } catch (err) {
    await connection.close().catch(() => undefined);
    throw err;
  }

  const running = worker.run();
  // Keep a failure of run() from becoming an unhandled rejection before stop() looks at it.
  running.catch(() => undefined);

  let stopping: Promise<void> | undefined;
  return {
    taskQueue: options.taskQueue,
    stop() {
      stopping ??= (async () => {
        const state = worker.getState();
        if (state === "RUNNING" || state === "INITIALIZED") worker.shutdown();
        try {
          await running;
        } finally {
          await connection.close().catch(() => undefined);
        }
      })();
      return stopping;
    },
  };
}

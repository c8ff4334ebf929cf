// A Temporal worker in a process of its own, for the fault tier (tests/faults/support.ts
// startWorkerProcess): the workflows of tests/support/workflows.ts on one task queue, until it is killed.
import { DefaultLogger, NativeConnection, Runtime, Worker } from "@temporalio/worker";

const address = process.env.FAULT_WORKER_ADDRESS;
const namespace = process.env.FAULT_WORKER_NAMESPACE ?? "default";
const taskQueue = process.env.FAULT_WORKER_TASK_QUEUE;
Runtime.install({ logger: new DefaultLogger("ERROR"), telemetryOptions: { logging: { filter: { core: "ERROR", other: "ERROR" } } } });
const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  namespace,
  taskQueue,
  workflowsPath: process.env.FAULT_WORKER_WORKFLOWS,
  stickyQueueScheduleToStartTimeout: "1s",
  shutdownGraceTime: "1s",
});
console.log(`fault worker: polling ${taskQueue} on ${address}`);
await worker.run();

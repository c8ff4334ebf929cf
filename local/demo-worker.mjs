#!/usr/bin/env node
// A Temporal worker for the local demo: runs demoWorkflow on the task queue of the seeded
// demo-dispatched workflow. Usage: TEMPORAL_ADDRESS=127.0.0.1:7233 npm run demo-worker
import { fileURLToPath } from "node:url";
import { NativeConnection, Worker } from "@temporalio/worker";

const address = process.env.TEMPORAL_ADDRESS ?? "127.0.0.1:7233";
const namespace = process.env.TEMPORAL_NAMESPACE ?? "default";
const taskQueue = process.env.TASK_QUEUE ?? "execution-tracker-demo";

const connection = await NativeConnection.connect({ address });
const worker = await Worker.create({
  connection,
  namespace,
  taskQueue,
  workflowsPath: fileURLToPath(new URL("./demo-workflows.mjs", import.meta.url)),
});
console.log(`demo worker: polling ${taskQueue} on ${address} (namespace ${namespace}); Ctrl+C stops it`);
await worker.run();
await connection.close();

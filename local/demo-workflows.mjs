// Workflows of the local demo (npm run demo-worker). Runs in Temporal's workflow sandbox.
import { sleep } from "@temporalio/workflow";

/**
 * The demo-dispatched workflow: greets after `ms` milliseconds (default 500). With
 * `{"hang": true}` it never finishes, to show the timeout sweeper ending it as timed_out.
 */
export async function demoWorkflow(input) {
  if (input?.hang) {
    await sleep("365 days");
  }
  await sleep(typeof input?.ms === "number" ? input.ms : 500);
  return { greeting: `hello ${input?.name ?? "world"}`, at: new Date().toISOString() };
}

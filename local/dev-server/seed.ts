/**
 * The demo data `npm start` seeds (SEED_DEMO, default true): a user who owns two workflows,
 * one the tracker only records (the printed curl example reports its runs) and one it starts
 * in Temporal (`npm run demo-worker` executes it). Idempotent.
 */
import type { Sql } from "../../shared/db.ts";

/** The demo user and workflows, used by the printed curl example and the README. */
export const DEMO_USER_ID = "11111111-1111-4111-8111-111111111111";
export const DEMO_USER_EMAIL = "demo@local.test";
export const DEMO_WORKFLOW_ID = "22222222-2222-4222-8222-222222222222";
/** A demo workflow the tracker dispatches to Temporal (type demoWorkflow on DEMO_TASK_QUEUE). */
export const DEMO_DISPATCHED_WORKFLOW_ID = "33333333-3333-4333-8333-333333333333";
export const DEMO_WORKFLOW_TYPE = "demoWorkflow";
export const DEMO_TASK_QUEUE = "execution-tracker-demo";

export async function seedDemoData(sql: Sql): Promise<void> {
  await sql.begin(async (tx) => {
    await tx`insert into auth.users (id, email, role) values (${DEMO_USER_ID}, ${DEMO_USER_EMAIL}, 'authenticated')
             on conflict (id) do nothing`;
    await tx`insert into public.workflows (id, name, description, created_by)
             values (${DEMO_WORKFLOW_ID}, 'demo-workflow', 'Seeded by the local dev server (npm start)', ${DEMO_USER_ID})
             on conflict (id) do nothing`;
    // The tracker starts runs of this one in Temporal (npm run demo-worker executes them);
    // only a registered (type, queue) pair can be named.
    await tx`insert into public.temporal_workflow_types (workflow_type, task_queue, description)
             values (${DEMO_WORKFLOW_TYPE}, ${DEMO_TASK_QUEUE}, 'The demo worker (npm run demo-worker)')
             on conflict do nothing`;
    await tx`insert into public.workflows (id, name, description, created_by, temporal_workflow_type, task_queue)
             values (${DEMO_DISPATCHED_WORKFLOW_ID}, 'demo-dispatched', 'Started in Temporal by the tracker; run npm run demo-worker',
                     ${DEMO_USER_ID}, ${DEMO_WORKFLOW_TYPE}, ${DEMO_TASK_QUEUE})
             on conflict (id) do nothing`;
  });
}

-- The repository's UPDATE (shared/repository.ts updateExecution by temporalWorkflowId: one
-- statement, returning the row), completing the runs create.sql recorded with the same :tag,
-- in the same order per client, with durations spread over the histogram.
-- The to_char format spells its colons chr(58): pgbench would read them as variables.
\set n :n + 1
\set d random(200, 20199)
with e as (
  update public.workflow_executions set
    status = coalesce('completed'::text::public.execution_status, status),
    output = case when true then '{"ok": true, "items": 3}'::jsonb else output end,
    error_message = case when false then null::text else error_message end,
    duration_ms = coalesce(:d::bigint, duration_ms),
    activities_executed = coalesce(null::integer, activities_executed),
    temporal_run_id = coalesce(null::text, temporal_run_id)
  where temporal_workflow_id = 'pgb-' || :tag || '-' || :client_id || '-' || :n
  returning *
)
select e.id, e.workflow_id, e.created_by, e.temporal_workflow_id, e.temporal_run_id, e.status,
       e.started_at, e.completed_at, e.duration_ms, e.timeout_at, e.input, e.output,
       e.error_message, e.activities_executed, e.created_at, e.updated_at,
       (select w.name from public.workflows w where w.id = e.workflow_id) as workflow_name,
       to_char(e.started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24' || chr(58) || 'MI' || chr(58) || 'SS.US"Z"') as position_started_at
  from e;

-- The write-cost split (bench/scenarios/write-cost.ts): the statement of create.sql, into the
-- table {{table}} (ours, or a plain copy of its shape and indexes), for workflow {{workflow}} of
-- {{owner}}, or (spread) client c's user c + 1 over their ten workflows. The scenario fills the
-- placeholders and writes the script to a temp dir. Colons in to_char are chr(58): pgbench would
-- read them as variables.
\set n :n + 1
\set k random(1, 10)
with e as (
  insert into {{table}}
    (workflow_id, created_by, temporal_workflow_id, temporal_run_id, status, input, timeout_at)
  values ({{workflow}}, {{owner}},
          'pgb-' || :tag || '-' || :client_id || '-' || :n, null::text, 'running'::text::public.execution_status,
          '{"orderId": 1, "priority": 1, "region": "eu"}'::jsonb, now() + make_interval(secs => 3600::double precision))
  on conflict do nothing
  returning *
)
select e.id, e.workflow_id, e.created_by, e.temporal_workflow_id, e.temporal_run_id, e.status,
       e.started_at, e.completed_at, e.duration_ms, e.timeout_at, e.input, e.output,
       e.error_message, e.activities_executed, e.created_at, e.updated_at,
       (select w.name from public.workflows w where w.id = e.workflow_id) as workflow_name,
       to_char(e.started_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24' || chr(58) || 'MI' || chr(58) || 'SS.US"Z"') as position_started_at
  from e;

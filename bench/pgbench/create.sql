-- The repository's INSERT (shared/repository/executions.ts insertExecution: one statement, returning the
-- row with its workflow's name), run as the superuser without HTTP, JWT, transaction settings
-- or RLS. Client c records runs of seeded user c + 1 (deterministic ids, bench/lib/seed.ts),
-- spread over that user's ten workflows; :n counts per client, :tag names the run.
-- The to_char format spells its colons chr(58): pgbench would read them as variables.
\set n :n + 1
\set k random(1, 10)
with e as (
  insert into public.workflow_executions
    (workflow_id, created_by, temporal_workflow_id, temporal_run_id, status, input, timeout_at)
  values (md5('bench-wf-' || ((:k - 1) * 1000 + :client_id + 1))::uuid, coalesce(md5('bench-user-' || (:client_id + 1))::uuid, auth.uid()),
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

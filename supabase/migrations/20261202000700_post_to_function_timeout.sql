-- =====================================================================================
-- One way to call a function from the database: private.post_to_function gains the time
-- pg_net waits for the answer (default 10 s, what every webhook gets). The timeout sweeper's
-- and the alerts deliverer's pg_cron calls wait 60 s (each run lasts up to its time budget,
-- 25 s / 50 s, and a shorter wait would record a timeout every minute); until now each
-- repeated post_to_function's body only to pass that number.
-- =====================================================================================

-- Dropped, not overloaded: a two-argument call would be ambiguous between the two.
drop function private.post_to_function(text, jsonb);

create function private.post_to_function(function_name text, payload jsonb, timeout_milliseconds integer default 10000)
returns void
language plpgsql
security definer
set search_path = ''
as $$
declare
  base_url text := private.vault_secret('execution_tracker_functions_url');
  secret text := private.vault_secret('execution_tracker_webhook_secret');
begin
  if base_url is null or secret is null
     or to_regprocedure('net.http_post(text, jsonb, jsonb, jsonb, integer)') is null then
    return;
  end if;
  perform net.http_post(
    url := rtrim(base_url, '/') || '/' || function_name,
    body := payload,
    params := '{}'::jsonb,
    headers := jsonb_build_object('Content-Type', 'application/json', 'x-webhook-secret', secret),
    timeout_milliseconds := post_to_function.timeout_milliseconds
  );
end
$$;

revoke all on function private.post_to_function(text, jsonb, integer) from public, anon, authenticated;

create or replace function private.invoke_timeout_sweeper() returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.post_to_function('timeout-sweeper', '{}'::jsonb, 60000);
end
$$;

create or replace function private.invoke_alerts_deliverer() returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.post_to_function('alerts-deliver', '{}'::jsonb, 60000);
end
$$;

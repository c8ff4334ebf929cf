-- =====================================================================================
-- Schedule: the timeout sweeper runs every minute with pg_cron + pg_net, calling the
-- `timeout-sweeper` function with the URL and secret from Vault (see the previous
-- migration). Where pg_cron is not loaded (plain PostgreSQL, the embedded dev database) this
-- migration schedules nothing; the local dev server runs the sweeper on an interval instead.
-- =====================================================================================

create or replace function private.invoke_timeout_sweeper() returns void
language plpgsql
security definer
set search_path = ''
as $$
begin
  perform private.post_to_function('timeout-sweeper', '{}'::jsonb);
end
$$;

do $$
begin
  if not exists (select from pg_available_extensions where name = 'pg_cron') then
    raise notice 'pg_cron is not installed: the timeout sweeper is not scheduled in this database';
    return;
  end if;
  begin
    create extension if not exists pg_cron;
  exception when others then
    -- Installed but not in shared_preload_libraries: it cannot run here.
    raise notice 'pg_cron cannot be loaded (%): the timeout sweeper is not scheduled', sqlerrm;
    return;
  end;
  -- cron.schedule with a job name replaces an existing job of that name.
  perform cron.schedule('execution-tracker-timeout-sweeper', '* * * * *', 'select private.invoke_timeout_sweeper()');
end
$$;

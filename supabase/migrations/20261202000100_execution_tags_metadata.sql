-- =====================================================================================
-- Tags, metadata and retryOf on executions (issue 11; contract: docs/architecture.md §5.1).
--
-- 1. Columns. `tags text[]` (a set: at most 10 distinct tags, each 1-64 characters of
--    [A-Za-z0-9_.:/-], stored sorted (byte order) without duplicates), `metadata jsonb` (a
--    flat object: at most 16 keys of [A-Za-z0-9_-]{1,64}, each value a string of at most 256
--    characters, a number or a boolean; at most 4096 bytes as PostgreSQL's text of it),
--    `retry_of uuid` (the execution this one retries: set at insert only, an execution of the
--    same owner; `on delete set null`). The limits are two named CHECKs
--    (workflow_executions_tags_valid, workflow_executions_metadata_valid: 23514, mapped to
--    400 naming the field by shared/database-errors.ts); the HTTP edge checks the same first.
-- 2. retry_of is immutable (ET002, column retry_of, as the other identity columns), except
--    for the foreign key's own `set null` when the original is deleted, which the lifecycle
--    lets through even on a terminal row (else deleting or pruning an original whose retry
--    has ended would fail with ET003). A retry_of naming another owner's execution, or none:
--    23503 (workflow_executions_retry_of_same_owner), so a link never crosses tenants.
-- 3. Side tables for fast filtered keyset pages: public.execution_tags (one row per tag) and
--    public.execution_metadata_entries (one row per key, its value as `metadata->>key`),
--    each with the row's owner and started_at, indexed (owner, tag | key+value, started_at
--    desc, id desc) and the same without the owner (the service role's). Maintained by
--    triggers whose WHEN clauses fire only for rows that have tags/metadata or change them,
--    so a write without them costs nothing extra. Read under RLS like the executions (the
--    owner reads their own; the service role bypasses RLS); written only by the triggers.
-- 4. Column grants: authenticated may insert tags, metadata, retry_of and update tags and
--    metadata (the lifecycle decides: ET003 on a terminal row); UPDATE of retry_of is granted
--    only so that a change attempt gets ET002 naming it rather than a bare 42501.
-- =====================================================================================

-- -------------------------------------------------------------------------------------
-- 1. The limits, as functions the CHECKs (and anyone) can call
-- -------------------------------------------------------------------------------------
create or replace function public.execution_tags_are_valid(tags text[]) returns boolean
language sql immutable parallel safe
set search_path = ''
as $$
  select tags is not null and (
    cardinality(tags) = 0 or (
      array_ndims(tags) = 1 and array_lower(tags, 1) = 1 and cardinality(tags) <= 10
      and not exists (
        select 1 from unnest(tags) with ordinality as t(tag, i)
         where t.tag is null
            or t.tag !~ '^[A-Za-z0-9_.:/-]{1,64}$'
            or (t.i > 1 and tags[t.i - 1] collate "C" >= t.tag collate "C")) -- sorted, no duplicates
    ))
$$;

create or replace function public.execution_metadata_is_valid(metadata jsonb) returns boolean
language sql immutable parallel safe
set search_path = ''
as $$
  select metadata is not null and jsonb_typeof(metadata) = 'object' and (
    metadata = '{}'::jsonb or (
      octet_length(metadata::text) <= 4096
      and (select count(*) from jsonb_object_keys(metadata)) <= 16
      and not exists (
        select 1 from jsonb_each(metadata) as m(key, value)
         where m.key !~ '^[A-Za-z0-9_-]{1,64}$'
            or jsonb_typeof(m.value) not in ('string', 'number', 'boolean')
            or (jsonb_typeof(m.value) = 'string' and char_length(m.value #>> '{}') > 256))
    ))
$$;

revoke all on function public.execution_tags_are_valid(text[]), public.execution_metadata_is_valid(jsonb) from public, anon;
grant execute on function public.execution_tags_are_valid(text[]), public.execution_metadata_is_valid(jsonb)
  to authenticated, service_role;

-- -------------------------------------------------------------------------------------
-- 2. Columns (constant defaults: no table rewrite)
-- -------------------------------------------------------------------------------------
alter table public.workflow_executions
  add column tags text[] not null default '{}'
    constraint workflow_executions_tags_valid check (public.execution_tags_are_valid(tags)),
  add column metadata jsonb not null default '{}'::jsonb
    constraint workflow_executions_metadata_valid check (public.execution_metadata_is_valid(metadata)),
  add column retry_of uuid
    constraint workflow_executions_retry_of_fkey references public.workflow_executions (id) on delete set null;

comment on column public.workflow_executions.tags is
  'A set of at most 10 tags ([A-Za-z0-9_.:/-]{1,64}), sorted, no duplicates; changeable while live. Mirrored in public.execution_tags.';
comment on column public.workflow_executions.metadata is
  'A flat object: at most 16 keys ([A-Za-z0-9_-]{1,64}) of strings (<= 256 characters), numbers or booleans; <= 4096 bytes. Mirrored in public.execution_metadata_entries.';
comment on column public.workflow_executions.retry_of is
  'The execution of the same owner this one retries (set at insert only; null once the original is deleted).';

-- The retries of an execution (GET /executions-list?retryOf=) and the foreign key's set null
-- on delete: only the rows that are retries are in it.
create index idx_workflow_executions_retry_of
  on public.workflow_executions (retry_of, started_at desc, id desc) where retry_of is not null;

-- -------------------------------------------------------------------------------------
-- 3. retry_of: same owner at insert, immutable afterwards
-- -------------------------------------------------------------------------------------
create or replace function private.check_execution_retry_of_owner() returns trigger
language plpgsql
security definer -- sees the original whoever inserts; compares owners itself
set search_path = ''
as $$
begin
  if not exists (select 1 from public.workflow_executions o where o.id = new.retry_of and o.created_by = new.created_by) then
    raise exception 'retry_of must name an execution of the same owner'
      using errcode = '23503', constraint = 'workflow_executions_retry_of_same_owner', column = 'retry_of',
            table = tg_table_name, schema = tg_table_schema;
  end if;
  return new;
end
$$;

create trigger execution_retry_of_same_owner
  before insert on public.workflow_executions
  for each row when (new.retry_of is not null)
  execute function private.check_execution_retry_of_owner();

-- The lifecycle of 20261201000200, with retry_of among the columns fixed at insert and the
-- foreign key's set null let through (the only lines that changed are marked "retry_of").
create or replace function private.enforce_execution_lifecycle() returns trigger
language plpgsql
set search_path = ''
as $$
declare
  col text;
begin
  if tg_op = 'UPDATE' then
    -- retry_of: the foreign key's `on delete set null` (an update issued by the referential
    -- action, nested in its trigger, once the original is gone) is the one change allowed,
    -- on any row, and nothing else changes with it.
    if old.retry_of is not null and new.retry_of is null and pg_trigger_depth() > 1
       and not exists (select 1 from public.workflow_executions o where o.id = old.retry_of) then
      return new;
    end if;

    -- Columns fixed at insert (running_at is the database's: see below).
    col := case
      when new.id is distinct from old.id then 'id'
      when new.workflow_id is distinct from old.workflow_id then 'workflow_id'
      when new.created_by is distinct from old.created_by then 'created_by'
      when new.started_at is distinct from old.started_at then 'started_at'
      when new.created_at is distinct from old.created_at then 'created_at'
      when new.running_at is distinct from old.running_at then 'running_at'
      when new.retry_of is distinct from old.retry_of then 'retry_of' -- retry_of
      when old.temporal_workflow_id is not null and new.temporal_workflow_id is distinct from old.temporal_workflow_id
        then 'temporal_workflow_id'
    end;
    if col is not null then
      raise exception '% of an execution cannot change', col
        using errcode = 'ET002', column = col, table = tg_table_name, schema = tg_table_schema;
    end if;

    if public.execution_status_is_terminal(old.status) then
      -- A terminal row is final: repeating it unchanged is allowed (idempotent reports),
      -- changing anything is not.
      new.updated_at := old.updated_at;
      if new is distinct from old then
        select n.key into col
          from jsonb_each(to_jsonb(new)) n join jsonb_each(to_jsonb(old)) o using (key)
         where n.value is distinct from o.value
         order by n.key <> 'status', n.key
         limit 1;
        raise exception 'execution % is % and can no longer change', old.id, old.status
          using errcode = 'ET003', column = coalesce(col, 'status'), table = tg_table_name, schema = tg_table_schema;
      end if;
      return new;
    end if;

    if new.status <> old.status and not public.execution_transition_allowed(old.status, new.status) then
      raise exception 'execution % cannot go from % to %', old.id, old.status, new.status
        using errcode = 'ET001', column = 'status', table = tg_table_name, schema = tg_table_schema;
    end if;

    -- The run's clock starts when it starts running, not while it waits for Temporal.
    if old.status = 'pending' and new.status = 'running' then
      new.running_at := now();
    end if;
    new.updated_at := now();
  else
    -- (An out-of-range started_at is left to its own CHECK, which names it.)
    new.running_at := case
      when new.status = 'pending' or not public.execution_timestamp_in_range(new.started_at) then null
      else new.started_at
    end;

    -- A pending row is one the tracker will start in Temporal: its workflow id is derived from
    -- the row's id, so every retry of the dispatch names the same Temporal workflow.
    if new.status = 'pending' and new.temporal_workflow_id is null then
      new.temporal_workflow_id := 'execution-' || new.id;
    end if;
  end if;

  if public.execution_status_is_live(new.status) then
    -- No end yet: a duration reported while the run goes on counts nowhere.
    new.completed_at := null;
    new.duration_ms := null;
  else
    -- Entering a terminal state (or being recorded in one) fixes the end time and duration.
    -- Times out of range get no duration here: their CHECK constraint rejects the row next,
    -- by name.
    new.completed_at := coalesce(new.completed_at, now());
    new.duration_ms := case
      when new.running_at is null then null -- never ran
      when not (public.execution_timestamp_in_range(new.running_at) and public.execution_timestamp_in_range(new.completed_at))
        then new.duration_ms
      else coalesce(
        new.duration_ms,
        greatest(0, round(extract(epoch from (new.completed_at - new.running_at)) * 1000))::bigint)
    end;
  end if;
  return new;
end
$$;

-- -------------------------------------------------------------------------------------
-- 4. Side tables
-- -------------------------------------------------------------------------------------
create table public.execution_tags (
  execution_id uuid not null,
  created_by uuid not null,
  tag text not null,
  started_at timestamptz not null,
  primary key (execution_id, tag)
);
create index idx_execution_tags_owner_keyset on public.execution_tags (created_by, tag, started_at desc, execution_id desc);
create index idx_execution_tags_keyset on public.execution_tags (tag, started_at desc, execution_id desc);

create table public.execution_metadata_entries (
  execution_id uuid not null,
  created_by uuid not null,
  key text not null,
  value text not null,
  started_at timestamptz not null,
  primary key (execution_id, key)
);
create index idx_execution_metadata_entries_owner_keyset
  on public.execution_metadata_entries (created_by, key, value, started_at desc, execution_id desc);
create index idx_execution_metadata_entries_keyset
  on public.execution_metadata_entries (key, value, started_at desc, execution_id desc);

comment on table public.execution_tags is
  'One row per tag of an execution (workflow_executions.tags), maintained by trigger: the index that serves tag=... keyset pages.';
comment on table public.execution_metadata_entries is
  'One row per metadata key of an execution (value = metadata->>key), maintained by trigger: the index that serves metadata.<key>=... keyset pages.';

alter table public.execution_tags enable row level security;
alter table public.execution_metadata_entries enable row level security;

create policy "Users can read the tags of their own executions"
  on public.execution_tags for select to authenticated
  using (created_by = (select auth.uid()));
create policy "Users can read the metadata entries of their own executions"
  on public.execution_metadata_entries for select to authenticated
  using (created_by = (select auth.uid()));

revoke all on public.execution_tags, public.execution_metadata_entries from public, anon, authenticated;
grant select on public.execution_tags, public.execution_metadata_entries to authenticated;
grant all on public.execution_tags, public.execution_metadata_entries to service_role;

-- -------------------------------------------------------------------------------------
-- 5. Maintenance: one function per side table, for insert, change and delete (the WHEN
--    clauses below keep rows without tags/metadata out of it entirely).
--    started_at, created_by and id are immutable, so a side row never needs more than this.
-- -------------------------------------------------------------------------------------
create or replace function private.sync_execution_tags() returns trigger
language plpgsql
security definer -- the side table is written by this trigger only
set search_path = ''
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then
    delete from public.execution_tags t
     where t.execution_id = old.id
       and (tg_op = 'DELETE' or t.tag <> all(new.tags));
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    insert into public.execution_tags (execution_id, created_by, tag, started_at)
    select new.id, new.created_by, t.tag, new.started_at from unnest(new.tags) as t(tag)
    on conflict (execution_id, tag) do nothing;
  end if;
  return null;
end
$$;

create or replace function private.sync_execution_metadata_entries() returns trigger
language plpgsql
security definer -- the side table is written by this trigger only
set search_path = ''
as $$
begin
  if tg_op in ('UPDATE', 'DELETE') then
    delete from public.execution_metadata_entries m where m.execution_id = old.id;
  end if;
  if tg_op in ('INSERT', 'UPDATE') then
    insert into public.execution_metadata_entries (execution_id, created_by, key, value, started_at)
    select new.id, new.created_by, m.key, m.value, new.started_at from jsonb_each_text(new.metadata) as m(key, value);
  end if;
  return null;
end
$$;

create trigger execution_tags_inserted
  after insert on public.workflow_executions
  for each row when (new.tags <> '{}')
  execute function private.sync_execution_tags();
create trigger execution_tags_changed
  after update of tags on public.workflow_executions
  for each row when (old.tags is distinct from new.tags)
  execute function private.sync_execution_tags();
create trigger execution_tags_deleted
  after delete on public.workflow_executions
  for each row when (old.tags <> '{}')
  execute function private.sync_execution_tags();

create trigger execution_metadata_inserted
  after insert on public.workflow_executions
  for each row when (new.metadata <> '{}'::jsonb)
  execute function private.sync_execution_metadata_entries();
create trigger execution_metadata_changed
  after update of metadata on public.workflow_executions
  for each row when (old.metadata is distinct from new.metadata)
  execute function private.sync_execution_metadata_entries();
create trigger execution_metadata_deleted
  after delete on public.workflow_executions
  for each row when (old.metadata <> '{}'::jsonb)
  execute function private.sync_execution_metadata_entries();

revoke all on function private.sync_execution_tags(), private.sync_execution_metadata_entries(),
  private.check_execution_retry_of_owner() from public, anon, authenticated;

-- -------------------------------------------------------------------------------------
-- 6. What users may write (in addition to 20261201000300's columns)
-- -------------------------------------------------------------------------------------
grant insert (tags, metadata, retry_of) on public.workflow_executions to authenticated;
grant update (tags, metadata, retry_of) on public.workflow_executions to authenticated;

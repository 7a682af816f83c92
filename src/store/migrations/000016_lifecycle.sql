-- cdrex store, version 16: data lifecycle — retention, erasure of a number, masking (issue #15).

-- Per-account retention. Migration 000015 (the admin API) adds the same column with the same
-- check; IF NOT EXISTS lets either land first. NULL follows CDREX_CDR_RETENTION_MONTHS.
alter table accounts add column if not exists retention_months integer
  constraint accounts_retention_months check (retention_months is null or retention_months >= 3);
-- Masking is display-only: the last mask_digits digits of callers' numbers print as X in the Kazoo
-- view (and DIDWW files when mask_exports). NULL or 0 turns it off.
alter table accounts add column if not exists mask_digits integer
  constraint accounts_mask_digits check (mask_digits is null or mask_digits between 0 and 10);
alter table accounts add column if not exists mask_exports boolean not null default false;

-- Dropping a month for the retention job and `cdrex cdrs purge`, which run as the worker: partition
-- DDL needs the owner. Bounded like cdrex_create_month_partition: never a month of the last three
-- (DIDWW's window) and never the DEFAULT partition (its name is not cdrs_YYYY_MM). A plain DETACH
-- (CONCURRENTLY is refused while a DEFAULT partition exists, and on Citus) takes ACCESS EXCLUSIVE
-- on cdrs, so it runs under a lock_timeout: ingestion waits at most that long, and the caller
-- retries on 55P03. Returns false when the month has no partition.
create function cdrex_drop_month_partition(month date) returns boolean
  language plpgsql security definer set search_path = public, pg_temp
  as $$
declare
  first_day date := date_trunc('month', month)::date;
  name text := format('cdrs_%s', to_char(first_day, 'YYYY_MM'));
begin
  if first_day >= (date_trunc('month', now()) - interval '3 months')::date then
    raise exception 'month % is inside the three months cdrex always keeps', to_char(first_day, 'YYYY-MM')
      using errcode = '22023';
  end if;
  if not exists (select 1 from pg_inherits i join pg_class c on c.oid = i.inhrelid
                  where i.inhparent = 'cdrs'::regclass and c.relname = name) then
    return false;
  end if;
  -- The caller's SET LOCAL wins; without one, never wait unbounded behind readers.
  if current_setting('lock_timeout') = '0' then
    perform set_config('lock_timeout', '2s', true);
  end if;
  execute format('alter table cdrs detach partition %I', name);
  execute format('drop table %I', name);
  return true;
end
$$;
revoke all on function cdrex_drop_month_partition(date) from public;
grant execute on function cdrex_drop_month_partition(date) to cdrex_worker;

-- Every string (and number) in a jsonb document, keys included, recursively, through
-- regexp_replace: erasure replaces a number wherever a source put it, masking hides its digits.
-- A NULL pattern returns the document unchanged.
create function cdrex_jsonb_replace(doc jsonb, pattern text, replacement text) returns jsonb
  language plpgsql immutable parallel safe
  as $$
begin
  if pattern is null or doc is null then
    return doc;
  end if;
  case jsonb_typeof(doc)
    when 'object' then
      return coalesce((select jsonb_object_agg(regexp_replace(k, pattern, replacement, 'g'),
                                               cdrex_jsonb_replace(v, pattern, replacement))
                         from jsonb_each(doc) as e (k, v)), '{}'::jsonb);
    when 'array' then
      return coalesce((select jsonb_agg(cdrex_jsonb_replace(v, pattern, replacement) order by n)
                         from jsonb_array_elements(doc) with ordinality as a (v, n)), '[]'::jsonb);
    when 'string' then
      return to_jsonb(regexp_replace(doc #>> '{}', pattern, replacement, 'g'));
    when 'number' then
      -- A number sent as a JSON number becomes a string only when it matches.
      if doc::text ~ pattern then
        return to_jsonb(regexp_replace(doc::text, pattern, replacement, 'g'));
      end if;
      return doc;
    else
      return doc;
  end case;
end
$$;

-- The digits of a number as a pattern that matches them whole (not inside a longer number), or
-- NULL when it has none (e.g. "anonymous"). Only digits reach the pattern.
create function cdrex_number_pattern(number text) returns text
  language sql immutable parallel safe
  as $$
    select case when d = '' then null else '(?<![0-9])' || d || '(?![0-9])' end
      from (select regexp_replace(coalesce(number, ''), '[^0-9]', '', 'g') as d) as digits
  $$;

-- The number's digits with the last `digits` of them as X.
create function cdrex_masked_digits(number text, digits integer) returns text
  language sql immutable parallel safe
  as $$
    select left(d, greatest(length(d) - digits, 0)) || repeat('X', least(digits, length(d)))
      from (select regexp_replace(coalesce(number, ''), '[^0-9]', '', 'g') as d) as n
  $$;

-- `value` with the caller's number in it masked, when the account masks (digits > 0).
create function cdrex_mask_number(value text, number text, digits integer) returns text
  language sql immutable parallel safe
  as $$
    select case when coalesce(digits, 0) <= 0 or value is null or cdrex_number_pattern(number) is null
                then value
                else regexp_replace(value, cdrex_number_pattern(number), cdrex_masked_digits(number, digits), 'g')
           end
  $$;

-- The same over a stored jsonb document (Kazoo detail merges `extra`).
create function cdrex_mask_jsonb(doc jsonb, number text, digits integer) returns jsonb
  language sql immutable parallel safe
  as $$
    select case when coalesce(digits, 0) <= 0 then doc
                else cdrex_jsonb_replace(doc, cdrex_number_pattern(number), cdrex_masked_digits(number, digits))
           end
  $$;

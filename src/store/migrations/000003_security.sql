-- cdrex store, version 3: least privilege and row-level security.
--
-- Three roles (docs/security.md): the owner (whoever runs migrations; owns every object),
-- cdrex_app (serves requests: not superuser, owns nothing, no BYPASSRLS) and cdrex_worker
-- (claims jobs, bulk loads, maintenance: BYPASSRLS). Both must exist before this runs: cdrex
-- creates them when its owner may (src/store/roles.ts), else a DBA runs
-- `cdrex db roles --print-sql`.

-- Nothing reaches the schema by default; each role gets exactly what it needs below.
revoke all on schema public from public;
grant usage on schema public to cdrex_app, cdrex_worker;

-- Requests read and write their own account's rows only (the policies below decide which).
grant select on accounts to cdrex_app;
grant select on cdrs to cdrex_app;
grant select, insert, delete on api_tokens to cdrex_app;
grant select, insert, update, delete on exports, export_files to cdrex_app;
grant select, insert, update, delete on jobs to cdrex_app;
grant usage on sequence jobs_id_seq to cdrex_app;

-- The worker loads CDRs, runs exports' bookkeeping, callbacks and sweeps for every account.
grant select, insert, update, delete on accounts, api_keys, api_tokens, cdrs, exports, export_files, jobs
  to cdrex_worker;
grant usage on sequence jobs_id_seq to cdrex_worker;

-- Row-level security, forced (it binds the tables' owner too): a transaction that has not set
-- cdrex.account sees no row and can write none. current_setting(…, true) is NULL when unset,
-- and NULL matches nothing. Granted on the parent `cdrs` only: partitions get no grant at all,
-- so nobody but the owner can read one directly, around the parent's policy.
alter table accounts enable row level security;
alter table accounts force row level security;
create policy account_isolation on accounts
  using (id = current_setting('cdrex.account', true))
  with check (id = current_setting('cdrex.account', true));

do $$
declare
  t text;
begin
  foreach t in array array['api_keys', 'api_tokens', 'cdrs', 'exports', 'export_files', 'jobs'] loop
    execute format('alter table %I enable row level security', t);
    execute format('alter table %I force row level security', t);
    execute format(
      'create policy account_isolation on %I using (account_id = current_setting(''cdrex.account'', true))
         with check (account_id = current_setting(''cdrex.account'', true))', t);
  end loop;
end
$$;

-- Authentication happens before any account is known, so it looks a secret's hash up through
-- functions that run as the owner and return only the account id (Kazoo credentials: 000004).
create function cdrex_account_by_key(key_hash bytea) returns text
  language sql stable security definer set search_path = public, pg_temp
  as $$ select k.account_id from api_keys k where k.key_hash = $1 $$;

-- /healthz reports rows that fell into the DEFAULT partition, which no role but the owner reads.
create function cdrex_default_partition_rows() returns bigint
  language sql stable security definer set search_path = public, pg_temp
  as $$ select count(*) from cdrs_default $$;

-- Month partitions, for loads running as the worker: bounded (no month before 2000 or more than
-- two months ahead), so no caller can fill the catalog with partitions. CREATE + ATTACH instead of
-- PARTITION OF: ATTACH takes SHARE UPDATE EXCLUSIVE on the parent, not ACCESS EXCLUSIVE, so it
-- does not queue behind running exports; the caller retries on lock_timeout (55P03).
create function cdrex_create_month_partition(month date) returns boolean
  language plpgsql security definer set search_path = public, pg_temp
  as $$
declare
  first_day date := date_trunc('month', month)::date;
  name text := format('cdrs_%s', to_char(first_day, 'YYYY_MM'));
begin
  if first_day < date '2000-01-01' or first_day > (date_trunc('month', now()) + interval '2 months')::date then
    raise exception 'month % is outside the months cdrex stores', to_char(first_day, 'YYYY-MM')
      using errcode = '22023';
  end if;
  if exists (select 1 from pg_inherits i join pg_class c on c.oid = i.inhrelid
              where i.inhparent = 'cdrs'::regclass and c.relname = name) then
    return false;
  end if;
  perform set_config('lock_timeout', '2s', true);
  execute format('create table if not exists %I (like cdrs including defaults including constraints)', name);
  execute format('alter table cdrs attach partition %I for values from (%L) to (%L)', name,
                 first_day::timestamp at time zone 'UTC', (first_day + interval '1 month')::timestamp at time zone 'UTC');
  return true;
end
$$;

revoke all on function cdrex_account_by_key(bytea),
  cdrex_default_partition_rows(), cdrex_create_month_partition(date) from public;
grant execute on function cdrex_account_by_key(bytea),
  cdrex_default_partition_rows() to cdrex_app, cdrex_worker;
grant execute on function cdrex_create_month_partition(date) to cdrex_worker;

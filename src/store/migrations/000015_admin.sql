-- cdrex store, version 15: the operators' provisioning API and the audit log (docs/admin-api.md).

-- A disabled account keeps every row; only its credentials stop working (the two lookup
-- functions below). retention_months is read by the retention job: NULL follows
-- CDREX_CDR_RETENTION_MONTHS, and no account keeps less than DIDWW's three-month window.
-- Migration 000016 (data lifecycle) adds the same column with the same check: IF NOT EXISTS lets
-- either land first.
alter table accounts add column disabled_at timestamptz;
alter table accounts add column if not exists retention_months integer
  constraint accounts_retention_months check (retention_months is null or retention_months >= 3);

-- Several keys per account, so a customer can switch to a second key before the first is revoked.
-- Each key gets an id an operator can name; the pair (account_id, id) is the key.
alter table api_keys add column id uuid not null default gen_random_uuid();
alter table api_keys drop constraint api_keys_pkey;
alter table api_keys add primary key (account_id, id);

-- Operators' tokens for /admin/v1: stored only as a SHA-256, as API keys are. Not a tenant table.
create table operator_tokens (
  id          uuid primary key default gen_random_uuid(),
  name        text not null,
  token_hash  bytea not null unique,
  created_at  timestamptz not null default now(),
  revoked_at  timestamptz
);
-- The CLI manages them on the worker's pool; requests only look one up (cdrex_operator below).
grant select, insert, update on operator_tokens to cdrex_worker;

-- Append-only: who did what to which account, when, from where. No foreign key: an account's
-- trail outlives the account.
create table audit_log (
  id          bigint generated always as identity primary key,
  at          timestamptz not null default now(),
  account_id  text,
  action      text not null,
  actor       text not null,
  address     text,
  detail      jsonb not null default '{}'
);
create index audit_log_account on audit_log (account_id, id);
create index audit_log_action on audit_log (action, id);

-- Requests write their own account's rows (an export download); the admin API and the CLI (the
-- worker, BYPASSRLS) read and write every account's. Nobody but the owner may change a row, and
-- the triggers below refuse even the owner: the trail is only ever appended to.
alter table audit_log enable row level security;
alter table audit_log force row level security;
create policy account_isolation on audit_log
  using (account_id = current_setting('cdrex.account', true))
  with check (account_id = current_setting('cdrex.account', true));
grant select, insert on audit_log to cdrex_app, cdrex_worker;

create function cdrex_audit_append_only() returns trigger
  language plpgsql as $$
begin
  raise exception 'audit_log is append-only' using errcode = '42501';
end
$$;
create trigger audit_log_append_only before update or delete on audit_log
  for each row execute function cdrex_audit_append_only();

-- The credential lookups of 000003 and 000004, now refusing a disabled account's key and tokens.
create or replace function cdrex_account_by_key(key_hash bytea) returns text
  language sql stable security definer set search_path = public, pg_temp
  as $$
    select k.account_id from api_keys k join accounts a on a.id = k.account_id
     where k.key_hash = $1 and a.disabled_at is null
  $$;

create or replace function cdrex_credential(secret_hash bytea)
  returns table (account_id text, kind text, scope text)
  language sql stable security definer set search_path = public, pg_temp
  as $$
    select found.* from (
      select t.account_id, 'token'::text, t.scope from api_tokens t
       where t.token_hash = $1 and t.expires_at > now()
      union all
      select k.account_id, 'api_key'::text, null::text from api_keys k where k.key_hash = $1
    ) found (account_id, kind, scope)
    join accounts a on a.id = found.account_id
    where a.disabled_at is null
    limit 1
  $$;

-- An operator token's id and name, or no row; requests run as cdrex_app, which cannot read the table.
create function cdrex_operator(token_hash bytea) returns table (id uuid, name text)
  language sql stable security definer set search_path = public, pg_temp
  as $$ select o.id, o.name from operator_tokens o where o.token_hash = $1 and o.revoked_at is null $$;

revoke all on function cdrex_operator(bytea) from public;
grant execute on function cdrex_operator(bytea) to cdrex_app, cdrex_worker;

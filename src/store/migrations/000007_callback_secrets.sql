-- cdrex store, version 7: callback secrets (docs/decisions.md, "Callback secrets").
--
-- DIDWW's 2026-04-16 SDKs validate callbacks with a per-account callback secret, created and
-- enabled apart from the API key. The secret signs callbacks, so it is kept as the API key is: an
-- AES-256-GCM ciphertext under the master key, never in plain text. No hash: nothing ever
-- authenticates with it.
create table callback_secrets (
  id                 uuid not null default gen_random_uuid(),
  account_id         text not null references accounts (id) on delete cascade,
  secret_ciphertext  bytea not null,
  enabled            boolean not null default false,
  created_at         timestamptz not null default now(),
  primary key (account_id, id)
);

-- One enabled secret per account, whatever the callers do: a second enabled row is refused by
-- the database itself.
create unique index callback_secrets_one_enabled on callback_secrets (account_id) where enabled;

-- A tenant table: forced row-level security, as the tables of 000003.
alter table callback_secrets enable row level security;
alter table callback_secrets force row level security;
create policy account_isolation on callback_secrets
  using (account_id = current_setting('cdrex.account', true))
  with check (account_id = current_setting('cdrex.account', true));

-- Like api_keys: no request reads or writes it, so cdrex_app gets nothing. The worker signs
-- callbacks with it and the CLI (on the worker's pool) manages it.
grant select, insert, update, delete on callback_secrets to cdrex_worker;

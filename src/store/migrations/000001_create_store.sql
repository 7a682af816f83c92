-- cdrex store, version 1: accounts and keys, CDRs partitioned by month, exports, jobs.

create table accounts (
  id          text primary key check (id ~ '^[0-9a-f]{32}$'),
  name        text not null,
  created_at  timestamptz not null default now()
);

-- One current key per account, never in plain text: a SHA-256 for lookup and an AES-256-GCM
-- ciphertext under the master key, needed to sign callbacks with the account's key.
create table api_keys (
  account_id      text primary key references accounts (id) on delete cascade,
  key_hash        bytea not null unique,
  key_ciphertext  bytea not null,
  created_at      timestamptz not null default now()
);

-- Every CDR, inbound and outbound, from every source. Typed columns hold each DIDWW CSV column
-- (docs/fields.md maps them); `extra` keeps whatever else a source sent, as received.
create table cdrs (
  account_id            text not null,
  kind                  text not null check (kind in ('cdr_in', 'cdr_out')),
  time_start            timestamptz not null,
  time_connect          timestamptz,
  time_end              timestamptz,
  call_id               text not null,
  attempt               integer not null default 1,
  status                text not null,
  source_number         text,
  source_name           text,
  cli                   text,
  did_number            text,
  destination           text,
  duration_s            integer,
  billing_s             integer,
  disconnect_code       text,
  disconnect_reason     text,
  disconnect_initiator  text,
  trunk_name            text,
  voice_out_trunk_id    text,
  trunk_group           text,
  capacity_group        text,
  destination_country   text,
  network               text,
  call_type             text,
  p_charge_info         text,
  cost_tollfree         numeric,
  cost_pstn             numeric,
  cost_metered          numeric,
  cost_cnam             numeric,
  rate                  numeric,
  cost                  numeric,
  source                text not null default 'import',
  imported              boolean not null default false,
  extra                 jsonb not null default '{}',
  inserted_at           timestamptz not null default now()
) partition by range (time_start);

-- The dedupe key (first write wins). Its order also serves the export order (time_start, call_id,
-- attempt) and the Kazoo keyset over both directions (time_start, call_id, attempt, kind).
create unique index cdrs_dedupe on cdrs (account_id, time_start, call_id, attempt, kind);
create index cdrs_did on cdrs (account_id, did_number, time_start) where kind = 'cdr_in';
create index cdrs_out_trunk on cdrs (account_id, voice_out_trunk_id, time_start) where kind = 'cdr_out';

-- A safety net that stays empty: loads create the month partitions they need first.
create table cdrs_default partition of cdrs default;

create table exports (
  id                     uuid primary key,
  account_id             text not null references accounts (id) on delete cascade,
  dialect                text not null check (dialect in ('exports', 'cdr_exports')),
  export_type            text not null check (export_type in ('cdr_in', 'cdr_out')),
  filters                jsonb not null,
  range_from             timestamptz not null,
  range_to               timestamptz not null,
  did_number             text,
  voice_out_trunk_id     text,
  status                 text not null default 'pending'
                           check (status in ('pending', 'processing', 'completed', 'failed')),
  callback_url           text,
  callback_method        text check (callback_method in ('GET', 'POST')),
  external_reference_id  text,
  created_at             timestamptz not null default now(),
  completed_at           timestamptz,
  row_count              bigint
);
create index exports_account on exports (account_id, dialect, created_at);

-- The file of a completed export. Its id names the file and is not the export id, so a
-- download URL neither reveals nor can be guessed from the export.
create table export_files (
  id          uuid primary key,
  export_id   uuid not null unique references exports (id) on delete cascade,
  account_id  text not null,
  file_name   text not null,
  size        bigint not null,
  sha256      text not null,
  created_at  timestamptz not null default now(),
  deleted_at  timestamptz
);
create index export_files_live on export_files (created_at) where deleted_at is null;

-- Background work, shared by any number of workers on any number of machines. A claim sets a
-- lease (locked_until) and a fresh lease_token; every write by the holder is fenced on it.
create table jobs (
  id            bigserial primary key,
  task          text not null,
  account_id    text,
  payload       jsonb not null default '{}',
  singleton     text unique,
  run_at        timestamptz not null default now(),
  attempts      integer not null default 0,
  max_attempts  integer not null default 5,
  locked_by     text,
  locked_until  timestamptz,
  lease_token   uuid,
  last_error    text,
  dead_at       timestamptz,
  created_at    timestamptz not null default now()
);
create index jobs_due on jobs (run_at) where dead_at is null;
create index jobs_running on jobs (task, account_id) where locked_until is not null;

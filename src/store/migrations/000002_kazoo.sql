-- cdrex store, version 2: the fields the Kazoo dialect lists, filters and searches on, their
-- indexes, and Kazoo auth tokens.

alter table cdrs
  add column callee_name        text,
  add column hangup_cause       text,
  add column other_leg_call_id  text,
  add column owner_id           text,
  add column authorizing_id     text,
  add column from_uri           text,
  add column to_uri             text,
  add column network_ip         text,
  add column media_ip           text,
  add column interaction_id     text;

-- Each documented filter has an index that leads with the account, then the field, then time.
-- Partial (`is not null`) where a field is often empty, so loads that lack it pay nothing.
-- Number prefixes (`filter_caller_id_number=1415*`) use text_pattern_ops, which makes LIKE 'x%'
-- indexable whatever the database's locale.
create index cdrs_caller_number on cdrs (account_id, source_number text_pattern_ops, time_start);
create index cdrs_callee_number on cdrs (account_id, destination text_pattern_ops, time_start);
create index cdrs_owner on cdrs (account_id, owner_id, time_start) where owner_id is not null;
create index cdrs_authorizing on cdrs (account_id, authorizing_id, time_start) where authorizing_id is not null;
create index cdrs_from_uri on cdrs (account_id, from_uri, time_start) where from_uri is not null;
create index cdrs_to_uri on cdrs (account_id, to_uri, time_start) where to_uri is not null;
create index cdrs_network_ip on cdrs (account_id, network_ip, time_start) where network_ip is not null;
create index cdrs_media_ip on cdrs (account_id, media_ip, time_start) where media_ip is not null;
create index cdrs_interaction on cdrs (account_id, interaction_id, time_start) where interaction_id is not null;
create index cdrs_hangup_cause on cdrs (account_id, hangup_cause, time_start) where hangup_cause is not null;
create index cdrs_call_id on cdrs (account_id, call_id);
-- custom_channel_vars.* and custom_sip_headers.* equality (`@>`). Only these two objects are
-- indexed, not the whole document a switch sent (SDP bodies, hundreds of channel variables),
-- which would make every insert pay for a large GIN entry.
create index cdrs_channel_vars on cdrs using gin ((extra -> 'custom_channel_vars') jsonb_path_ops)
  where extra ? 'custom_channel_vars';
create index cdrs_sip_headers on cdrs using gin ((extra -> 'custom_sip_headers') jsonb_path_ops)
  where extra ? 'custom_sip_headers';

-- Kazoo auth tokens (PUT /v2/api_auth): random, stored hashed, expiring.
create table api_tokens (
  token_hash  bytea primary key,
  account_id  text not null references accounts (id) on delete cascade,
  expires_at  timestamptz not null,
  created_at  timestamptz not null default now()
);
create index api_tokens_expiry on api_tokens (expires_at);

-- cdrex store, version 4: scoped Kazoo tokens (docs/security.md, "Smaller hardening").
--
-- A token with a scope is good for that one use only; NULL is an ordinary api_auth token.
-- 'csv_download' is what the portal puts in a CSV link: short-lived, and refused by every route
-- but the CDR list's CSV, so a leaked link (history, proxy logs, Referer) grants nothing else.
alter table api_tokens add column scope text;
alter table api_tokens add constraint api_tokens_scope check (scope is null or scope = 'csv_download');

-- Authentication runs before any account is set, so under forced row-level security it looks a
-- secret up through a function that runs as the owner. It also says what kind of secret it was
-- (an api_auth token is echoed in Kazoo's auth_token, an API key never is) and the token's scope.
create function cdrex_credential(secret_hash bytea)
  returns table (account_id text, kind text, scope text)
  language sql stable security definer set search_path = public, pg_temp
  as $$
    select * from (
      select t.account_id, 'token'::text, t.scope from api_tokens t
       where t.token_hash = $1 and t.expires_at > now()
      union all
      select k.account_id, 'api_key'::text, null::text from api_keys k where k.key_hash = $1
    ) found limit 1
  $$;

revoke all on function cdrex_credential(bytea) from public;
grant execute on function cdrex_credential(bytea) to cdrex_app, cdrex_worker;

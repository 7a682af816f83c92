-- cdrex store, version 22: the credential lookup of every request keeps its plan (issue #16).
--
-- cdrex_credential (migration 15) was a SQL function. It cannot be inlined (it is SECURITY
-- DEFINER with its own search_path), and PostgreSQL before 18 plans a SQL function's query anew
-- on every call: 0.4 ms of each request on PostgreSQL 15, where the lookup itself is two index
-- probes. PL/pgSQL keeps the plan of its query for the session. Same rows, same rules: a live
-- token or an API key, of an account that is not disabled.
create or replace function cdrex_credential(secret_hash bytea)
  returns table (account_id text, kind text, scope text)
  language plpgsql stable security definer set search_path = public, pg_temp
  as $$
#variable_conflict use_column
begin
  return query
    select hit.account_id, hit.kind, hit.scope from (
      select t.account_id, 'token'::text, t.scope from api_tokens t
       where t.token_hash = secret_hash and t.expires_at > now()
      union all
      select k.account_id, 'api_key'::text, null::text from api_keys k where k.key_hash = secret_hash
    ) hit (account_id, kind, scope)
    join accounts a on a.id = hit.account_id
    where a.disabled_at is null
    limit 1;
end
$$;

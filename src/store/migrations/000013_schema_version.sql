-- cdrex store, version 13: the schema version for /readyz. schema_migrations is the owner's and
-- no other role may read it (000003); this function answers the one number readiness needs, the
-- newest migration applied, to the roles a running cdrex connects as.
create function cdrex_schema_version() returns integer
  language sql stable security definer set search_path = public, pg_temp
  as $$ select coalesce(max(version), 0) from schema_migrations $$;

revoke all on function cdrex_schema_version() from public;
grant execute on function cdrex_schema_version() to cdrex_app, cdrex_worker;

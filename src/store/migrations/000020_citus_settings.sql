-- cdrex store, version 20: the values of a COPY's query reach Citus's worker nodes (issue #17).
--
-- COPY takes no bind parameters, so a query that COPY runs reads its values back from
-- transaction-local settings (SqlParams 'setting' style, src/store/queries/cdr-search.ts). On
-- Citus that query runs on a worker node, which sees a setting only when it was made with
-- SET LOCAL while citus.propagate_set_commands = 'local' (set_config() stays on the coordinator).
-- This sets cdrex.p1 … cdrex.pN that way; each value is quoted here by format(%L), on the server,
-- and arrives as a bind parameter. On a single PostgreSQL it is the same as set_config(…, true).
create function cdrex_set_params(variadic vals text[]) returns void
  language plpgsql
  as $$
begin
  for i in 1 .. coalesce(array_length(vals, 1), 0) loop
    execute format('set local cdrex.p%s = %L', i, vals[i]);
  end loop;
end
$$;

revoke all on function cdrex_set_params(text[]) from public;
grant execute on function cdrex_set_params(text[]) to cdrex_app, cdrex_worker;

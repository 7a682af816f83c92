-- cdrex store, version 21: a COPY's values reach the planner as constants (issue #16).
--
-- COPY takes no bind parameters, so the query it runs reads its values back from the
-- transaction-local settings cdrex.p1 … cdrex.pN (SqlParams 'setting' style, src/store/sql.ts).
-- current_setting() is STABLE: the planner cannot fold it, so it cannot prune the month
-- partitions when it plans. It then plans for every partition (a merge of them, or one sort of
-- them all), and prunes only when the COPY starts. On a month of 1M rows this made the export
-- read the month with a sequential scan and sort it on disk, while the same SELECT with the
-- values written in read the month's index in order, in parallel.
--
-- These readers are declared IMMUTABLE so that the planner evaluates them once, when it plans,
-- and sees their values as constants. That is sound only for a statement planned in the
-- transaction that set the values and never kept for later: a COPY's query is planned each time
-- it runs, and only COPY queries use these readers (bound statements use $N). Timestamps are
-- set as ISO 8601 with their offset, so reading one does not depend on the session's TimeZone.
create function cdrex_param(n int) returns text
  language sql immutable parallel safe
  as $$ select current_setting('cdrex.p' || n) $$;

create function cdrex_param_timestamptz(n int) returns timestamptz
  language sql immutable parallel safe
  as $$ select current_setting('cdrex.p' || n)::timestamptz $$;

revoke all on function cdrex_param(int), cdrex_param_timestamptz(int) from public;
grant execute on function cdrex_param(int), cdrex_param_timestamptz(int) to cdrex_app, cdrex_worker;

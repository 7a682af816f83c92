-- cdrex store, version 6: how a job's transient failures are retried (docs/decisions.md,
-- "Statuses"). `first_failed_at` starts the retry period (CDREX_EXPORT_RETRY_S for exports) at
-- the job's first transient failure; `released` counts the lost database connections in a row
-- that gave the job back without counting an attempt (at most 20).
alter table jobs
  add column first_failed_at timestamptz,
  add column released integer not null default 0;

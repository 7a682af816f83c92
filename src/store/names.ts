// Names and keys the database shares between processes, in one place so that two of them can
// never collide by accident (the migration lock and the claim lock once had the same key) and a
// task is never spelled differently by its enqueuer and its claimer.

/** The `task` column of jobs: which code runs the job (src/jobs/tasks.ts maps each to it). */
export const TASK = {
  export: 'export',
  callback: 'callback',
  /** The export-file sweep. */
  retention: 'retention',
  /** The CDR retention sweep. */
  cdrRetention: 'cdr-retention',
} as const;

export type TaskName = (typeof TASK)[keyof typeof TASK];

/**
 * Advisory-lock keys. PostgreSQL has two key spaces: one bigint, or two ints (the second for the
 * account, say); a key is unique only within its space.
 */
export const LOCK = {
  /** Session lock (one bigint) held by a migrator while it migrates ('cdrx'). */
  migrate: 0x63647278,
  /** Transaction lock (one bigint) that serialises job claims ('cdrc'). */
  claim: 0x63647263,
  /** Transaction lock (int, hashtext(account)) around the pending-exports count ('cdrp'). */
  pendingExports: 0x63647270,
} as const;

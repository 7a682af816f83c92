// The lifecycle's settings, as src/config.ts read them (the retention job and the CLI share them).
import type { Config } from '../config.js';

/** DIDWW's API serves the last three months: no retention may be shorter. */
export const MIN_RETENTION_MONTHS = 3;

export interface LifecycleSettings {
  /** CDREX_CDR_RETENTION_MONTHS: null keeps everything (the default). */
  retentionMonths: number | null;
  /** CDREX_CDR_RETENTION_INTERVAL_S: how often the standing job runs (default daily). */
  intervalS: number;
  /** CDREX_CDR_RETENTION_LOCK_TIMEOUT_MS: how long dropping a month may block ingestion. */
  lockTimeoutMs: number;
  /** CDREX_CDR_RETENTION_LOCK_ATTEMPTS: tries per month before the run gives up (the job retries). */
  lockAttempts: number;
}

export function lifecycleSettings(config: Config): LifecycleSettings {
  return {
    retentionMonths: config.cdrRetentionMonths,
    intervalS: config.cdrRetentionIntervalS,
    lockTimeoutMs: config.cdrRetentionLockTimeoutMs,
    lockAttempts: config.cdrRetentionLockAttempts,
  };
}

// The lifecycle's settings, read from the environment like src/config.ts (kept here so the
// retention job and the CLI read them the same way).
import { ConfigError } from '../config.js';

/** DIDWW's API serves the last three months: no retention may be shorter. */
export const MIN_RETENTION_MONTHS = 3;

export interface LifecycleSettings {
  /** CDREX_CDR_RETENTION_MONTHS: null keeps everything (the default). */
  retentionMonths: number | null;
  /** CDREX_CDR_RETENTION_INTERVAL_S: how often the standing job runs (default daily). */
  intervalS: number;
  /** CDREX_CDR_RETENTION_LOCK_TIMEOUT_MS: how long dropping a month may block ingestion. */
  lockTimeoutMs: number;
}

function whole(env: NodeJS.ProcessEnv, name: string, min: number): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new ConfigError(`${name} must be a whole number of at least ${min}; it is "${raw}".`);
  return value;
}

export function lifecycleSettings(env: NodeJS.ProcessEnv = process.env): LifecycleSettings {
  return {
    retentionMonths: whole(env, 'CDREX_CDR_RETENTION_MONTHS', MIN_RETENTION_MONTHS) ?? null,
    intervalS: whole(env, 'CDREX_CDR_RETENTION_INTERVAL_S', 60) ?? 86_400,
    lockTimeoutMs: whole(env, 'CDREX_CDR_RETENTION_LOCK_TIMEOUT_MS', 10) ?? 2000,
  };
}

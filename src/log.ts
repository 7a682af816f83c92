// Structured logging. Secrets never reach the log: every header and query field that can
// carry a key or token is redacted here, once, for all loggers.
import pino from 'pino';
import type { Logger } from 'pino';
import { StderrDestination } from './log-destination.js';

export const REDACT_PATHS = [
  'req.headers["api-key"]',
  'req.headers["x-auth-token"]',
  'req.headers.authorization',
  'req.query.auth_token',
  'api_key',
  'apiKey',
  'auth_token',
  'password',
];

/** A logger writing JSON lines to stderr (see log-destination.ts for what happens when nobody
 * reads it any more); what is still pending is written at exit. */
export function createLogger(level = 'info', name = 'cdrex'): Logger {
  const destination = new StderrDestination();
  process.once('exit', () => destination.flushSync());
  return pino({ level, name, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, destination);
}

export type { Logger };

// Structured logging. Secrets never reach the log: every header and query field that can
// carry a key or token is redacted here, once, for all loggers.
import pino from 'pino';
import type { Logger } from 'pino';

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

export function createLogger(level = 'info', name = 'cdrex'): Logger {
  return pino({ level, name, redact: { paths: REDACT_PATHS, censor: '[redacted]' } }, pino.destination(2));
}

export type { Logger };

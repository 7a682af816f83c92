// PostgreSQL errors by SQLSTATE (never by message text) and by the driver's connection failures.

/** The server is gone, restarting, or refusing connections: the store is unavailable. */
export const UNAVAILABLE_CODES = [
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '08000', // connection_exception
  '08001', // sqlclient_unable_to_establish_sqlconnection
  '08003', // connection_does_not_exist
  '08004', // sqlserver_rejected_establishment_of_sqlconnection
  '08006', // connection_failure
  '53300', // too_many_connections
];
export const QUERY_CANCELED = '57014'; // statement_timeout
/** What a 503 or 504 tells the client to wait before retrying, in seconds. */
export const RETRY_AFTER_S = 5;
const NETWORK_CODES = ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND'];

function isStoreUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (e.code && (UNAVAILABLE_CODES.includes(e.code) || NETWORK_CODES.includes(e.code))) return true;
  // pg reports a dropped socket or a pool connect timeout without a code.
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout/i.test(
    e.message ?? '',
  );
}

function isQueryTimeout(err: unknown): boolean {
  return (err as { code?: string } | undefined)?.code === QUERY_CANCELED;
}

/** Values PostgreSQL refused as data (a NUL byte, a number out of range, an impossible date):
 * the client's input was bad, whatever path it took to get here. */
const BAD_INPUT_CODES = [
  '22021', // character_not_in_repertoire (NUL, invalid UTF-8)
  '22P05', // untranslatable_character (\u0000 in jsonb)
  '22003', // numeric_value_out_of_range
  '22008', // datetime_field_overflow
  '22007', // invalid_datetime_format
  '22P02', // invalid_text_representation
];

function isBadInput(err: unknown): boolean {
  const code = (err as { code?: string } | undefined)?.code;
  return code !== undefined && BAD_INPUT_CODES.includes(code);
}

/** Why a query failed, as far as the client is concerned: its own input, a query that ran past
 * statement_timeout, or a store that cannot be reached. Undefined for anything else (a bug). */
export type StoreFailure = 'bad_input' | 'timeout' | 'unavailable';

export function storeFailure(err: unknown): StoreFailure | undefined {
  if (isBadInput(err)) return 'bad_input';
  if (isQueryTimeout(err)) return 'timeout';
  if (isStoreUnavailable(err)) return 'unavailable';
  return undefined;
}

/** A URL carrying a NUL byte, raw or percent-encoded: never a valid id, file name or filter. */
export const hasNulByte = (url: string) => url.includes('\0') || /%00/.test(url);

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

export function isStoreUnavailable(err: unknown): boolean {
  const e = err as { code?: string; message?: string } | undefined;
  if (!e) return false;
  if (e.code && (UNAVAILABLE_CODES.includes(e.code) || NETWORK_CODES.includes(e.code))) return true;
  // pg reports a dropped socket or a pool connect timeout without a code.
  return /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Query read timeout/i.test(
    e.message ?? '',
  );
}

export function isQueryTimeout(err: unknown): boolean {
  return (err as { code?: string } | undefined)?.code === QUERY_CANCELED;
}

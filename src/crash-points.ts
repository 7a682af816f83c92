// Crash points for the crash-safety tests. With CDREX_CRASH_AT=<point>[,<point>…] the process
// kills itself with SIGKILL on reaching that point: no cleanup, no finally blocks, exactly what a
// power cut or the OOM killer does. Unset (always, in production) it costs one Set lookup.
const CRASH_AT = new Set((process.env.CDREX_CRASH_AT ?? '').split(',').filter(Boolean));

export type CrashPoint = 'export:fsynced' | 'export:renamed';

export function crashPoint(point: CrashPoint): void {
  if (CRASH_AT.has(point)) process.kill(process.pid, 'SIGKILL');
}

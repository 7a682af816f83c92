// Crash points for the crash-safety tests. With CDREX_CRASH_AT=<point>[,<point>…] the process
// kills itself with SIGKILL on reaching that point: no cleanup, no finally blocks, exactly what a
// power cut or the OOM killer does. Unset (always, in production) it costs one Set lookup.
const CRASH_AT = new Set((process.env.CDREX_CRASH_AT ?? '').split(',').filter(Boolean));

// export:streaming: the COPY has delivered its second chunk, so the temp file is open and being
// written (a kill mid-export without a large export to catch it in).
export type CrashPoint = 'export:streaming' | 'export:fsynced' | 'export:renamed';

export function crashPoint(point: CrashPoint): void {
  if (CRASH_AT.has(point)) process.kill(process.pid, 'SIGKILL');
}

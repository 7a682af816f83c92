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

// Hold points, for tests that act on a process while it is at a point (terminate its COPY's
// backend, signal it): with CDREX_HOLD_AT=<point>[,<point>…] the first time the process reaches
// that point it waits CDREX_HOLD_MS (default 3000) before going on. An export held at
// export:streaming keeps its COPY running that long whatever its size, so such a test needs no
// export large enough to catch it from outside. Unset it costs one Set lookup.
const HOLD_AT = new Set((process.env.CDREX_HOLD_AT ?? '').split(',').filter(Boolean));
const HOLD_MS = Number(process.env.CDREX_HOLD_MS ?? 3000);

/** A promise to wait for the first time `point` is reached with a hold set; otherwise undefined. */
export function holdPoint(point: CrashPoint): Promise<void> | undefined {
  if (!HOLD_AT.delete(point)) return undefined;
  return new Promise((resolve) => setTimeout(resolve, HOLD_MS));
}

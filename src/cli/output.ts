// How every command talks: one JSON summary line on stdout; progress (on a TTY) and errors on
// stderr, errors as one JSON line. Exit codes: 0 ok, 1 data error, 2 usage error.

export const EXIT_OK = 0;
export const EXIT_DATA = 1;
export const EXIT_USAGE = 2;

export class UsageError extends Error {}

export function printSummary(summary: unknown): void {
  process.stdout.write(`${JSON.stringify(summary)}\n`);
}

export function printError(error: { error: string; file?: string; line?: number }): void {
  process.stderr.write(`${JSON.stringify(error)}\n`);
}

/** A progress line redrawn in place on a TTY, at most a few times a second: rows, rows/s and the
 * time so far; the last state stays on screen at the end. Silent when stderr is not a TTY (a
 * pipe, a file, a log collector), so scripts never see it. */
export function progress(label: string, total?: number): { update(done: number): void; end(): void } {
  if (!process.stderr.isTTY) return { update() {}, end() {} };
  let last = 0;
  let latest = 0;
  const started = Date.now();
  const draw = (done: number) => {
    const secs = (Date.now() - started) / 1000;
    const rate = secs > 0 ? Math.round(done / secs) : 0;
    const pct = total ? ` ${((100 * done) / total).toFixed(1)}%` : '';
    process.stderr.write(
      `\r${label}: ${done.toLocaleString('en-US')} rows${pct} (${rate.toLocaleString('en-US')} rows/s, ` +
        `${secs.toFixed(1)} s)   `,
    );
  };
  return {
    update(done) {
      latest = done;
      const now = Date.now();
      if (now - last < 200) return;
      last = now;
      draw(done);
    },
    end() {
      draw(latest);
      process.stderr.write('\n');
    },
  };
}

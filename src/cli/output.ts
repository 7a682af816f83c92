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

/** A progress line redrawn in place on a TTY, at most a few times a second; silent otherwise. */
export function progress(label: string, total?: number): { update(done: number): void; end(): void } {
  if (!process.stderr.isTTY) return { update() {}, end() {} };
  let last = 0;
  const started = Date.now();
  const draw = (done: number) => {
    const secs = (Date.now() - started) / 1000;
    const rate = secs > 0 ? Math.round(done / secs) : 0;
    const pct = total ? ` ${((100 * done) / total).toFixed(1)}%` : '';
    process.stderr.write(
      `\r${label}: ${done.toLocaleString('en-US')}${pct} (${rate.toLocaleString('en-US')} rows/s)   `,
    );
  };
  return {
    update(done) {
      const now = Date.now();
      if (now - last < 200) return;
      last = now;
      draw(done);
    },
    end() {
      process.stderr.write('\n');
    },
  };
}

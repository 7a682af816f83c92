// Where the logs go: stderr, written directly. A log line must never keep the process from
// serving or from ending, whoever reads stderr and whenever they stop.
//
// pino's own destination (sonic-boom 4) was the cause of a serve that outlived its terminal:
// after the terminal hung up, writes to it fail with EIO, and the flush sonic-boom runs at exit
// retries every failed write forever, 100 ms apart, inside the 'exit' event, so the process no
// longer listened, nor ran any signal handler (SIGTERM "ignored"). Here a write that fails for
// good (EPIPE: the reader closed the pipe; EIO: the terminal is gone; EBADF) turns logging off
// for the rest of the process, and the flush at exit gives up after a second.
import fs from 'node:fs';

/** A full pipe (a slow reader with a non-blocking fd) is retried this often... */
const RETRY_MS = 10;
/** ...holding at most this much; beyond it, lines are dropped rather than memory grown. */
const MAX_PENDING_BYTES = 8 * 1024 * 1024;
/** At exit there is no event loop: a full pipe is waited for this long, then left. */
const EXIT_FLUSH_MS = 1000;

export class StderrDestination {
  readonly #fd: number;
  #pending: Buffer[] = [];
  #pendingBytes = 0;
  #retry: NodeJS.Timeout | undefined;
  #gone = false;

  constructor(fd = 2) {
    this.#fd = fd;
  }

  /** True once stderr has failed for good; nothing is written after that. */
  get gone(): boolean {
    return this.#gone;
  }

  /** pino's stream interface: one serialized log line. */
  write(line: string): boolean {
    if (this.#gone || this.#pendingBytes + line.length > MAX_PENDING_BYTES) return true;
    const buf = Buffer.from(line);
    this.#pending.push(buf);
    this.#pendingBytes += buf.length;
    // While a retry is scheduled, lines queue behind it, in order.
    if (!this.#retry) this.#drain();
    return true;
  }

  /** Writes what is pending now, whatever the event loop is doing (pino's flushSync). */
  flushSync(): void {
    const deadline = Date.now() + EXIT_FLUSH_MS;
    const pause = new Int32Array(new SharedArrayBuffer(4));
    while (!this.#writeOut() && Date.now() < deadline) Atomics.wait(pause, 0, 0, RETRY_MS);
  }

  #drain(): void {
    this.#retry = undefined;
    if (this.#writeOut()) return;
    // unref: a log line waiting for a reader does not keep the process alive; 'exit' flushes it.
    this.#retry = setTimeout(() => this.#drain(), RETRY_MS).unref();
  }

  /** Writes the pending lines; false when the fd is full (EAGAIN), true when done or gone. */
  #writeOut(): boolean {
    while (this.#pending.length > 0 && !this.#gone) {
      const buf = this.#pending[0];
      let written: number;
      try {
        written = fs.writeSync(this.#fd, buf);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return false;
        this.#stop();
        return true;
      }
      this.#pendingBytes -= written;
      if (written < buf.length) this.#pending[0] = buf.subarray(written);
      else this.#pending.shift();
    }
    return true;
  }

  #stop(): void {
    this.#gone = true;
    this.#pending = [];
    this.#pendingBytes = 0;
  }
}

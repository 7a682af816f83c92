// A terminal that hangs up under a running command (its window closed, the ssh session or
// script(1) killed) must not turn the command's exit into a crash or a hang.
//
// Node 20 restores the terminal's modes at exit (ResetStdio) and aborts when that fails; on a
// hung-up terminal it fails (EIO), and the abort itself faulted, which, with a JavaScript
// listener on SIGSEGV, looped forever at full CPU, deaf to SIGTERM. (Node 24 ignores the error:
// nodejs/node#58200.) ResetStdio leaves alone a descriptor that is closed or no longer the same
// file, so at exit we close the standard descriptors that were terminals and are gone.
import fs from 'node:fs';
import tty from 'node:tty';

const STDIO = [0, 1, 2];

/** Call once, at start: remembers which of fds 0–2 are terminals, and at exit closes those whose
 * terminal has hung up (isatty fails on them: EIO). */
export function releaseHungUpTerminalsAtExit(): void {
  const terminals = STDIO.filter((fd) => tty.isatty(fd));
  if (terminals.length === 0) return;
  process.once('exit', () => {
    for (const fd of terminals) {
      if (tty.isatty(fd)) continue;
      try {
        fs.closeSync(fd);
      } catch {
        // already closed: ResetStdio skips it as well
      }
    }
  });
}

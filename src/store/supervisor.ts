// `cdrex serve` and `cdrex worker` watch the embedded PostgreSQL they share: every few seconds,
// and on a lost connection, they look at its postmaster.pid; when its postmaster is dead, the
// first process to notice restarts it under the cluster's lock (the others find it alive and
// leave it alone) and waits, without a deadline, while crash recovery runs. The pools need
// nothing: node-postgres opens new connections to the same port once the server is back.
import type { Logger } from '../log.js';
import { embeddedAlive, restartEmbeddedIfDown } from './embedded.js';

/** How often the postmaster is looked at; a failed restart is retried at the same pace. */
export const SUPERVISE_EVERY_MS = 2000;

export interface Supervisor {
  /** Looks now (called on connection errors); does nothing while a check or restart runs. */
  check(): void;
  stop(): void;
}

export function superviseEmbedded(dataDir: string, log: Logger, everyMs = SUPERVISE_EVERY_MS): Supervisor {
  let busy = false;
  let stopped = false;
  let toldStopped = false;
  const tick = async () => {
    if (embeddedAlive(dataDir)) {
      toldStopped = false;
      return;
    }
    const outcome = await restartEmbeddedIfDown(dataDir, log);
    if (outcome === 'stopped-by-operator') {
      if (!toldStopped)
        log.warn('the embedded PostgreSQL was stopped by `cdrex db stop`; not restarting it until a start');
      toldStopped = true;
    } else if (outcome === 'restarted-by-another') {
      log.info('another cdrex process restarted the embedded PostgreSQL');
    }
  };
  const check = () => {
    if (busy || stopped) return;
    busy = true;
    tick()
      .catch((err: unknown) =>
        log.error({ err }, 'restarting the embedded PostgreSQL failed; trying again in a few seconds'),
      )
      .finally(() => (busy = false));
  };
  const timer = setInterval(check, everyMs);
  timer.unref();
  return {
    check,
    stop() {
      stopped = true;
      clearInterval(timer);
    },
  };
}

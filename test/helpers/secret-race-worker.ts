// One of several threads that start cdrex's once-per-data-directory secrets at the same moment
// (test/unit/secret-files.test.ts): each round it waits for the main thread's signal, then reads
// or makes the master key and the roles' passwords in that round's directory, and reports them.
import { parentPort, workerData } from 'node:worker_threads';
import { loadMasterKey } from '../../src/accounts/secrets.js';
import type { Config } from '../../src/config.js';
import { rolePasswords } from '../../src/store/roles.js';

const { signal, dirs } = workerData as { signal: SharedArrayBuffer; dirs: string[] };
const round = new Int32Array(signal);

for (let r = 0; r < dirs.length; r++) {
  Atomics.wait(round, 0, r); // until the main thread moves the round on to r + 1
  try {
    const key = loadMasterKey({ dataDir: dirs[r] } as Config).toString('hex');
    const roles = rolePasswords('postgres://postgres@127.0.0.1:5432/x', dirs[r]);
    parentPort!.postMessage({ round: r, secrets: JSON.stringify({ key, roles }) });
  } catch (err) {
    parentPort!.postMessage({ round: r, error: String(err) });
  }
}

// The spool sweep at start (decisions.md "Spool files"): the directories of processes that no
// longer run go, a zombie counts as dead, this process's own pid (a previous life's, since the
// sweep runs before anything is spooled) goes; a live process's directory, and anything not
// named by a pid, stay.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import { processAlive, spoolDir, sweepSpool } from '../../src/ingest/spool.js';

const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cdrex-spool-'));
after(() => fs.rmSync(dataDir, { recursive: true, force: true }));

function leave(dir: string) {
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'left.copy'), 'rows\n');
}

test('the sweep removes dead, zombie and own-pid spool directories, and only those', async () => {
  const dead = await new Promise<number>((resolve) => {
    const gone = spawn(process.execPath, ['-e', '0']);
    gone.on('exit', () => resolve(gone.pid!));
  });
  // A zombie: the shell execs into a sleep that never reaps the child it inherited.
  const parent = spawn('sh', ['-c', 'sleep 0 & exec sleep 30'], { stdio: 'ignore' });
  after(() => parent.kill('SIGKILL'));
  let zombie = 0;
  for (const deadline = Date.now() + 10_000; !zombie; await new Promise((r) => setTimeout(r, 20))) {
    assert.ok(Date.now() < deadline, 'timed out waiting for a zombie child');
    const children = fs.readFileSync(`/proc/${parent.pid}/task/${parent.pid}/children`, 'utf8').trim();
    const pid = Number(children.split(/\s+/)[0]);
    const stat = pid ? fs.readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
    if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) zombie = pid;
  }
  assert.equal(processAlive(zombie), false, 'a zombie is not alive');
  assert.equal(processAlive(parent.pid!), true);

  for (const pid of [dead, zombie, process.pid, parent.pid!]) leave(spoolDir(dataDir, pid));
  leave(path.join(dataDir, 'spool', 'not-a-pid'));

  const removed = await sweepSpool(dataDir);
  assert.deepEqual(removed.map((d) => Number(path.basename(d))).sort(), [dead, zombie, process.pid].sort());
  assert.equal(fs.existsSync(spoolDir(dataDir, parent.pid!)), true, "a live process's directory stays");
  assert.equal(fs.existsSync(path.join(dataDir, 'spool', 'not-a-pid', 'left.copy')), true);
  // Nothing to sweep, or no spool directory at all: no error.
  assert.deepEqual(await sweepSpool(dataDir), []);
  assert.deepEqual(await sweepSpool(path.join(dataDir, 'absent')), []);
});

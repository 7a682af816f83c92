// Runs the real `cdrex` command as a user would.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Writable } from 'node:stream';
import { after } from 'node:test';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CDREX_BIN = path.join(ROOT, 'bin', 'cdrex.js');
/** Where an embedded cluster lives when cdrex runs as root (src/store/embedded.ts), not in the
 * data directory: tests clean up and look for clusters there. */
export const ROOT_CLUSTERS_DIR = '/var/lib/cdrex/clusters';

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `cdrex args…` to its exit. `stdin` is written whole and ended, or, as a function, given
 * the child's stdin to write and end as it likes (an input that arrives slowly, or never ends). */
export function cdrex(
  args: string[],
  env: NodeJS.ProcessEnv,
  stdin?: Buffer | string | ((input: Writable) => void),
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CDREX_BIN, ...args], {
      env: { ...process.env, LOG_LEVEL: 'warn', ...env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('exit', (code) => resolve({ code, stdout, stderr }));
    // A child that exits before reading all of its input must not fail the test with EPIPE.
    child.stdin.on('error', () => {});
    if (typeof stdin === 'function') stdin(child.stdin);
    else if (stdin !== undefined) child.stdin.end(stdin);
    else child.stdin.end();
  });
}

/** The single JSON line a command prints on stdout. */
export function summary(result: CliResult): Record<string, unknown> {
  const lines = result.stdout.trim().split('\n').filter(Boolean);
  if (lines.length !== 1)
    throw new Error(`expected one JSON line on stdout, got: ${result.stdout}\n${result.stderr}`);
  return JSON.parse(lines[0]) as Record<string, unknown>;
}

/** A long-running `cdrex` (serve, worker) whose JSON log lines on stderr are collected; killed
 * when the test file ends. */
export function spawnCdrex(args: string[], env: NodeJS.ProcessEnv): SpawnedCdrex {
  const proc = spawn(process.execPath, [CDREX_BIN, ...args], {
    env: { ...process.env, ...env, LOG_LEVEL: 'info' },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const logs: Record<string, unknown>[] = [];
  const lastLines: string[] = [];
  let rest = '';
  // Logs go to stderr (stdout is for the commands' JSON summaries).
  proc.stderr!.on('data', (d: Buffer) => {
    const lines = (rest + d.toString()).split('\n');
    rest = lines.pop()!;
    for (const line of lines) {
      lastLines.push(line);
      if (lastLines.length > TAIL_LINES) lastLines.shift();
      try {
        logs.push(JSON.parse(line) as Record<string, unknown>);
      } catch {
        // not a log line
      }
    }
  });
  after(() => {
    proc.kill('SIGKILL');
  });
  return { proc, logs, tail: () => [...lastLines, rest].join('\n').trim() };
}

const TAIL_LINES = 20;

/** A `cdrex serve` or `worker` a test started; `tail` is the end of its stderr, for failures. */
export interface SpawnedCdrex {
  proc: ChildProcess;
  logs: Record<string, unknown>[];
  tail: () => string;
}

/** Whether script(1) is here, for the tests that give a command a terminal. */
export function hasScript(): boolean {
  try {
    execFileSync('script', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

// The database roles cdrex connects as (docs/security.md):
// - the owner, from DATABASE_URL (or the embedded cluster's bootstrap role): migrations and DDL;
// - cdrex_app: every read or write on behalf of an account, under forced row-level security;
//   not superuser, no BYPASSRLS, CREATEROLE or CREATEDB, owns nothing;
// - cdrex_worker: claims jobs, bulk loads, maintenance; BYPASSRLS, nothing more.
// When the owner may create roles, cdrex creates the other two itself. Their passwords are
// derived from the owner's (an HMAC), so every cdrex process that holds the owner's URL agrees on
// them without a file to share; an owner URL without a password gets random ones, kept in
// <data dir>/roles.json (0600). Otherwise CDREX_APP_DATABASE_URL and CDREX_WORKER_DATABASE_URL
// name them, and `cdrex db roles --print-sql` prints what a DBA runs.
import { createHmac, randomBytes } from 'node:crypto';
import path from 'node:path';
import pg from 'pg';
import { createOnce, replaceFile } from '../secret-files.js';
import { isCatalogRace, retrying } from './retry.js';

export const APP_ROLE = 'cdrex_app';
export const WORKER_ROLE = 'cdrex_worker';

export interface RoleUrls {
  owner: string;
  app: string;
  worker: string;
}

export class RolesError extends Error {}

const ROLE_ATTRIBUTES = {
  [APP_ROLE]: 'login nosuperuser nocreatedb nocreaterole noreplication nobypassrls noinherit',
  [WORKER_ROLE]: 'login nosuperuser nocreatedb nocreaterole noreplication bypassrls noinherit',
} as const;

type RoleName = keyof typeof ROLE_ATTRIBUTES;
const ROLES = Object.keys(ROLE_ATTRIBUTES) as RoleName[];

/** The statements that create (or fix) one role; the password travels as a bind parameter
 * through format(%L) on the server, never as SQL text built here. */
async function ensureRole(client: pg.ClientBase, role: RoleName, password: string): Promise<void> {
  // Two processes creating the same role at once: the loser sees a duplicate, or a row updated
  // under it; the statements check before they write, so it tries again.
  await retrying(async () => {
    try {
      await client.query(
        `select set_config('cdrex.role_password', $1::text, false)`, // read back below, then reset
        [password],
      );
      await client.query(`do $$
        begin
          if not exists (select 1 from pg_roles where rolname = '${role}') then
            execute format('create role ${role} ${ROLE_ATTRIBUTES[role]} password %L',
                           current_setting('cdrex.role_password'));
          else
            execute format('alter role ${role} ${ROLE_ATTRIBUTES[role]} password %L',
                           current_setting('cdrex.role_password'));
          end if;
        end $$`);
    } finally {
      await client.query(`select set_config('cdrex.role_password', '', false)`).catch(() => {});
    }
  }, isCatalogRace);
}

function withCredentials(url: string, user: string, password: string): string {
  const u = new URL(url);
  u.username = encodeURIComponent(user);
  u.password = encodeURIComponent(password);
  return u.toString();
}

/** A stored roles.json, or nothing usable in it (a file edited by hand, from an older cdrex). */
function parsePasswords(text: string): Partial<Record<RoleName, string>> {
  try {
    const parsed = JSON.parse(text) as unknown;
    return parsed && typeof parsed === 'object' ? (parsed as Partial<Record<RoleName, string>>) : {};
  } catch {
    return {};
  }
}

/**
 * The two roles' passwords: derived from the owner's, or, for an owner URL without one, random
 * and kept in <data dir>/roles.json, which every process started on that directory agrees on
 * (secret-files.ts). Exported for the test that starts several at once.
 */
export function rolePasswords(ownerUrl: string, dataDir: string): Record<RoleName, string> {
  const ownerPassword = decodeURIComponent(new URL(ownerUrl).password);
  if (ownerPassword) {
    const derive = (role: string) =>
      createHmac('sha256', ownerPassword).update(`cdrex role ${role}`).digest('hex');
    return { [APP_ROLE]: derive(APP_ROLE), [WORKER_ROLE]: derive(WORKER_ROLE) };
  }
  const random = () => randomBytes(24).toString('hex');
  const file = path.join(dataDir, 'roles.json');
  const asJson = (p: Record<RoleName, string>) => JSON.stringify(p, null, 2);
  const stored = parsePasswords(
    createOnce(file, () => asJson({ [APP_ROLE]: random(), [WORKER_ROLE]: random() })),
  );
  const usable = (p: unknown): p is string => typeof p === 'string' && p !== '';
  const app = stored[APP_ROLE];
  const worker = stored[WORKER_ROLE];
  if (usable(app) && usable(worker)) return { [APP_ROLE]: app, [WORKER_ROLE]: worker };
  // A file without both: completed once, keeping the password it has.
  const completed = {
    [APP_ROLE]: usable(app) ? app : random(),
    [WORKER_ROLE]: usable(worker) ? worker : random(),
  };
  replaceFile(file, asJson(completed));
  return completed;
}

/** Whether the owner can create the worker role (BYPASSRLS needs a superuser before PG 16). */
async function mayCreateRoles(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(
    `select r.rolsuper or (r.rolcreaterole and r.rolbypassrls
              and current_setting('server_version_num')::int >= 160000) as ok
       from pg_roles r where r.rolname = current_user`,
  );
  return rows[0]?.ok === true;
}

export interface RoleOptions {
  ownerUrl: string;
  dataDir: string;
  appUrl?: string;
  workerUrl?: string;
}

/** The URLs of the three roles, creating the app and worker roles when the owner may. */
export async function resolveRoles(options: RoleOptions): Promise<RoleUrls> {
  if (options.appUrl && options.workerUrl) {
    return { owner: options.ownerUrl, app: options.appUrl, worker: options.workerUrl };
  }
  const client = new pg.Client({ connectionString: options.ownerUrl });
  client.on('error', () => {}); // a dropped connection fails the query in flight; it must not end the process
  await client.connect();
  try {
    if (!(await mayCreateRoles(client))) {
      throw new RolesError(
        'The DATABASE_URL role may not create the cdrex_app and cdrex_worker roles. Have a DBA run ' +
          'the SQL that `cdrex db roles --print-sql` prints, then set CDREX_APP_DATABASE_URL and ' +
          'CDREX_WORKER_DATABASE_URL.',
      );
    }
    const passwords = rolePasswords(options.ownerUrl, options.dataDir);
    for (const role of ROLES) await ensureRole(client, role, passwords[role]);
    return {
      owner: options.ownerUrl,
      app: options.appUrl ?? withCredentials(options.ownerUrl, APP_ROLE, passwords[APP_ROLE]),
      worker: options.workerUrl ?? withCredentials(options.ownerUrl, WORKER_ROLE, passwords[WORKER_ROLE]),
    };
  } finally {
    await client.end().catch(() => {});
  }
}

/** What a DBA runs to create the roles by hand (`cdrex db roles --print-sql`). */
export function rolesSql(): string {
  return [
    '-- Run as a superuser, with passwords of your choice; then set CDREX_APP_DATABASE_URL and',
    '-- CDREX_WORKER_DATABASE_URL to URLs that log in as these roles, and run `cdrex migrate`.',
    ...ROLES.map((role) => `create role ${role} ${ROLE_ATTRIBUTES[role]} password '<choose one>';`),
    `grant connect on database <your database> to ${ROLES.join(', ')};`,
  ].join('\n');
}

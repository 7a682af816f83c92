// DIDWW API versions (X-DIDWW-API-Version) and what each changes in the export resource.
export const DEFAULT_VERSION = '2021-12-15';
export const CURRENT_VERSION = '2026-04-16';
export const LEGACY_VERSION = '2017-09-18';
export const SUPPORTED_VERSIONS = [DEFAULT_VERSION, '2022-05-10', CURRENT_VERSION];

/** 2026-04-16 writes statuses and callback methods in lowercase and returns filters. */
export function isCurrent(version: string): boolean {
  return version === CURRENT_VERSION;
}

// API keys and their protection at rest. A key is stored twice and never in plain text: its
// SHA-256 (indexed lookup) and an AES-256-GCM ciphertext under the master key, because the
// callback signature is an HMAC keyed with the account's key itself.
import { createCipheriv, createDecipheriv, createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import path from 'node:path';
import type { Config } from '../config.js';
import { createOnce } from '../secret-files.js';

export function generateApiKey(): string {
  return randomBytes(32).toString('base64url');
}

/** A callback secret: as strong as an API key, and a different value, so it can be given to a
 * receiver without granting API access. */
export function generateCallbackSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function generateAccountId(): string {
  return randomBytes(16).toString('hex');
}

export function hashSecret(secret: string): Buffer {
  return createHash('sha256').update(secret, 'utf8').digest();
}

export function sameHash(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The 32-byte master key: CDREX_MASTER_KEY, else one generated once into <data dir>/master.key. */
export function loadMasterKey(config: Config): Buffer {
  if (config.masterKey) return createHash('sha256').update(config.masterKey, 'utf8').digest();
  const file = path.join(config.dataDir, 'master.key');
  const hex = createOnce(file, () => randomBytes(32).toString('hex')).trim();
  // A damaged file would seal new secrets under a short key and open none of the stored ones.
  if (!/^[0-9a-f]{64}$/i.test(hex)) throw new Error(`${file} does not hold a master key (64 hex digits).`);
  return Buffer.from(hex, 'hex');
}

export function encryptSecret(masterKey: Buffer, secret: string): Buffer {
  const iv = randomBytes(12);
  const cipher = createCipheriv('aes-256-gcm', masterKey, iv);
  const body = Buffer.concat([cipher.update(secret, 'utf8'), cipher.final()]);
  return Buffer.concat([iv, cipher.getAuthTag(), body]);
}

export function decryptSecret(masterKey: Buffer, sealed: Buffer): string {
  const decipher = createDecipheriv('aes-256-gcm', masterKey, sealed.subarray(0, 12));
  decipher.setAuthTag(sealed.subarray(12, 28));
  return Buffer.concat([decipher.update(sealed.subarray(28)), decipher.final()]).toString('utf8');
}

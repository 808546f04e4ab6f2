import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { link, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RampartError } from '../platform/errors.ts';

export const SECRET_KEY_FILE = 'secret.key';
export const SECRET_KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;
const FORMAT_VERSION = 'v1';

/**
 * Reads `<stateDir>/secret.key` (32 random bytes, mode 0600), creating it on first use. Creation is
 * atomic and never overwrites: the key is written complete to a private temporary file, then
 * hard-linked into place, which fails if another process got there first (we then use theirs). A
 * reader therefore never sees a half-written key, and two daemons starting together agree on one.
 */
export async function loadOrCreateSecretKey(stateDir: string): Promise<Buffer> {
  const file = join(stateDir, SECRET_KEY_FILE);
  const existing = await readKey(file);
  if (existing) return existing;

  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const temporary = join(
    stateDir,
    `.${SECRET_KEY_FILE}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`,
  );
  await writeFile(temporary, randomBytes(SECRET_KEY_BYTES), { mode: 0o600, flag: 'wx' });
  try {
    await link(temporary, file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  } finally {
    await rm(temporary, { force: true });
  }
  const key = await readKey(file);
  if (!key) throw new Error(`unreachable: ${file} vanished after creation`);
  return key;
}

async function readKey(file: string): Promise<Buffer | undefined> {
  let key: Buffer;
  try {
    key = await readFile(file);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (key.length !== SECRET_KEY_BYTES) {
    throw new RampartError(
      'RAMPART_E_SECRET',
      `${file} holds ${key.length} bytes, not a ${SECRET_KEY_BYTES}-byte key`,
      {
        file,
        fix: `Restore ${file} from a backup; without it the stored secrets cannot be decrypted.`,
      },
    );
  }
  return key;
}

function assertKey(key: Buffer): void {
  if (key.length !== SECRET_KEY_BYTES) {
    throw new RampartError(
      'RAMPART_E_SECRET',
      `secret key must be ${SECRET_KEY_BYTES} bytes, got ${key.length}`,
    );
  }
}

/**
 * AES-256-GCM with a random 96-bit IV per value: `v1:<iv>:<tag>:<ciphertext>`, each part base64.
 * `associatedData` (e.g. `env/owner/key`) is authenticated but not stored, so a ciphertext copied to
 * another row fails to decrypt there; pass the same value to `decryptSecret`.
 */
export function encryptSecret(key: Buffer, plaintext: string, associatedData?: string): string {
  assertKey(key);
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
  if (associatedData !== undefined) cipher.setAAD(Buffer.from(associatedData, 'utf8'));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return [FORMAT_VERSION, iv, cipher.getAuthTag(), ciphertext]
    .map((p) => (typeof p === 'string' ? p : p.toString('base64')))
    .join(':');
}

export function decryptSecret(key: Buffer, text: string, associatedData?: string): string {
  assertKey(key);
  const parts = text.split(':');
  const undecryptable = (why: string) =>
    new RampartError('RAMPART_E_SECRET', `stored secret cannot be decrypted: ${why}`, {
      fix: 'The value was altered or secret.key changed since it was stored; set the secret again.',
    });
  if (parts[0] !== FORMAT_VERSION)
    throw undecryptable(`unknown format '${parts[0]}' (expected ${FORMAT_VERSION})`);
  if (parts.length !== 4) throw undecryptable('malformed value');
  const [iv, tag, ciphertext] = parts.slice(1).map((p) => Buffer.from(p, 'base64')) as [
    Buffer,
    Buffer,
    Buffer,
  ];
  // Node's base64 decoder skips stray characters; insist on the canonical text so any edit is caught.
  if ([iv, tag, ciphertext].some((b, i) => b.toString('base64') !== parts[i + 1]))
    throw undecryptable('malformed value');
  if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw undecryptable('malformed value');
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES });
    if (associatedData !== undefined) decipher.setAAD(Buffer.from(associatedData, 'utf8'));
    decipher.setAuthTag(tag);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch {
    throw undecryptable('authentication failed');
  }
}

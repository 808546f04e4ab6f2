import { randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { RampartError } from '../platform/errors.ts';
import type { ResolvedStack } from '../stack/index.ts';
import type { Store } from '../store/index.ts';

export interface SecretCodec {
  encrypt(plaintext: string): string;
  decrypt(ciphertext: string): string;
}

/** Where a `fromEnv` secret's value is read: the environment of the user who ran `rampart up`. */
export type ClientSecretValues = Readonly<Record<string, string>>;

/**
 * Resolves every secret the stack declares, stores it encrypted, and returns the plaintext for
 * injection. A value already stored is kept when its source is absent now (so `up` from another
 * shell, or a daemon re-adopting replicas, does not lose it); `generate` secrets are made once.
 */
export async function resolveSecrets(opts: {
  stack: ResolvedStack;
  store: Store;
  codec: SecretCodec;
  clientEnv: ClientSecretValues;
  now: number;
}): Promise<Record<string, Record<string, string>>> {
  const { stack, store, codec } = opts;
  const stored = new Map<string, string>();
  for (const r of await store.listSecrets(stack.environment))
    stored.set(`${r.owner}\u0000${r.key}`, r.ciphertext);
  const out: Record<string, Record<string, string>> = {};
  const missing: string[] = [];
  const writes: { owner: string; key: string; value: string }[] = [];
  for (const service of stack.services) {
    for (const ref of service.secrets) {
      const previous = stored.get(`${service.name}\u0000${ref.key}`);
      let value: string | undefined;
      const source = ref.source;
      if ('fromEnv' in source) value = opts.clientEnv[source.fromEnv];
      else if ('fromFile' in source) {
        value = await readFile(source.fromFile, 'utf8').then(
          (t) => t.replace(/\r?\n$/, ''),
          () => undefined,
        );
      } else if (previous === undefined) value = randomBytes(source.generate).toString('base64url');
      if (value === undefined && previous !== undefined) value = codec.decrypt(previous);
      if (value === undefined) {
        missing.push(
          `services.${service.name}.secrets.${ref.key}: ${'fromEnv' in source ? `environment variable ${source.fromEnv} is not set` : `cannot read ${'fromFile' in source ? source.fromFile : ''}`}`,
        );
        continue;
      }
      (out[service.name] ??= {})[ref.key] = value;
      if (previous === undefined || codec.decrypt(previous) !== value)
        writes.push({ owner: service.name, key: ref.key, value });
    }
  }
  if (missing.length > 0) {
    throw new RampartError('RAMPART_E_SECRET', `missing secret values:\n${missing.join('\n')}`, {
      file: stack.file,
      fix: 'set the environment variable in the shell that runs `rampart up`, or create the file',
    });
  }
  for (const w of writes) {
    await store.putSecret(
      { environment: stack.environment, owner: w.owner, key: w.key, ciphertext: codec.encrypt(w.value) },
      opts.now,
    );
  }
  return out;
}

/**
 * Passwords for the database superuser and each database user, generated once and kept
 * (encrypted) so the data directory and its roles stay usable across `down`/`up`.
 */
export async function ensureDatabasePasswords(opts: {
  stack: ResolvedStack;
  store: Store;
  codec: SecretCodec;
  now: number;
}): Promise<{ superuser: Record<string, string>; users: Record<string, Record<string, string>> }> {
  const { stack, store, codec } = opts;
  const superuser: Record<string, string> = {};
  const users: Record<string, Record<string, string>> = {};
  for (const db of stack.databases) {
    const owner = `database:${db.name}`;
    const existing = new Map(
      (await store.listSecrets(stack.environment, owner)).map((r) => [r.key, codec.decrypt(r.ciphertext)]),
    );
    const get = async (key: string): Promise<string> => {
      const found = existing.get(key);
      if (found !== undefined) return found;
      const value = randomBytes(24).toString('base64url');
      await store.putSecret(
        { environment: stack.environment, owner, key, ciphertext: codec.encrypt(value) },
        opts.now,
      );
      return value;
    };
    superuser[db.name] = await get('__superuser');
    for (const service of db.users) (users[db.name] ??= {})[service] = await get(service);
  }
  return { superuser, users };
}

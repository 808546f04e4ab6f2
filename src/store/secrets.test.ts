import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decryptSecret, encryptSecret, loadOrCreateSecretKey } from './secrets.ts';

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rampart-secrets-'));
  dirs.push(dir);
  return dir;
}
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});

describe('loadOrCreateSecretKey', () => {
  it('GIVEN an empty state dir WHEN loaded THEN it creates a 32-byte key with mode 0600 and returns the same key next time', async () => {
    const dir = await tempDir();
    const key = await loadOrCreateSecretKey(dir);
    assert.equal(key.length, 32);
    const info = await stat(join(dir, 'secret.key'));
    assert.equal(info.mode & 0o777, 0o600);
    assert.deepEqual(await loadOrCreateSecretKey(dir), key);
    assert.deepEqual(await readdir(dir), ['secret.key'], 'no temporary file is left behind');
  });

  it('GIVEN a missing state dir WHEN loaded THEN it creates the directory too', async () => {
    const dir = join(await tempDir(), 'nested', 'home');
    assert.equal((await loadOrCreateSecretKey(dir)).length, 32);
  });

  it('GIVEN many concurrent first loads WHEN they race THEN all get the one key that was stored', async () => {
    const dir = await tempDir();
    const keys = await Promise.all(Array.from({ length: 20 }, () => loadOrCreateSecretKey(dir)));
    const stored = await readFile(join(dir, 'secret.key'));
    for (const key of keys) assert.deepEqual(key, stored);
  });

  it('GIVEN a truncated key file WHEN loaded THEN RAMPART_E_SECRET names the file', async () => {
    const dir = await tempDir();
    await writeFile(join(dir, 'secret.key'), Buffer.alloc(7));
    await assert.rejects(loadOrCreateSecretKey(dir), {
      code: 'RAMPART_E_SECRET',
      message: `${join(dir, 'secret.key')} holds 7 bytes, not a 32-byte key`,
    });
  });
});

describe('encryptSecret / decryptSecret', () => {
  const key = Buffer.alloc(32, 7);

  it('GIVEN a plaintext WHEN encrypted THEN the text is v1:<iv>:<tag>:<ct> and decrypts back', () => {
    const plaintext = 'pässwörd 🔑 with: colons';
    const text = encryptSecret(key, plaintext);
    assert.match(text, /^v1:[A-Za-z0-9+/=]{16}:[A-Za-z0-9+/=]{24}:[A-Za-z0-9+/=]+$/);
    assert.ok(!text.includes('pässwörd'));
    assert.equal(decryptSecret(key, text), plaintext);
  });

  it('GIVEN the same plaintext twice WHEN encrypted THEN the IVs differ', () => {
    assert.notEqual(encryptSecret(key, 'x'), encryptSecret(key, 'x'));
  });

  it('GIVEN an empty plaintext WHEN round-tripped THEN it stays empty', () => {
    assert.equal(decryptSecret(key, encryptSecret(key, '')), '');
  });

  it('GIVEN a flipped ciphertext byte WHEN decrypted THEN RAMPART_E_SECRET', () => {
    const [v, iv, tag, ct] = encryptSecret(key, 'secret value').split(':') as [
      string,
      string,
      string,
      string,
    ];
    const bytes = Buffer.from(ct, 'base64');
    bytes[0] = (bytes[0] ?? 0) ^ 1;
    assert.throws(() => decryptSecret(key, [v, iv, tag, bytes.toString('base64')].join(':')), {
      code: 'RAMPART_E_SECRET',
      message: 'stored secret cannot be decrypted: authentication failed',
    });
  });

  it('GIVEN a modified tag or a non-canonical part WHEN decrypted THEN RAMPART_E_SECRET', () => {
    const text = encryptSecret(key, 'secret value');
    const [v, iv, tag, ct] = text.split(':') as [string, string, string, string];
    const badTag = Buffer.from(tag, 'base64');
    badTag[15] = (badTag[15] ?? 0) ^ 0x80;
    assert.throws(() => decryptSecret(key, [v, iv, badTag.toString('base64'), ct].join(':')), {
      code: 'RAMPART_E_SECRET',
    });
    assert.throws(() => decryptSecret(key, `${text}!`), {
      code: 'RAMPART_E_SECRET',
      message: /malformed value/,
    });
  });

  it('GIVEN another key WHEN decrypted THEN RAMPART_E_SECRET', () => {
    assert.throws(() => decryptSecret(Buffer.alloc(32, 8), encryptSecret(key, 'v')), {
      code: 'RAMPART_E_SECRET',
    });
  });

  it('GIVEN an unknown version or a malformed value WHEN decrypted THEN RAMPART_E_SECRET says which', () => {
    assert.throws(() => decryptSecret(key, 'v9:a:b:c'), {
      code: 'RAMPART_E_SECRET',
      message: "stored secret cannot be decrypted: unknown format 'v9' (expected v1)",
    });
    assert.throws(() => decryptSecret(key, 'v1:abc'), {
      code: 'RAMPART_E_SECRET',
      message: /malformed value/,
    });
  });

  it('GIVEN associated data WHEN the ciphertext is used under another row THEN it does not decrypt', () => {
    const text = encryptSecret(key, 'v', 'prod/orders/API_KEY');
    assert.equal(decryptSecret(key, text, 'prod/orders/API_KEY'), 'v');
    assert.throws(() => decryptSecret(key, text, 'prod/billing/API_KEY'), { code: 'RAMPART_E_SECRET' });
  });

  it('GIVEN a key of the wrong size WHEN used THEN RAMPART_E_SECRET', () => {
    assert.throws(() => encryptSecret(Buffer.alloc(16), 'v'), { code: 'RAMPART_E_SECRET' });
  });
});

import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from './sqlite.ts';
import { openStore } from './open.ts';
import { runStoreContract } from './store.contract.ts';
import type { Store } from './types.ts';

const dirs: string[] = [];
after(async () => {
  for (const dir of dirs) await rm(dir, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'rampart-store-'));
  dirs.push(dir);
  return dir;
}

const fileOf = new WeakMap<Store, string>();
async function fileStore(file: string): Promise<Store> {
  const store = await openSqliteStore({ file });
  fileOf.set(store, file);
  return store;
}

runStoreContract('sqlite file', async () => fileStore(join(await tempDir(), 'state.db')), {
  openAgain: (store) => fileStore(fileOf.get(store) as string),
});

runStoreContract('sqlite :memory:', () => openSqliteStore({ file: ':memory:' }));

describe('sqlite store specifics', () => {
  it('GIVEN a new state file WHEN opened THEN it is in WAL mode and readable only by its owner', async () => {
    const file = join(await tempDir(), 'state.db');
    const store = await openSqliteStore({ file });
    await store.migrate();
    await store.close();
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(file, { readonly: true });
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
  });

  it('GIVEN a schema newer than this code WHEN migrated THEN RAMPART_E_STORE says to upgrade', async () => {
    const file = join(await tempDir(), 'state.db');
    const { default: Database } = await import('better-sqlite3');
    const db = new Database(file);
    db.exec(
      'CREATE TABLE rampart_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at BIGINT NOT NULL)',
    );
    db.prepare('INSERT INTO rampart_migrations VALUES (999, ?, 0)').run('from the future');
    db.close();
    const store = await openSqliteStore({ file });
    await assert.rejects(store.migrate(), {
      code: 'RAMPART_E_STORE',
      message: /schema version 999, newer than this Rampart knows/,
    });
    await store.close();
  });

  it('GIVEN a file that is not a database WHEN migrated THEN RAMPART_E_STORE names the file', async () => {
    const dir = await tempDir();
    const file = join(dir, 'state.db');
    const { writeFile } = await import('node:fs/promises');
    await writeFile(
      file,
      'this is not sqlite, but long enough to have a header of 100 bytes..................................',
    );
    await assert.rejects(
      (async () => {
        const store = await openSqliteStore({ file });
        try {
          await store.migrate();
        } finally {
          await store.close();
        }
      })(),
      { code: 'RAMPART_E_STORE', message: new RegExp(file.replace(/[/.]/g, '\\$&')) },
    );
  });
});

describe('openStore', () => {
  it('GIVEN no url WHEN opened THEN it uses <stateDir>/state.db, creating the directory', async () => {
    const stateDir = join(await tempDir(), 'home');
    const store = await openStore({ stateDir });
    await store.migrate();
    await store.close();
    assert.ok((await stat(join(stateDir, 'state.db'))).isFile());
  });

  it('GIVEN an unsupported scheme WHEN opened THEN RAMPART_E_STORE says which schemes work', async () => {
    await assert.rejects(openStore({ url: 'mysql://u:p@h/db', stateDir: '/nonexistent' }), {
      code: 'RAMPART_E_STORE',
      message: "RAMPART_DATABASE_URL has the unsupported scheme 'mysql:'",
    });
  });

  it('GIVEN a garbage url WHEN opened THEN RAMPART_E_STORE, without echoing a password', async () => {
    await assert.rejects(openStore({ url: 'not a url', stateDir: '/nonexistent' }), {
      code: 'RAMPART_E_STORE',
    });
  });
});

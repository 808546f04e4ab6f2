import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openPostgresStore, openStore } from '../../src/store/index.ts';
import { runStoreContract } from '../../src/store/store.contract.ts';
import type { Store } from '../../src/store/index.ts';
import {
  postgresTestSkipReason,
  startPostgresForTest,
  type TestPostgres,
} from '../../src/testing/postgres.ts';

const skip = postgresTestSkipReason();

let server: TestPostgres | undefined;
before(async () => {
  if (!skip) server = await startPostgresForTest();
});
after(async () => {
  await server?.stop();
});

/** Each store gets a database of its own, so cases never see each other's rows. */
async function freshDatabaseUrl(): Promise<string> {
  if (!server) throw new Error('server not started');
  const name = `t_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: server.url });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
  const url = new URL(server.url);
  url.pathname = `/${name}`;
  return url.toString();
}

const urlOf = new WeakMap<Store, string>();
async function storeAt(url: string): Promise<Store> {
  const store = await openPostgresStore({ url });
  urlOf.set(store, url);
  return store;
}

if (skip) {
  it('PostgreSQL store contract', { skip }, () => {});
} else {
  runStoreContract('postgres', async () => storeAt(await freshDatabaseUrl()), {
    openAgain: (store) => storeAt(urlOf.get(store) as string),
  });

  describe('postgres store specifics', () => {
    it('GIVEN a cockroachdb:// url WHEN opened through openStore THEN the pg driver serves it', async () => {
      const url = (await freshDatabaseUrl()).replace(/^postgres:/, 'cockroachdb:');
      const store = await openStore({ url, stateDir: '/nonexistent' });
      try {
        await store.migrate();
        await store.putDeployment({ environment: 'prod', stackFile: '/s.yaml', spec: {}, network: {} }, 1);
        assert.equal((await store.listDeployments()).length, 1);
      } finally {
        await store.close();
      }
    });

    it('GIVEN a wrong password WHEN used THEN RAMPART_E_STORE without the password in the message', async () => {
      const url = new URL(await freshDatabaseUrl());
      url.password = 'wrong-password-xyz';
      const store = await openPostgresStore({ url: url.toString() });
      try {
        await assert.rejects(store.migrate(), (error: Error & { code?: string }) => {
          assert.equal(error.code, 'RAMPART_E_STORE');
          assert.ok(!error.message.includes('wrong-password-xyz'), error.message);
          assert.match(error.message, /password authentication failed/);
          return true;
        });
      } finally {
        await store.close();
      }
    });

    it('GIVEN a migrated database WHEN inspected THEN documents are JSONB and versions are recorded once', async () => {
      const url = await freshDatabaseUrl();
      const store = await openPostgresStore({ url });
      await store.migrate();
      await store.migrate();
      await store.close();
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      try {
        const versions = await client.query('SELECT version FROM rampart_migrations');
        assert.deepEqual(versions.rows.map((r: { version: number }) => r.version).sort(), [1, 2]);
        const types = await client.query(
          "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'deployments' AND column_name IN ('spec', 'network') ORDER BY column_name",
        );
        assert.deepEqual(types.rows, [
          { column_name: 'network', data_type: 'jsonb' },
          { column_name: 'spec', data_type: 'jsonb' },
        ]);
      } finally {
        await client.end();
      }
    });
  });
}

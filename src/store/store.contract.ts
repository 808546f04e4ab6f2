import { afterEach, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ReplicaRecord, Store } from './types.ts';

export interface StoreContractOptions {
  /**
   * For durable drivers: opens another Store over the same backing as `store` (which may still be
   * open, or closed). Enables the reopen and concurrent-migration cases.
   */
  openAgain?: (store: Store) => Promise<Store>;
}

/**
 * The behaviour every Store driver must have. `makeStore` returns a store over a fresh, empty
 * backing, not yet migrated; every case gets its own and closes it.
 */
export function runStoreContract(
  name: string,
  makeStore: () => Promise<Store>,
  options: StoreContractOptions = {},
): void {
  describe(`Store contract: ${name}`, () => {
    const open: Store[] = [];
    afterEach(async () => {
      for (const s of open.splice(0)) await s.close();
    });
    const fresh = async (): Promise<Store> => {
      const s = await makeStore();
      open.push(s);
      await s.migrate();
      return s;
    };

    const replica = (over: Partial<ReplicaRecord> = {}): ReplicaRecord => ({
      environment: 'prod',
      namespace: 'shop',
      service: 'web',
      index: 0,
      state: 'running',
      healthy: true,
      pid: 4242,
      pidStartTime: 123_456_789,
      restarts: 0,
      addresses: { app: '198.18.0.5' },
      netns: 'rampart-prod-shop-web-0',
      logFile: '/var/lib/rampart/logs/prod/web-0.log',
      updatedAt: 1000,
      ...over,
    });

    const event = (over: { environment?: string; time?: number; kind?: string; data?: unknown } = {}) => ({
      time: over.time ?? 1000,
      environment: over.environment ?? 'prod',
      kind: over.kind ?? 'replica.transition',
      subject: 'prod/web-0',
      message: 'starting -> running',
      data: 'data' in over ? over.data : { from: 'starting', to: 'running' },
    });

    describe('migrate', () => {
      it('GIVEN a migrated store WHEN migrate runs again THEN it succeeds and keeps the data', async () => {
        const s = await fresh();
        await s.putDeployment({ environment: 'prod', stackFile: '/s.yaml', spec: { a: 1 }, network: {} }, 1);
        await s.migrate();
        await s.migrate();
        assert.equal((await s.listDeployments()).length, 1);
      });

      if (options.openAgain) {
        const openAgain = options.openAgain;
        it('GIVEN two stores on one fresh backing WHEN both migrate at once THEN both succeed and the schema works', async () => {
          const a = await makeStore();
          open.push(a);
          const b = await openAgain(a);
          open.push(b);
          await Promise.all([a.migrate(), b.migrate()]);
          await a.putSecret({ environment: 'prod', owner: 'web', key: 'K', ciphertext: 'c' }, 1);
          assert.equal((await b.listSecrets('prod')).length, 1);
        });
      }
    });

    describe('deployments', () => {
      it('GIVEN nothing stored WHEN getDeployment THEN undefined, and listDeployments is empty', async () => {
        const s = await fresh();
        assert.equal(await s.getDeployment('prod'), undefined);
        assert.deepEqual(await s.listDeployments(), []);
      });

      it('GIVEN a deployment WHEN put again THEN it is replaced, createdAt kept and updatedAt moved', async () => {
        const s = await fresh();
        await s.putDeployment(
          { environment: 'prod', stackFile: '/a.yaml', spec: { v: 1 }, network: { cidr: '198.18.0.0/24' } },
          100,
        );
        await s.putDeployment(
          { environment: 'prod', stackFile: '/b.yaml', spec: { v: 2 }, network: { cidr: '198.18.1.0/24' } },
          200,
        );
        assert.deepEqual(await s.getDeployment('prod'), {
          environment: 'prod',
          stackFile: '/b.yaml',
          spec: { v: 2 },
          network: { cidr: '198.18.1.0/24' },
          createdAt: 100,
          updatedAt: 200,
        });
        assert.equal((await s.listDeployments()).length, 1);
      });

      it('GIVEN several environments WHEN listed THEN they come sorted by name (code-unit order)', async () => {
        const s = await fresh();
        for (const env of ['staging', 'a-b', 'prod', 'ab', 'dev']) {
          await s.putDeployment({ environment: env, stackFile: '/s.yaml', spec: {}, network: {} }, 1);
        }
        assert.deepEqual(
          (await s.listDeployments()).map((d) => d.environment),
          ['a-b', 'ab', 'dev', 'prod', 'staging'],
        );
      });

      it('GIVEN two environments WHEN one is deleted THEN the other remains, and deleting again is a no-op', async () => {
        const s = await fresh();
        await s.putDeployment({ environment: 'prod', stackFile: '/s.yaml', spec: {}, network: {} }, 1);
        await s.putDeployment({ environment: 'dev', stackFile: '/s.yaml', spec: {}, network: {} }, 1);
        await s.deleteDeployment('prod');
        await s.deleteDeployment('prod');
        assert.deepEqual(
          (await s.listDeployments()).map((d) => d.environment),
          ['dev'],
        );
        assert.equal(await s.getDeployment('prod'), undefined);
      });
    });

    describe('JSON documents', () => {
      const awkward = {
        text: 'quotes " and \\ backslash, newline\n, tab\t, unicode é ü 日本 🚀, html <b>&amp;</b>',
        numbers: [0, -1, 0.1, 1.5e-7, 2 ** 53 - 1, -(2 ** 53 - 1), 1e21, 123456.789],
        nested: { deep: { deeper: [{ a: [] }, {}, [[]], null] } },
        booleans: [true, false],
        nothing: null,
        emptyString: '',
        emptyObject: {},
        emptyArray: [],
        'key with spaces': 1,
        ключ: 'значение',
      };

      it('GIVEN awkward JSON WHEN stored as a deployment spec THEN it reads back deep-equal', async () => {
        const s = await fresh();
        await s.putDeployment(
          { environment: 'prod', stackFile: '/s.yaml', spec: awkward, network: [1, 'two', null] },
          1,
        );
        const got = await s.getDeployment('prod');
        assert.deepStrictEqual(got?.spec, awkward);
        assert.deepStrictEqual(got?.network, [1, 'two', null]);
      });

      it('GIVEN event data of every JSON kind WHEN appended THEN each reads back exactly', async () => {
        const s = await fresh();
        const values: unknown[] = [awkward, null, 'just a string', 42, -0.5, true, [], {}, ['a', { b: 'c' }]];
        for (const data of values) await s.appendEvent(event({ data }));
        assert.deepStrictEqual(
          (await s.listEvents({})).map((e) => e.data),
          values,
        );
      });

      it('GIVEN undefined event data WHEN appended THEN it reads back as null', async () => {
        const s = await fresh();
        await s.appendEvent(event({ data: undefined }));
        assert.equal((await s.listEvents({}))[0]?.data, null);
      });
    });

    describe('replicas', () => {
      it('GIVEN a replica WHEN put and listed THEN every field round-trips, including null pid and false health', async () => {
        const s = await fresh();
        const stopped = replica({
          state: 'stopped',
          healthy: false,
          pid: null,
          pidStartTime: null,
          restarts: 3,
        });
        await s.putReplica(stopped);
        assert.deepStrictEqual(await s.listReplicas(), [stopped]);
      });

      it('GIVEN a replica WHEN put again with the same key THEN it is updated, not duplicated', async () => {
        const s = await fresh();
        await s.putReplica(replica({ state: 'starting', healthy: false, updatedAt: 1 }));
        const later = replica({
          state: 'running',
          healthy: true,
          pid: 99,
          restarts: 1,
          addresses: { app: '198.18.0.9', db: '198.19.0.2' },
          updatedAt: 2,
        });
        await s.putReplica(later);
        assert.deepStrictEqual(await s.listReplicas('prod'), [later]);
      });

      it('GIVEN concurrent puts of one key WHEN they settle THEN exactly one row remains', async () => {
        const s = await fresh();
        await Promise.all(Array.from({ length: 10 }, (_, i) => s.putReplica(replica({ restarts: i }))));
        assert.equal((await s.listReplicas()).length, 1);
      });

      it('GIVEN replicas across environments WHEN listed THEN sorted by environment, namespace, service, numeric index; filtered by environment', async () => {
        const s = await fresh();
        const keys: [string, string, string, number][] = [
          ['prod', 'shop', 'web', 10],
          ['prod', 'shop', 'web', 2],
          ['dev', 'shop', 'web', 0],
          ['prod', 'core', 'web', 0],
          ['prod', 'shop', 'api', 1],
        ];
        for (const [environment, namespace, service, index] of keys)
          await s.putReplica(replica({ environment, namespace, service, index }));
        const id = (r: ReplicaRecord) => `${r.environment}/${r.namespace}/${r.service}/${r.index}`;
        assert.deepEqual((await s.listReplicas()).map(id), [
          'dev/shop/web/0',
          'prod/core/web/0',
          'prod/shop/api/1',
          'prod/shop/web/2',
          'prod/shop/web/10',
        ]);
        assert.deepEqual((await s.listReplicas('dev')).map(id), ['dev/shop/web/0']);
        assert.deepEqual(await s.listReplicas('nowhere'), []);
      });

      it('GIVEN replicas WHEN one is deleted by key THEN only that one goes', async () => {
        const s = await fresh();
        await s.putReplica(replica({ index: 0 }));
        await s.putReplica(replica({ index: 1 }));
        await s.deleteReplica({ environment: 'prod', namespace: 'shop', service: 'web', index: 0 });
        assert.deepEqual(
          (await s.listReplicas()).map((r) => r.index),
          [1],
        );
      });

      it('GIVEN two environments WHEN deleteReplicas(one) THEN the other keeps its replicas', async () => {
        const s = await fresh();
        await s.putReplica(replica({ environment: 'prod' }));
        await s.putReplica(replica({ environment: 'prod', index: 1 }));
        await s.putReplica(replica({ environment: 'dev' }));
        await s.deleteReplicas('prod');
        assert.deepEqual(
          (await s.listReplicas()).map((r) => r.environment),
          ['dev'],
        );
      });
    });

    describe('secrets', () => {
      it('GIVEN secrets WHEN listed THEN by environment, optionally by owner, sorted by owner then key', async () => {
        const s = await fresh();
        await s.putSecret({ environment: 'prod', owner: 'web', key: 'TOKEN', ciphertext: 'c1' }, 10);
        await s.putSecret({ environment: 'prod', owner: 'api', key: 'Z', ciphertext: 'c2' }, 11);
        await s.putSecret({ environment: 'prod', owner: 'api', key: 'A', ciphertext: 'c3' }, 12);
        await s.putSecret({ environment: 'dev', owner: 'web', key: 'TOKEN', ciphertext: 'c4' }, 13);
        assert.deepStrictEqual(await s.listSecrets('prod'), [
          { environment: 'prod', owner: 'api', key: 'A', ciphertext: 'c3', updatedAt: 12 },
          { environment: 'prod', owner: 'api', key: 'Z', ciphertext: 'c2', updatedAt: 11 },
          { environment: 'prod', owner: 'web', key: 'TOKEN', ciphertext: 'c1', updatedAt: 10 },
        ]);
        assert.deepEqual(
          (await s.listSecrets('prod', 'web')).map((x) => x.ciphertext),
          ['c1'],
        );
        assert.deepEqual(await s.listSecrets('prod', 'nobody'), []);
      });

      it('GIVEN a secret WHEN put again THEN ciphertext and updatedAt are replaced', async () => {
        const s = await fresh();
        await s.putSecret({ environment: 'prod', owner: 'web', key: 'K', ciphertext: 'old' }, 1);
        await s.putSecret({ environment: 'prod', owner: 'web', key: 'K', ciphertext: 'new' }, 2);
        assert.deepStrictEqual(await s.listSecrets('prod'), [
          { environment: 'prod', owner: 'web', key: 'K', ciphertext: 'new', updatedAt: 2 },
        ]);
      });

      it('GIVEN two environments WHEN deleteSecrets(one) THEN the other keeps its secrets', async () => {
        const s = await fresh();
        await s.putSecret({ environment: 'prod', owner: 'web', key: 'K', ciphertext: 'p' }, 1);
        await s.putSecret({ environment: 'dev', owner: 'web', key: 'K', ciphertext: 'd' }, 1);
        await s.deleteSecrets('prod');
        assert.deepEqual(await s.listSecrets('prod'), []);
        assert.deepEqual(
          (await s.listSecrets('dev')).map((x) => x.ciphertext),
          ['d'],
        );
      });
    });

    describe('documents', () => {
      it('GIVEN documents WHEN put, got and listed THEN values round-trip, listing is by key, upsert replaces', async () => {
        const s = await fresh();
        assert.equal(await s.getDocument('policy', 'prod', 'shop/a'), undefined);
        await s.putDocument(
          { kind: 'policy', environment: 'prod', key: 'shop/b', value: { spec: { x: [1, 'two', null] } } },
          1,
        );
        await s.putDocument({ kind: 'policy', environment: 'prod', key: 'shop/a', value: 'first' }, 2);
        await s.putDocument({ kind: 'policy', environment: 'prod', key: 'shop/a', value: 'second' }, 3);
        await s.putDocument({ kind: 'mode', environment: 'prod', key: 'shop/a', value: 'protect' }, 4);
        assert.deepStrictEqual(await s.getDocument('policy', 'prod', 'shop/a'), {
          kind: 'policy',
          environment: 'prod',
          key: 'shop/a',
          value: 'second',
          updatedAt: 3,
        });
        assert.deepEqual(
          (await s.listDocuments('policy', 'prod')).map((d) => [d.key, d.value]),
          [
            ['shop/a', 'second'],
            ['shop/b', { spec: { x: [1, 'two', null] } }],
          ],
        );
      });

      it('GIVEN documents in two environments WHEN deleted by key, kind or environment THEN only those go', async () => {
        const s = await fresh();
        for (const env of ['prod', 'dev']) {
          await s.putDocument({ kind: 'policy', environment: env, key: 'k1', value: 1 }, 1);
          await s.putDocument({ kind: 'policy', environment: env, key: 'k2', value: 2 }, 1);
          await s.putDocument({ kind: 'alert', environment: env, key: 'k1', value: 3 }, 1);
        }
        assert.equal(await s.deleteDocument('policy', 'prod', 'k1'), true);
        assert.equal(await s.deleteDocument('policy', 'prod', 'k1'), false);
        assert.deepEqual(
          (await s.listDocuments('policy', 'prod')).map((d) => d.key),
          ['k2'],
        );
        await s.deleteDocuments('prod', 'alert');
        assert.deepEqual(await s.listDocuments('alert', 'prod'), []);
        assert.equal((await s.listDocuments('policy', 'prod')).length, 1);
        await s.deleteDocuments('prod');
        assert.deepEqual(await s.listDocuments('policy', 'prod'), []);
        assert.equal((await s.listDocuments('policy', 'dev')).length, 2);
        assert.equal((await s.listDocuments('alert', 'dev')).length, 1);
      });
    });

    describe('events', () => {
      it('GIVEN appended events WHEN listed THEN ids increase and events come back ascending with every field', async () => {
        const s = await fresh();
        const first = await s.appendEvent(event({ time: 5 }));
        const second = await s.appendEvent(event({ time: 3, kind: 'replica.health' }));
        assert.ok(second > first);
        assert.deepStrictEqual(await s.listEvents({}), [
          { id: first, ...event({ time: 5 }) },
          { id: second, ...event({ time: 3, kind: 'replica.health' }) },
        ]);
      });

      it('GIVEN a tailer at afterId WHEN more events arrive THEN it gets exactly the new ones, in order', async () => {
        const s = await fresh();
        const ids: number[] = [];
        for (let i = 0; i < 5; i++) ids.push(await s.appendEvent(event({ time: i })));
        const cursor = ids[2] as number;
        assert.deepEqual(
          (await s.listEvents({ afterId: cursor })).map((e) => e.id),
          ids.slice(3),
        );
        const later = await s.appendEvent(event({ time: 9 }));
        assert.deepEqual(
          (await s.listEvents({ afterId: ids[4] as number })).map((e) => e.id),
          [later],
        );
        assert.deepEqual(await s.listEvents({ afterId: later }), []);
      });

      it('GIVEN concurrent appends WHEN they settle THEN ids are unique and listing is ascending', async () => {
        const s = await fresh();
        const ids = await Promise.all(
          Array.from({ length: 30 }, (_, i) => s.appendEvent(event({ time: i }))),
        );
        assert.equal(new Set(ids).size, 30);
        const listed = (await s.listEvents({})).map((e) => e.id);
        assert.deepEqual(
          listed,
          [...ids].sort((a, b) => a - b),
        );
      });

      it('GIVEN events of several environments and times WHEN filtered THEN environment, sinceTime (inclusive) and limit combine', async () => {
        const s = await fresh();
        for (let t = 1; t <= 6; t++)
          await s.appendEvent(event({ environment: t % 2 ? 'prod' : 'dev', time: t * 10 }));
        const times = async (q: Parameters<Store['listEvents']>[0]) =>
          (await s.listEvents(q)).map((e) => e.time);
        assert.deepEqual(await times({ environment: 'prod' }), [10, 30, 50]);
        assert.deepEqual(await times({ sinceTime: 30 }), [30, 40, 50, 60]);
        assert.deepEqual(await times({ environment: 'dev', sinceTime: 30 }), [40, 60]);
        assert.deepEqual(await times({ limit: 2 }), [10, 20]);
        assert.deepEqual(await times({ limit: 0 }), []);
        const [, second] = await s.listEvents({});
        assert.deepEqual(await times({ afterId: second?.id, environment: 'prod', limit: 1 }), [30]);
      });

      it('GIVEN old and new events WHEN pruned before a time THEN only older ones go and the count is returned', async () => {
        const s = await fresh();
        for (const time of [10, 20, 30, 40]) await s.appendEvent(event({ time }));
        assert.equal(await s.pruneEvents(30), 2);
        assert.deepEqual(
          (await s.listEvents({})).map((e) => e.time),
          [30, 40],
        );
        assert.equal(await s.pruneEvents(30), 0);
      });

      it('GIVEN every event pruned WHEN another is appended THEN its id is still above all earlier ids', async () => {
        const s = await fresh();
        const last = await s.appendEvent(event({ time: 1 }));
        await s.appendEvent(event({ time: 2 }));
        const highest = await s.appendEvent(event({ time: 3 }));
        assert.equal(await s.pruneEvents(100), 3);
        const next = await s.appendEvent(event({ time: 200 }));
        assert.ok(next > highest && highest > last);
        assert.deepEqual(
          (await s.listEvents({ afterId: highest })).map((e) => e.id),
          [next],
        );
      });
    });

    describe('lifecycle', () => {
      it('GIVEN a closed store WHEN used THEN it rejects with RAMPART_E_STORE, and closing twice is fine', async () => {
        const s = await makeStore();
        await s.migrate();
        await s.close();
        await s.close();
        await assert.rejects(s.listDeployments(), { code: 'RAMPART_E_STORE' });
      });

      if (options.openAgain) {
        const openAgain = options.openAgain;
        it('GIVEN data in every table WHEN the store is closed and reopened THEN all of it is still there', async () => {
          const s = await fresh();
          await s.putDeployment(
            {
              environment: 'prod',
              stackFile: '/s.yaml',
              spec: { services: ['web'] },
              network: { cidr: '198.18.0.0/24' },
            },
            7,
          );
          await s.putReplica(replica());
          await s.putSecret({ environment: 'prod', owner: 'web', key: 'K', ciphertext: 'c' }, 8);
          const id = await s.appendEvent(event());
          await s.close();

          const again = await openAgain(s);
          open.push(again);
          await again.migrate();
          assert.deepEqual((await again.getDeployment('prod'))?.spec, { services: ['web'] });
          assert.deepStrictEqual(await again.listReplicas(), [replica()]);
          assert.equal((await again.listSecrets('prod'))[0]?.ciphertext, 'c');
          assert.deepEqual(
            (await again.listEvents({})).map((e) => e.id),
            [id],
          );
          assert.ok((await again.appendEvent(event())) > id);
        });
      }
    });
  });
}

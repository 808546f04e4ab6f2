import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ReplicaPlan } from '../runtime/index.ts';
import type { ResolvedDatabase, ResolvedStack } from '../stack/index.ts';
import { canonicalJson } from '../platform/json.ts';
import { settledDatabases } from './controller.ts';

const frauddb: ResolvedDatabase = {
  name: 'frauddb',
  engine: 'postgres',
  parameters: {},
  namespace: 'fraud',
  users: ['velocity', 'credit', 'audit'],
  port: 5432,
  source: { file: '/x/rampart.yaml', line: 40 },
};
const stackWith = (db: ResolvedDatabase) => ({ databases: [db] }) as unknown as ResolvedStack;
const replica = (service: string, kind: ReplicaPlan['kind']) =>
  ({ namespace: 'fraud', service, kind, id: `fraud/${service}-0`, index: 0 }) as ReplicaPlan;
const replicas = [replica('frauddb', 'database'), replica('scoring', 'service')];

describe('settledDatabases (a deploy of services leaves a running database alone)', () => {
  it('GIVEN a database provisioned with this definition and still live WHEN planned THEN it is settled', () => {
    const settled = settledDatabases({
      stack: stackWith(frauddb),
      // Key order differs, as after a round trip through a jsonb column.
      provisioned: new Map([['fraud/frauddb', canonicalJson({ ...frauddb, name: 'frauddb' })]]),
      replicas,
      live: () => true,
    });
    assert.deepEqual([...settled], ['fraud/frauddb']);
  });

  it('GIVEN a new database user WHEN planned THEN it is provisioned again', () => {
    const settled = settledDatabases({
      stack: stackWith({ ...frauddb, users: [...frauddb.users, 'geo'] }),
      provisioned: new Map([['fraud/frauddb', canonicalJson(frauddb)]]),
      replicas,
      live: () => true,
    });
    assert.deepEqual([...settled], []);
  });

  it('GIVEN a database never provisioned by this controller (daemon restarted, or an up failed half-way) THEN it is provisioned', () => {
    const settled = settledDatabases({
      stack: stackWith(frauddb),
      provisioned: new Map(),
      replicas,
      live: () => true,
    });
    assert.deepEqual([...settled], []);
  });

  it('GIVEN its replica is not live with the same plan (replaced or stopped) THEN it is prepared and provisioned', () => {
    const settled = settledDatabases({
      stack: stackWith(frauddb),
      provisioned: new Map([['fraud/frauddb', canonicalJson(frauddb)]]),
      replicas,
      live: (p) => p.kind !== 'database',
    });
    assert.deepEqual([...settled], []);
  });
});

import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { Edge } from '../firewall/index.ts';
import type { LogLine } from '../logs/index.ts';
import { allocateNetwork, planEnvironment } from '../orchestrator/index.ts';
import { parseStack } from '../stack/index.ts';
import type { EnvironmentSnapshot } from './control-plane.ts';
import { DaemonObservability, indexEnvironment } from './observability.ts';

const TEXT = [
  'version: 1',
  'name: shop',
  'services:',
  '  api:',
  '    command: [node, main.js]',
  '    namespace: shop',
  '    networks: [app, db]',
  '    secrets:',
  '      stripe__key: { fromEnv: STRIPE_KEY }',
  '  web:',
  '    command: [node, web.js]',
  '    namespace: shop',
  'databases:',
  '  maindb: { engine: postgres, namespace: shop, users: [api] }',
].join('\n');

function snapshot(environment = 'prod'): EnvironmentSnapshot {
  const stack = parseStack({ text: TEXT, file: '/srv/shop/rampart.yaml', environment });
  const allocation = allocateNetwork({ stack, usedBlocks: [] });
  const plan = planEnvironment({
    stack,
    allocation,
    secrets: { api: { stripe__key: 'sk_live_0123456789' } },
    databasePasswords: { maindb: { api: 'pw/with@chars' } },
    logDir: '/var/log/rampart',
    databaseCommand: () => ({ argv: ['postgres'], user: 'postgres', cwd: '/' }),
  });
  return { environment, stack, allocation, plan };
}

describe('indexEnvironment', () => {
  const s = snapshot();
  const index = indexEnvironment(s);

  it('GIVEN an allocation WHEN indexed THEN every replica address names its replica', () => {
    const apiApp = s.allocation.replicas['shop/api-0']!.app!;
    const apiDb = s.allocation.replicas['shop/api-0']!.db!;
    for (const address of [apiApp, apiDb]) {
      assert.deepEqual(index.byAddress.get(address), {
        environment: 'prod',
        namespace: 'shop',
        service: 'api',
        replica: 0,
        id: 'shop/api-0',
      });
    }
  });

  it('GIVEN members WHEN indexed THEN VIPs and host names resolve to services and databases', () => {
    assert.deepEqual(index.names.get(s.allocation.vips['shop/web']!), { name: 'web', kind: 'service' });
    assert.deepEqual(index.names.get('maindb.shop'), { name: 'maindb', kind: 'database' });
    assert.deepEqual(index.names.get('maindb'), { name: 'maindb', kind: 'database' });
  });

  it('GIVEN injected secrets and a database password WHEN indexed THEN both are values to redact', () => {
    assert.deepEqual(index.secrets.sort(), ['pw/with@chars', 'sk_live_0123456789']);
  });
});

describe('DaemonObservability', () => {
  const listeners = new Set<(l: LogLine) => void>();
  const edges: Edge[] = [];
  const observability = new DaemonObservability({
    controlPlane: {
      onLog: (l) => {
        listeners.add(l);
        return () => listeners.delete(l);
      },
      ps: () => [],
      environments: () => ['prod'],
      firewall: () => ({ learnedEdges: async () => edges }) as never,
      emit: () => undefined,
    },
    // Nothing listens in this test: the gateway addresses do not exist on this host.
    otlpPort: 0,
  });
  after(() => observability.close());

  it('GIVEN a replica prints its secret as JSON WHEN the journal captures it THEN it is stored parsed and redacted', async () => {
    await observability.environmentReady(snapshot()).catch(() => undefined);
    for (const l of listeners) {
      l({
        time: 1_700_000_000_000,
        environment: 'prod',
        namespace: 'shop',
        service: 'api',
        replica: 0,
        stream: 'stdout',
        message: JSON.stringify({ level: 'error', msg: 'charge failed with key sk_live_0123456789' }),
      });
    }
    const [line] = observability.observe.logs.search({ query: 'service:api level:error' });
    assert.equal(line?.message, 'charge failed with key ***');
  });

  it('GIVEN learned edges WHEN flows are asked for THEN service and database edges in the window come back, the host left out', async () => {
    const now = Date.now();
    const base = {
      protocol: 'TCP' as const,
      port: 80,
      firstSeen: now - 1000,
      srcReplicas: [],
      dstReplicas: [],
    };
    edges.push(
      {
        ...base,
        src: { kind: 'service', namespace: 'shop', service: 'web' },
        dst: { kind: 'service', namespace: 'shop', service: 'api' },
        lastSeen: now,
        count: 7,
      },
      {
        ...base,
        src: { kind: 'service', namespace: 'shop', service: 'api' },
        dst: { kind: 'service', namespace: 'shop', service: 'maindb' },
        lastSeen: now,
        count: 3,
      },
      {
        ...base,
        src: { kind: 'service', namespace: 'shop', service: 'api' },
        dst: { kind: 'host', ip: '198.18.16.1' },
        lastSeen: now,
        count: 40,
      },
      {
        ...base,
        src: { kind: 'service', namespace: 'shop', service: 'web' },
        dst: { kind: 'external', ip: '203.0.113.9' },
        lastSeen: now - 3_600_000,
        count: 1,
      },
    );
    assert.deepEqual(await observability.flows({ windowMs: 60_000, environment: 'prod' }), [
      { from: 'web', to: 'api', toKind: 'service', connections: 7 },
      { from: 'api', to: 'maindb', toKind: 'database', connections: 3 },
    ]);
  });
});

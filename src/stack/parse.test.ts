import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { DEFAULT_ENVIRONMENT, parseStack } from './index.ts';
import type { ResolvedService, ResolvedStack } from './index.ts';

const FIXTURES = new URL('./fixtures/', import.meta.url);
const fullText = readFileSync(new URL('full.yaml', FIXTURES), 'utf8');
/** The fixture is parsed as if it lived here; the path never exists, which also proves nothing is read. */
const FILE = '/srv/shop/rampart.yaml';

function service(stack: ResolvedStack, name: string): ResolvedService {
  const found = stack.services.find((s) => s.name === name);
  assert.ok(found, `service ${name}`);
  return found;
}

describe('parseStack resolves a valid stack', () => {
  test('GIVEN the full example WHEN resolved for prod THEN it equals the golden ResolvedStack', () => {
    const golden: unknown = JSON.parse(readFileSync(new URL('full.prod.json', FIXTURES), 'utf8'));
    const stack = parseStack({ text: fullText, file: FILE, environment: DEFAULT_ENVIRONMENT });
    assert.deepStrictEqual(stack, golden);
  });

  test('GIVEN an overlay for staging WHEN resolved for staging THEN replicas, env, config and labels change', () => {
    const prod = parseStack({ text: fullText, file: FILE, environment: 'prod' });
    const staging = parseStack({ text: fullText, file: FILE, environment: 'staging' });
    const web = service(staging, 'web');
    assert.equal(web.replicas, 1);
    assert.deepEqual(web.env, { LOG_LEVEL: 'debug', MAX_BODY: '1048576', TRUST_PROXY: 'true' });
    // Deep merge: the overlay flips one flag and keeps its sibling and the other subtree.
    assert.deepEqual(web.config, {
      features: { newCheckout: true, darkMode: true },
      upstream: { timeoutMs: 2000 },
    });
    assert.deepEqual(web.labels, { tier: 'web', stage: 'canary' });
    // Services without an overlay, and everything but the four overlay keys, are unchanged.
    assert.deepEqual(service(staging, 'api'), service(prod, 'api'));
    assert.deepEqual(
      { ...web, replicas: 2, env: {}, config: {}, labels: {} },
      {
        ...service(prod, 'web'),
        env: {},
        config: {},
        labels: {},
      },
    );
  });

  test('GIVEN an environment without an overlay WHEN resolved THEN it is the base stack in its own namespace', () => {
    const dev = parseStack({ text: fullText, file: FILE, environment: 'dev' });
    assert.equal(dev.environment, 'dev');
    assert.equal(service(dev, 'web').replicas, 2);
    assert.equal(dev.databases.find((d) => d.name === 'riskdb')?.namespace, 'dev');
    assert.deepEqual(
      dev.namespaces.map((n) => n.name),
      ['dev', 'risk', 'shop'],
    );
  });

  test('GIVEN a service with only a command WHEN resolved THEN every default is filled in', () => {
    const text = 'version: 1\nname: demo\nservices:\n  web:\n    command: [node, server.js]\n';
    const stack = parseStack({ text, file: '/srv/demo/rampart.yaml', environment: 'qa' });
    assert.deepStrictEqual(stack, {
      name: 'demo',
      environment: 'qa',
      file: '/srv/demo/rampart.yaml',
      dir: '/srv/demo',
      namespaces: [{ name: 'qa', labels: {} }],
      services: [
        {
          name: 'web',
          namespace: 'qa',
          app: 'web',
          command: ['node', 'server.js'],
          workdir: '/srv/demo',
          replicas: 1,
          ports: [],
          networks: ['app'],
          labels: {},
          env: {},
          config: {},
          secrets: [],
          data: { reads: [], emits: [] },
          publish: [],
          dependsOn: [],
          databases: [],
          stopTimeoutMs: 10_000,
          source: { file: '/srv/demo/rampart.yaml', line: 4 },
        },
      ],
      databases: [],
      dataRules: [],
    });
  });

  test('GIVEN a health check with only a port WHEN resolved THEN interval, timeout and thresholds default', () => {
    const text =
      'version: 1\nname: demo\nservices:\n  db-proxy:\n    command: [x]\n    health: { tcp: { port: 6432 } }\n';
    const stack = parseStack({ text, file: '/srv/demo/rampart.yaml', environment: 'prod' });
    assert.deepStrictEqual(service(stack, 'db-proxy').health, {
      tcp: { port: 6432 },
      intervalMs: 2000,
      timeoutMs: 1000,
      healthyThreshold: 1,
      unhealthyThreshold: 3,
      startPeriodMs: 0,
    });
  });

  test('GIVEN a user that already depends on its database WHEN resolved THEN dependsOn lists it once', () => {
    const text = [
      'version: 1',
      'name: demo',
      'services:',
      '  api:',
      '    command: [x]',
      '    networks: [db, app, db]',
      '    dependsOn: [maindb, maindb]',
      'databases:',
      '  maindb: { engine: postgres, users: [api, api] }',
      '',
    ].join('\n');
    const stack = parseStack({ text, file: '/srv/demo/rampart.yaml', environment: 'prod' });
    const api = service(stack, 'api');
    assert.deepEqual(api.dependsOn, ['maindb']);
    assert.deepEqual(api.databases, ['maindb']);
    assert.deepEqual(api.networks, ['db', 'app']);
    assert.deepEqual(stack.databases[0]?.users, ['api']);
  });

  test('GIVEN database parameters WHEN resolved THEN they are kept as postgresql.conf strings, none by default', () => {
    const text = [
      'version: 1',
      'name: demo',
      'services:',
      '  api: { command: [x], networks: [app, db] }',
      'databases:',
      '  maindb: { engine: postgres, users: [api], parameters: { shared_buffers: 1GB, max_connections: 200, fsync: true } }',
      '  otherdb: { engine: postgres, users: [api] }',
      '',
    ].join('\n');
    const stack = parseStack({ text, file: '/srv/demo/rampart.yaml', environment: 'prod' });
    assert.deepEqual(stack.databases[0]?.parameters, {
      shared_buffers: '1GB',
      max_connections: '200',
      fsync: 'true',
    });
    assert.deepEqual(stack.databases[1]?.parameters, {});
  });

  test('GIVEN one host port for TCP and UDP WHEN resolved THEN both publish, each with its protocol', () => {
    const text = [
      'version: 1',
      'name: demo',
      'services:',
      '  dns:',
      '    command: [x]',
      '    ports: [{ name: dns, port: 53 }, { name: dns-udp, port: 53, protocol: UDP }]',
      '    health: { tcp: { port: 53 } }',
      '    publish: [{ port: dns, hostPort: 5353 }, { port: dns-udp, hostPort: 5353 }]',
      '',
    ].join('\n');
    const dns = service(parseStack({ text, file: '/srv/demo/rampart.yaml', environment: 'prod' }), 'dns');
    assert.deepEqual(dns.publish, [
      { hostPort: 5353, port: 53, protocol: 'TCP' },
      { hostPort: 5353, port: 53, protocol: 'UDP' },
    ]);
    assert.deepEqual(dns.health?.tcp, { port: 53 });
  });

  test('GIVEN <<: merge keys WHEN resolved THEN the shared block applies', () => {
    const text = [
      'version: 1',
      'name: demo',
      'x-node: &node { command: [node, main.js], replicas: 3 }',
      '',
    ].join('\n');
    // A top-level `x-` key is still an unknown key: merge keys are for sharing inside services.
    assert.throws(
      () => parseStack({ text, file: '/srv/demo/rampart.yaml', environment: 'prod' }),
      /unknown key 'x-node'/,
    );
    const shared = [
      'version: 1',
      'name: demo',
      'services:',
      '  web: &node { command: [node, main.js], replicas: 3 }',
      '  worker:',
      '    <<: *node',
      '    replicas: 1',
      '',
    ].join('\n');
    const stack = parseStack({ text: shared, file: '/srv/demo/rampart.yaml', environment: 'prod' });
    assert.deepEqual(service(stack, 'worker').command, ['node', 'main.js']);
    assert.equal(service(stack, 'worker').replicas, 1);
  });

  test('GIVEN a resolved stack WHEN something tries to change it THEN every level is frozen', () => {
    const stack = parseStack({ text: fullText, file: FILE, environment: 'prod' });
    const web = service(stack, 'web');
    assert.ok(Object.isFrozen(stack));
    assert.ok(Object.isFrozen(stack.services));
    assert.ok(Object.isFrozen(web.ports[0]));
    assert.ok(Object.isFrozen(web.config['features']));
    assert.ok(Object.isFrozen(web.health?.http));
    assert.throws(() => {
      (web as { replicas: number }).replicas = 9;
    }, TypeError);
  });
});

describe('docs/stack-file.md', () => {
  test('GIVEN the examples in the docs WHEN parsed THEN the full one equals the fixture and all are valid', () => {
    const docs = readFileSync(new URL('../../docs/stack-file.md', import.meta.url), 'utf8');
    const blocks = [...docs.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]!);
    assert.ok(blocks.length >= 2);
    const golden: unknown = JSON.parse(readFileSync(new URL('full.prod.json', FIXTURES), 'utf8'));
    assert.equal(blocks[0], fullText, 'the docs example and fixtures/full.yaml must be the same text');
    assert.deepStrictEqual(parseStack({ text: blocks[0]!, file: FILE, environment: 'prod' }), golden);
    for (const text of blocks.slice(1)) parseStack({ text, file: FILE, environment: 'prod' });
  });
});

describe('parseStack is pure', () => {
  test('GIVEN paths that do not exist WHEN parsed THEN it resolves them without touching the filesystem', () => {
    const text = [
      'version: 1',
      'name: demo',
      'services:',
      '  web:',
      '    command: [x]',
      '    workdir: ../code/web',
      '    secrets: { key: { fromFile: secrets/key.txt }, abs: { fromFile: /etc/rampart/abs } }',
      '',
    ].join('\n');
    const file = '/nonexistent/deploy/rampart.yaml';
    const web = service(parseStack({ text, file, environment: 'prod' }), 'web');
    assert.equal(web.workdir, '/nonexistent/code/web');
    assert.deepEqual(web.secrets, [
      { key: 'key', source: { fromFile: '/nonexistent/deploy/secrets/key.txt' } },
      { key: 'abs', source: { fromFile: '/etc/rampart/abs' } },
    ]);
  });

  test('GIVEN the parser modules WHEN their imports are read THEN none reaches the filesystem or the process', () => {
    for (const module of [
      'parse.ts',
      'validate.ts',
      'schema.ts',
      'checks.ts',
      'resolve.ts',
      'positions.ts',
      'problems.ts',
    ]) {
      const source = readFileSync(fileURLToPath(new URL(module, import.meta.url)), 'utf8');
      assert.doesNotMatch(source, /from 'node:(fs|fs\/promises|child_process|process)'/, module);
      assert.doesNotMatch(source, /process\.(env|cwd)/, module);
    }
  });
});

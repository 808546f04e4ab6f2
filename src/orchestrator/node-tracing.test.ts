import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { allocateNetwork } from './allocate.ts';
import { nodeTracingEnv, runsNode, type NodePreloads } from './node-tracing.ts';
import { planEnvironment } from './plan.ts';
import { parseStack } from '../stack/index.ts';

const PRELOADS: NodePreloads = {
  tracing: '/opt/rampart/src/observe/preload/register.cjs',
  always: [],
  otlpPort: 4318,
};

const base = {
  preloads: PRELOADS,
  tracing: true,
  serviceEnv: {},
  gateway: '198.18.16.1',
  environment: 'prod',
  namespace: 'shop',
  service: 'api',
  replica: 1,
  replicaId: 'shop/api-1',
};

describe('runsNode', () => {
  it('GIVEN commands that run Node WHEN checked THEN each is recognised', () => {
    for (const command of [
      ['node', 'server.js'],
      ['/usr/bin/node', '--import', 'tsx', 'server.ts'],
      ['tsx', 'server.ts'],
      ['npx', 'tsx', 'server.ts'],
      ['npx', '--yes', 'tsx', 'server.ts'],
      ['./dist/main.mjs'],
      ['bin/cli.cjs', '--port', '3000'],
      ['server.ts'],
    ]) {
      assert.equal(runsNode(command), true, command.join(' '));
    }
  });

  it('GIVEN other commands WHEN checked THEN none is Node', () => {
    for (const command of [['postgres'], ['python3', 'app.py'], ['npm', 'start'], ['npx', 'serve'], []]) {
      assert.equal(runsNode(command), false, command.join(' '));
    }
  });
});

describe('nodeTracingEnv', () => {
  it('GIVEN a Node service WHEN planned THEN the preload and OTEL env point at its gateway', () => {
    const env = nodeTracingEnv({ ...base, command: ['node', 'main.js'], healthPath: '/healthz' });
    assert.deepEqual(env, {
      NODE_OPTIONS: '--require /opt/rampart/src/observe/preload/register.cjs',
      OTEL_EXPORTER_OTLP_ENDPOINT: 'http://198.18.16.1:4318',
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
      OTEL_SERVICE_NAME: 'api',
      OTEL_RESOURCE_ATTRIBUTES:
        'rampart.environment=prod,rampart.namespace=shop,rampart.replica=1,rampart.replica_id=shop%2Fapi-1,deployment.environment.name=prod,service.namespace=shop',
      RAMPART_TRACE_IGNORE_PATHS: '/healthz',
    });
  });

  it('GIVEN the service sets NODE_OPTIONS and resource attributes WHEN planned THEN both are kept after ours', () => {
    const env = nodeTracingEnv({
      ...base,
      command: ['node', 'main.js'],
      serviceEnv: { NODE_OPTIONS: '--max-old-space-size=256', OTEL_RESOURCE_ATTRIBUTES: 'team=risk' },
    });
    assert.equal(
      env.NODE_OPTIONS,
      '--require /opt/rampart/src/observe/preload/register.cjs --max-old-space-size=256',
    );
    assert.match(env.OTEL_RESOURCE_ATTRIBUTES ?? '', /^team=risk,rampart\.environment=prod,/);
  });

  it('GIVEN other preloads, one with a space in its path WHEN planned THEN .cjs is required, .mjs imported, the path quoted', () => {
    const env = nodeTracingEnv({
      ...base,
      command: ['node', 'main.js'],
      preloads: { ...PRELOADS, always: ['/opt/my rampart/vuln/modules.cjs', '/opt/rampart/esm-hook.mjs'] },
    });
    assert.equal(
      env.NODE_OPTIONS,
      '--require /opt/rampart/src/observe/preload/register.cjs --require "/opt/my rampart/vuln/modules.cjs" --import /opt/rampart/esm-hook.mjs',
    );
  });

  it('GIVEN tracing: false WHEN planned THEN no tracing preload and no OTEL env, other preloads stay', () => {
    const off = nodeTracingEnv({ ...base, command: ['node', 'main.js'], tracing: false });
    assert.deepEqual(off, {});
    const withModules = nodeTracingEnv({
      ...base,
      command: ['node', 'main.js'],
      tracing: false,
      preloads: { ...PRELOADS, always: ['/opt/rampart/src/vuln/preload/modules.cjs'] },
    });
    assert.deepEqual(withModules, {
      NODE_OPTIONS: '--require /opt/rampart/src/vuln/preload/modules.cjs',
      RAMPART_TRACING: 'off',
    });
  });

  it('GIVEN a binary that is not Node WHEN planned THEN nothing is injected', () => {
    assert.deepEqual(nodeTracingEnv({ ...base, command: ['postgres', '-D', '/data'] }), {});
  });
});

describe('planEnvironment with node preloads', () => {
  const text = [
    'version: 1',
    'name: shop',
    'services:',
    '  api:',
    '    command: [node, main.js]',
    '    networks: [app, db]',
    '  worker:',
    '    command: [node, worker.js]',
    '    networks: [db]',
    '  quiet:',
    '    command: [node, quiet.js]',
    '    tracing: false',
    '  proxy:',
    '    command: [envoy, -c, envoy.yaml]',
  ].join('\n');
  const stack = parseStack({ text, file: '/srv/shop/rampart.yaml', environment: 'prod' });
  const allocation = allocateNetwork({ stack, usedBlocks: [] });
  const plan = planEnvironment({
    stack,
    allocation,
    secrets: {},
    databasePasswords: {},
    logDir: '/var/log/rampart',
    databaseCommand: () => ({ argv: [], user: 'postgres', cwd: '/' }),
    nodePreloads: PRELOADS,
  });
  const envOf = (service: string) => plan.replicas.find((r) => r.service === service)!.env;

  it('GIVEN the stack file opts a service out WHEN parsed THEN only that service has tracing: false', () => {
    assert.equal(stack.services.find((s) => s.name === 'quiet')?.tracing, false);
    assert.equal(stack.services.find((s) => s.name === 'api')?.tracing, undefined);
  });

  it('GIVEN tracing is not a boolean WHEN parsed THEN the stack is refused at its position', () => {
    assert.throws(
      () =>
        parseStack({
          text: 'version: 1\nname: s\nservices:\n  a:\n    command: [node, a.js]\n    tracing: maybe\n',
          file: '/srv/s/rampart.yaml',
          environment: 'prod',
        }),
      {
        code: 'RAMPART_E_STACK_INVALID',
        message: /rampart\.yaml:6:14: services\.a\.tracing: expected a boolean/,
      },
    );
  });

  it('GIVEN Node services on app and db WHEN planned THEN each exports to its own network gateway', () => {
    assert.equal(
      envOf('api').OTEL_EXPORTER_OTLP_ENDPOINT,
      `http://${allocation.addressing.app.gateway}:4318`,
    );
    assert.equal(
      envOf('worker').OTEL_EXPORTER_OTLP_ENDPOINT,
      `http://${allocation.addressing.db.gateway}:4318`,
    );
    assert.equal(envOf('api').OTEL_SERVICE_NAME, 'api');
  });

  it('GIVEN an opted-out service and a non-Node one WHEN planned THEN neither gets a preload', () => {
    assert.equal(envOf('quiet').NODE_OPTIONS, undefined);
    assert.equal(envOf('quiet').OTEL_EXPORTER_OTLP_ENDPOINT, undefined);
    assert.equal(envOf('proxy').NODE_OPTIONS, undefined);
  });
});

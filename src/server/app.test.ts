import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { systemClock } from '../platform/clock.ts';
import { recordingExec } from '../platform/exec.ts';
import { loadStack } from '../stack/index.ts';
import { openSqliteStore } from '../store/index.ts';
import type { Store } from '../store/index.ts';
import { FakeRuntime } from '../testing/fake-runtime.ts';
import { buildApp } from './app.ts';
import { ControlPlane } from './control-plane.ts';
import { EnvironmentOwnership } from './ownership.ts';

const TOKEN = 'test-token';
const auth = { authorization: `Bearer ${TOKEN}` };

function ndjsonLines(body: string): Record<string, any>[] {
  return body
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Record<string, any>);
}

describe('control plane HTTP API (in memory, fake runtime)', () => {
  let dir: string;
  let store: Store;
  let runtime: FakeRuntime;
  let app: ReturnType<typeof buildApp>;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rampart-app-'));
    store = await openSqliteStore({ file: ':memory:' });
    await store.migrate();
    runtime = new FakeRuntime();
    const cp = new ControlPlane({
      runtime,
      store,
      clock: systemClock,
      codec: { encrypt: (p) => `enc:${p}`, decrypt: (c) => c.slice(4) },
      databases: {
        prepare: async () => undefined,
        command: () => ({ argv: ['db'], user: 'nobody', cwd: '/' }),
        provision: async () => undefined,
      },
      logDir: join(dir, 'logs'),
      loadStack,
      ownership: new EnvironmentOwnership(join(dir, 'owners'), dir),
      // The firewall's nft calls are recorded, not run; no conntrack.
      exec: recordingExec(),
      captureFlows: false,
    });
    app = buildApp({ controlPlane: cp, token: TOKEN });
    await writeFile(
      join(dir, 'good.yaml'),
      'version: 1\nname: t\nservices:\n  web:\n    command: [node, x.js]\n    replicas: 2\n    ports: [{ name: http, port: 8080 }]\n',
    );
    await writeFile(
      join(dir, 'bad.yaml'),
      'version: 1\nname: t\nservices:\n  web:\n    command: [node, x.js]\n    replicas: two\n',
    );
  });

  after(async () => {
    await app.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('GIVEN no token THEN every route but /v1/healthz answers 401 with the error code', async () => {
    assert.equal((await app.inject({ url: '/v1/healthz' })).statusCode, 200);
    const res = await app.inject({ url: '/v1/replicas' });
    assert.equal(res.statusCode, 401);
    assert.equal(res.json().error.code, 'RAMPART_E_UNAUTHORIZED');
    const wrong = await app.inject({ url: '/v1/replicas', headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.statusCode, 401);
  });

  it('GIVEN a request with an unknown field THEN 400 names the field', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/up',
      headers: auth,
      payload: { file: '/x', environment: 'prod', colour: 'red' },
    });
    assert.equal(res.statusCode, 400);
    assert.equal(res.json().error.code, 'RAMPART_E_BAD_REQUEST');
    assert.match(res.json().error.message, /colour/);
    const env = await app.inject({
      method: 'POST',
      url: '/v1/up',
      headers: auth,
      payload: { file: '/x', environment: 'production' },
    });
    assert.equal(env.statusCode, 400);
    assert.match(env.json().error.message, /^environment: /);
  });

  it('GIVEN a bad stack file WHEN up THEN the stream ends with the precise error and nothing was made', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/up',
      headers: auth,
      payload: { file: join(dir, 'bad.yaml'), environment: 'prod' },
    });
    const last = ndjsonLines(res.body).at(-1)!;
    assert.equal(last.type, 'error');
    assert.equal(last.error.code, 'RAMPART_E_STACK_INVALID');
    assert.match(last.error.message, /bad\.yaml:6:\d+: services\.web\.replicas/);
    assert.equal(runtime.environments.size, 0);
    assert.deepEqual(await store.listDeployments(), []);
  });

  it('GIVEN a good stack WHEN up THEN progress streams, replicas run and the kernel gets both endpoints', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/up',
      headers: auth,
      payload: { file: join(dir, 'good.yaml'), environment: 'prod' },
    });
    const lines = ndjsonLines(res.body);
    assert.ok(lines.some((l) => l.type === 'progress'));
    const done = lines.at(-1)!;
    assert.equal(done.type, 'done', JSON.stringify(done));
    assert.deepEqual(
      done.replicas.map((r: { id: string; state: string }) => `${r.id} ${r.state}`),
      ['prod/web-0 running', 'prod/web-1 running'],
    );
    const svc = runtime.endpoints.get('prod')!.find((s) => s.name === 'web')!;
    assert.equal(svc.endpoints.length, 2);
    const ps = await app.inject({ url: '/v1/replicas?environment=prod', headers: auth });
    assert.equal(ps.json().replicas.length, 2);
  });

  it('GIVEN a running stack WHEN down THEN the runtime and the store are empty', async () => {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/down',
      headers: auth,
      payload: { environment: 'prod' },
    });
    assert.equal(ndjsonLines(res.body).at(-1)!.type, 'done');
    assert.equal(runtime.environments.size, 0);
    assert.equal(runtime.replicas.size, 0);
    assert.deepEqual(await store.listDeployments(), []);
    assert.deepEqual(await store.listReplicas('prod'), []);
  });

  const post = async (url: string, payload: object) =>
    ndjsonLines((await app.inject({ method: 'POST', url, headers: auth, payload })).body);

  it('GIVEN removing the replicas fails WHEN down THEN the whole environment is removed anyway and down succeeds', async () => {
    assert.equal(
      (await post('/v1/up', { file: join(dir, 'good.yaml'), environment: 'stage' })).at(-1)!.type,
      'done',
    );
    runtime.removeReplicas = async () => {
      throw new Error('ip: Device or resource busy');
    };
    try {
      const lines = await post('/v1/down', { environment: 'stage' });
      assert.equal(lines.at(-1)!.type, 'done', JSON.stringify(lines.at(-1)));
      assert.ok(lines.some((l) => /one by one failed \(ip: Device or resource busy\)/.test(l.message ?? '')));
    } finally {
      delete (runtime as Partial<FakeRuntime>).removeReplicas;
    }
    assert.equal(runtime.environments.has('stage'), false);
    assert.equal([...runtime.replicas.keys()].filter((k) => k.startsWith('stage/')).length, 0);
    assert.deepEqual(await store.listReplicas('stage'), []);
  });

  it('GIVEN removing the environment fails WHEN down THEN it is still recorded, and a second down removes it', async () => {
    assert.equal(
      (await post('/v1/up', { file: join(dir, 'good.yaml'), environment: 'stage' })).at(-1)!.type,
      'done',
    );
    runtime.destroyEnvironment = async () => {
      throw new Error('nft: busy');
    };
    try {
      const failed = (await post('/v1/down', { environment: 'stage' })).at(-1)!;
      assert.equal(failed.type, 'error');
      assert.match(failed.error.message, /nft: busy/);
      assert.equal((await store.listDeployments()).length, 1);
    } finally {
      delete (runtime as Partial<FakeRuntime>).destroyEnvironment;
    }
    assert.equal((await post('/v1/down', { environment: 'stage' })).at(-1)!.type, 'done');
    assert.equal(runtime.environments.has('stage'), false);
    assert.deepEqual(await store.listDeployments(), []);
  });
});

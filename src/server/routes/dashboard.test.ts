import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify, { type FastifyInstance } from 'fastify';
import { Observability } from '../../observe/index.ts';
import { systemClock } from '../../platform/clock.ts';
import { isRampartError } from '../../platform/errors.ts';
import { openSqliteStore, type Store } from '../../store/index.ts';
import { TokenRegistry, registerAuth } from '../auth.ts';
import type { ControlPlane } from '../control-plane.ts';
import { registerDashboardRoutes } from './dashboard.ts';
import { registerObserveRoutes } from './observe.ts';

const ROOT = 'root-token';
const EDGE = {
  src: { kind: 'service', namespace: 'shop', service: 'web' },
  dst: { kind: 'service', namespace: 'shop', service: 'api' },
  protocol: 'TCP',
  port: 8080,
  firstSeen: 1,
  lastSeen: 2,
  count: 3,
  srcReplicas: ['web-0'],
  dstReplicas: ['api-0'],
};
const fakeCp = {
  environments: () => ['dev'],
  firewall: () => ({ learnedEdges: async () => [EDGE] }),
} as unknown as ControlPlane;

describe('dashboard routes', () => {
  let dir: string;
  let store: Store;
  let observe: Observability;
  let app: FastifyInstance;
  let viewer: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'rampart-web-'));
    await mkdir(join(dir, 'assets'));
    await writeFile(join(dir, 'index.html'), '<!doctype html><title>Rampart</title>');
    await writeFile(join(dir, 'assets', 'index-abc.js'), 'console.log(1)');
    store = await openSqliteStore({ file: ':memory:' });
    await store.migrate();
    const tokens = new TokenRegistry({ store, clock: systemClock, rootToken: ROOT });
    observe = new Observability();
    app = Fastify();
    // As buildApp answers errors (app.ts).
    app.setErrorHandler((error, _req, reply) =>
      isRampartError(error) ? reply.code(error.status).send({ error: error.toJSON() }) : reply.send(error),
    );
    registerAuth(app, tokens);
    registerDashboardRoutes(app, fakeCp, { distDir: dir });
    registerObserveRoutes(app, { observe, clusterUuid: 'test-uuid' });
    viewer = (
      await tokens.create({ name: 'eve', role: 'viewer' }, { name: 'root', role: 'admin', environments: '*' })
    ).token;
  });

  after(async () => {
    await app.close();
    await observe.close();
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('GIVEN a browser asking for HTML WHEN it gets / without a token THEN it receives the dashboard page', async () => {
    const res = await app.inject({ url: '/', headers: { accept: 'text/html,application/xhtml+xml' } });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/html/);
    assert.match(res.body, /<title>Rampart<\/title>/);
  });

  it('GIVEN an Elasticsearch client WHEN it gets / THEN the observe root answers as before (token required)', async () => {
    const anonymous = await app.inject({ url: '/', headers: { accept: 'application/json' } });
    assert.equal(anonymous.statusCode, 401);
    const res = await app.inject({ url: '/', headers: { authorization: `Bearer ${ROOT}` } });
    assert.equal(res.statusCode, 200);
    assert.equal(res.headers['x-elastic-product'], 'Elasticsearch');
  });

  it('GIVEN a built asset WHEN it is fetched without a token THEN it is served, cacheable forever', async () => {
    const res = await app.inject({ url: '/assets/index-abc.js' });
    assert.equal(res.statusCode, 200);
    assert.match(res.headers['content-type'] as string, /^text\/javascript/);
    assert.match(res.headers['cache-control'] as string, /immutable/);
    assert.equal(res.body, 'console.log(1)');
  });

  it('GIVEN a path that leaves the assets folder WHEN it is fetched THEN 404, nothing read', async () => {
    for (const url of ['/assets/..%2Findex.html', '/assets/.env', '/assets/missing.js']) {
      const res = await app.inject({ url });
      assert.equal(res.statusCode, 404, url);
    }
  });

  it('GIVEN the API behind the dashboard WHEN flows are read without a token THEN 401; a viewer reads them', async () => {
    assert.equal((await app.inject({ url: '/v1/dashboard/flows?environment=dev' })).statusCode, 401);
    const res = await app.inject({
      url: '/v1/dashboard/flows?environment=dev',
      headers: { authorization: `Bearer ${viewer}` },
    });
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), { edges: [EDGE] });
  });

  it('GIVEN an environment that does not run WHEN its flows are read THEN RAMPART_E_NO_STACK', async () => {
    const res = await app.inject({
      url: '/v1/dashboard/flows?environment=nope',
      headers: { authorization: `Bearer ${ROOT}` },
    });
    assert.equal(res.statusCode, 404);
    assert.equal((res.json() as { error: { code: string } }).error.code, 'RAMPART_E_NO_STACK');
  });

  it('GIVEN no built dashboard WHEN a browser opens / THEN it is told how to build it', async () => {
    const bare = Fastify();
    registerDashboardRoutes(bare, fakeCp, { distDir: join(dir, 'absent') });
    const res = await bare.inject({ url: '/', headers: { accept: 'text/html' } });
    assert.equal(res.statusCode, 503);
    assert.match(res.body, /npm run build:web/);
    await bare.close();
  });
});

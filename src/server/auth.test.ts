import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Fastify, { type FastifyInstance } from 'fastify';
import { openSqliteStore, type Store } from '../store/index.ts';
import { isRampartError } from '../platform/errors.ts';
import { TokenRegistry, allows, environmentOf, permissionOf, registerAuth, type Principal } from './auth.ts';

const clock = { now: () => 1_000_000, sleep: async () => {} };
const ROOT = 'root-token-0123456789';

describe('allows (pure)', () => {
  const p = (role: Principal['role'], environments: Principal['environments'] = '*'): Principal => ({
    name: 'x',
    role,
    environments,
  });
  it('GIVEN each role WHEN asked for each permission THEN the grant table holds', () => {
    const matrix: [Principal['role'], string][] = [
      ['admin', 'read write secrets deploy admin'],
      ['operator', 'read write secrets deploy'],
      ['viewer', 'read'],
    ];
    for (const [role, granted] of matrix) {
      for (const perm of ['read', 'write', 'secrets', 'deploy', 'admin'] as const) {
        assert.equal(allows(p(role), perm, 'prod'), granted.split(' ').includes(perm), `${role} ${perm}`);
      }
    }
  });
  it('GIVEN a deployer scoped to staging WHEN it deploys THEN only staging, and nothing else', () => {
    const d = p('deployer', ['staging']);
    assert.equal(allows(d, 'deploy', 'staging'), true);
    assert.equal(allows(d, 'deploy', 'prod'), false);
    assert.equal(allows(d, 'deploy', undefined), false);
    assert.equal(allows(d, 'read', 'staging'), false);
    assert.equal(allows(d, 'secrets', 'staging'), false);
    assert.equal(allows(d, 'authenticated', undefined), true);
  });
  it('GIVEN a method and no declaration WHEN permissionOf THEN GET reads and the rest writes', () => {
    assert.equal(permissionOf('GET', undefined), 'read');
    assert.equal(permissionOf('HEAD', undefined), 'read');
    assert.equal(permissionOf('POST', undefined), 'write');
    assert.equal(permissionOf('DELETE', undefined), 'write');
    assert.equal(permissionOf('GET', 'secrets'), 'secrets');
  });
  it('GIVEN a request WHEN environmentOf THEN path, then body, then query', () => {
    assert.equal(environmentOf({ params: { env: 'a' }, body: { environment: 'b' }, query: {} }), 'a');
    assert.equal(environmentOf({ params: {}, body: { environment: 'b' }, query: { env: 'c' } }), 'b');
    assert.equal(environmentOf({ params: {}, body: undefined, query: { environment: 'c' } }), 'c');
    assert.equal(environmentOf({ params: {}, body: 'text', query: {} }), undefined);
  });
});

describe('TokenRegistry and the auth hooks', () => {
  let store: Store;
  let tokens: TokenRegistry;
  let app: FastifyInstance;
  const minted: Record<string, string> = {};
  const call = (
    token: string | undefined,
    method: 'GET' | 'POST' | 'DELETE',
    url: string,
    payload?: object,
  ) =>
    app.inject({
      method,
      url,
      payload,
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });

  before(async () => {
    store = await openSqliteStore({ file: ':memory:' });
    await store.migrate();
    tokens = new TokenRegistry({ store, clock, rootToken: ROOT });
    app = Fastify();
    // As buildApp does: RampartErrors become `{ error }` with their status.
    app.setErrorHandler((e, _req, reply) =>
      isRampartError(e) ? reply.code(e.status).send({ error: e.toJSON() }) : reply.send(e),
    );
    registerAuth(app, tokens);
    app.get('/v1/healthz', { config: { public: true } }, async () => ({ ok: true }));
    app.get('/v1/things', async () => ({ things: [] }));
    app.post('/v1/things', async () => ({ changed: true }));
    app.get('/v1/secret-values', { config: { permission: 'secrets' } }, async () => ({ values: [] }));
    app.post('/v1/environments/:env/deploy', { config: { permission: 'deploy' } }, async () => ({
      deployed: true,
    }));
    await app.ready();
    for (const [name, role, environments] of [
      ['alice', 'viewer', undefined],
      ['bob', 'operator', undefined],
      ['ci-staging', 'deployer', ['staging']],
    ] as const) {
      const res = await call(ROOT, 'POST', '/v1/tokens', {
        name,
        role,
        ...(environments ? { environments } : {}),
      });
      assert.equal(res.statusCode, 200, res.body);
      minted[name] = res.json().token;
    }
  });
  after(async () => {
    await app.close();
    await store.close();
  });

  it('GIVEN no or a wrong token WHEN calling THEN 401, and public routes answer without one', async () => {
    assert.equal((await call(undefined, 'GET', '/v1/things')).statusCode, 401);
    assert.equal((await call('rpt_0000000000000000_' + 'a'.repeat(43), 'GET', '/v1/things')).statusCode, 401);
    assert.equal((await call(`${minted.alice}x`, 'GET', '/v1/things')).statusCode, 401);
    assert.equal((await call(undefined, 'GET', '/v1/healthz')).statusCode, 200);
  });

  it('GIVEN a viewer token WHEN it reads and writes THEN reads pass and every change is 403', async () => {
    assert.equal((await call(minted.alice, 'GET', '/v1/things')).statusCode, 200);
    const res = await call(minted.alice, 'POST', '/v1/things', {});
    assert.equal(res.statusCode, 403);
    assert.equal(res.json().error.code, 'RAMPART_E_FORBIDDEN');
    assert.match(res.json().error.message, /token alice \(role viewer\) may not change anything/);
    assert.equal((await call(minted.alice, 'GET', '/v1/secret-values')).statusCode, 403);
    assert.equal((await call(minted.alice, 'GET', '/v1/tokens')).statusCode, 403);
  });

  it('GIVEN a deployer token for staging WHEN used THEN it deploys staging only, reads no secrets, changes nothing else', async () => {
    const t = minted['ci-staging'];
    assert.equal((await call(t, 'POST', '/v1/environments/staging/deploy', {})).statusCode, 200);
    const prod = await call(t, 'POST', '/v1/environments/prod/deploy', {});
    assert.equal(prod.statusCode, 403);
    assert.match(prod.json().error.message, /in environment prod/);
    assert.equal((await call(t, 'GET', '/v1/secret-values')).statusCode, 403);
    assert.equal((await call(t, 'GET', '/v1/things')).statusCode, 403);
    assert.equal((await call(t, 'POST', '/v1/things', {})).statusCode, 403);
    const me = await call(t, 'GET', '/v1/whoami');
    assert.deepEqual(me.json(), { name: 'ci-staging', role: 'deployer', environments: ['staging'] });
  });

  it('GIVEN an operator WHEN it changes things or manages tokens THEN changes pass and tokens are refused', async () => {
    assert.equal((await call(minted.bob, 'POST', '/v1/things', {})).statusCode, 200);
    assert.equal((await call(minted.bob, 'GET', '/v1/secret-values')).statusCode, 200);
    assert.equal(
      (await call(minted.bob, 'POST', '/v1/tokens', { name: 'z', role: 'admin' })).statusCode,
      403,
    );
  });

  it('GIVEN stored tokens WHEN listed THEN no hash or secret is returned', async () => {
    const res = await call(ROOT, 'GET', '/v1/tokens');
    const body = res.body;
    assert.equal(res.json().tokens.length, 3);
    for (const t of Object.values(minted)) assert.ok(!body.includes(t.slice(22)));
    assert.ok(!body.includes('hash'));
    const docs = await store.listDocuments('api-token', '');
    for (const d of docs) assert.ok(!JSON.stringify(d.value).includes(minted.alice!.slice(22)));
  });

  it('GIVEN bad token requests WHEN created THEN 400 naming the field, and duplicates 409', async () => {
    const noEnv = await call(ROOT, 'POST', '/v1/tokens', { name: 'ci', role: 'deployer' });
    assert.equal(noEnv.statusCode, 400);
    assert.equal(noEnv.json().error.details.field, 'environments');
    const scopedViewer = await call(ROOT, 'POST', '/v1/tokens', {
      name: 'v',
      role: 'viewer',
      environments: ['a'],
    });
    assert.equal(scopedViewer.statusCode, 400);
    const badRole = await call(ROOT, 'POST', '/v1/tokens', { name: 'v', role: 'god' });
    assert.equal(badRole.statusCode, 400);
    assert.match(badRole.json().error.message, /^role:/);
    const dup = await call(ROOT, 'POST', '/v1/tokens', { name: 'alice', role: 'viewer' });
    assert.equal(dup.statusCode, 409);
  });

  it('GIVEN a revoked token WHEN used THEN 401 at once', async () => {
    const extra = await tokens.create(
      { name: 'temp', role: 'viewer' },
      { name: 'root', role: 'admin', environments: '*' },
    );
    assert.equal((await call(extra.token, 'GET', '/v1/things')).statusCode, 200);
    const res = await call(ROOT, 'DELETE', '/v1/tokens/temp');
    assert.equal(res.statusCode, 200);
    assert.equal((await call(extra.token, 'GET', '/v1/things')).statusCode, 401);
    await assert.rejects(tokens.revoke('temp'), (e) => isRampartError(e) && e.code === 'RAMPART_E_NOT_FOUND');
  });
});

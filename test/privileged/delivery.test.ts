// Delivery on real namespaces: a rolling update under continuous traffic fails no request; a
// release that never turns healthy is rolled back and never gets traffic; a rollback by hand; the
// same release twice is a no-op; a new environment made from a running one is isolated from it and
// `env destroy` leaves nothing behind; a deploy token may deploy but not read config or change policies.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { cp as copyDir, mkdir, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { systemClock } from '../../src/platform/clock.ts';
import { TokenRegistry } from '../../src/server/auth.ts';
import {
  startControlPlaneForTest,
  testEnvironmentName,
  type TestControlPlane,
} from '../../src/testing/control-plane.ts';
import { inNetns, tcpConnectScript } from '../../src/testing/probe.ts';

const FIXTURE = fileURLToPath(new URL('../fixtures/delivery/', import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** One GET on a new connection (so each request is load-balanced anew, as most clients' first is). */
function get(port: number): Promise<{ version: string; replica: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 3000 }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c));
      res.on('end', () =>
        res.statusCode === 200 ? resolve(JSON.parse(body)) : reject(new Error(`HTTP ${res.statusCode}`)),
      );
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Requests back to back from 4 clients until stopped; counts failures and the versions seen. */
function continuousTraffic(port: number) {
  let running = true;
  const seen = new Map<string, number>();
  const failures: string[] = [];
  let ok = 0;
  const client = async () => {
    while (running) {
      try {
        const r = await get(port);
        seen.set(r.version, (seen.get(r.version) ?? 0) + 1);
        ok += 1;
      } catch (error) {
        failures.push((error as Error).message);
      }
    }
  };
  const clients = Array.from({ length: 4 }, client);
  return {
    async stop() {
      running = false;
      await Promise.all(clients);
      return { ok, failures, seen };
    },
  };
}

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });

describe('delivery on real namespaces', { timeout: 900_000 }, () => {
  let cp: TestControlPlane;
  const env = testEnvironmentName('dl');
  const env2 = testEnvironmentName('dm');
  let port = 0;
  let code = '';
  let file = '';

  const t0 = Date.now();
  const log = (m: string) => process.env.DELIVERY_TEST_LOG && console.log(`${Date.now() - t0} ${m}`);
  const deploy = (services: string[] = []) =>
    cp.daemon.delivery.deploy({ file, environment: env, services }, log, {
      name: 'test',
      via: 'test',
    });
  const setVersion = (v: string) => writeFile(join(code, 'version.txt'), `${v}\n`);

  before(async () => {
    cp = await startControlPlaneForTest({ readyTimeoutMs: 30_000 });
    port = await freePort();
    code = join(cp.stateDir, 'code', 'web');
    await mkdir(code, { recursive: true });
    await copyDir(FIXTURE, code, { recursive: true });
    await setVersion('v1');
    file = await cp.writeStack(`version: 1
name: dlv
services:
  web:
    command: [node, svc.mjs]
    workdir: ${code}
    replicas: 2
    ports: [{ name: http, port: 8080 }]
    health: { http: { path: /healthz, port: http }, interval: 250ms, timeout: 1s }
    publish: [{ port: http, hostPort: ${port} }]
    deploy: { maxSurge: 1, maxUnavailable: 0, drainTimeout: 2s, healthTimeout: 30s }
`);
    await deploy();
  });

  after(async () => {
    try {
      await cp.daemon.delivery.destroyEnvironment({ name: env2 }, () => undefined).catch(() => undefined);
      await cp.daemon.controlPlane.down({ environment: env }, () => undefined);
    } finally {
      await cp.stop({ removeState: true });
    }
  });

  it('GIVEN a deployed release THEN replicas run from it, read-only', async () => {
    const r = await get(port);
    assert.equal(r.version, 'v1');
    const ps = cp.daemon.controlPlane.ps({ environment: env });
    assert.equal(ps.length, 2);
    const release = join(cp.stateDir, 'releases', 'web');
    const running = JSON.parse(
      await new Promise<string>((resolve) =>
        http.get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
          let b = '';
          res.on('data', (c: Buffer) => (b += c));
          res.on('end', () => resolve(b));
        }),
      ),
    ) as { cwd: string };
    assert.ok(running.cwd.startsWith(release), running.cwd);
    assert.throws(() =>
      sh('setpriv', [
        '--reuid=rampart',
        '--regid=rampart',
        '--clear-groups',
        'touch',
        join(running.cwd, 'x'),
      ]),
    );
  });

  it('GIVEN continuous traffic WHEN a new release rolls out THEN no request fails and the new one serves', async () => {
    await setVersion('v2');
    const traffic = continuousTraffic(port);
    const { record } = await deploy();
    await new Promise((r) => setTimeout(r, 300));
    const { ok, failures, seen } = await traffic.stop();
    assert.equal(record.outcome, 'succeeded');
    assert.deepEqual(failures, []);
    assert.ok(ok > 20, `only ${ok} requests`);
    assert.ok((seen.get('v1') ?? 0) > 0 && (seen.get('v2') ?? 0) > 0, JSON.stringify([...seen]));
    assert.equal((await get(port)).version, 'v2');
    assert.equal(cp.daemon.controlPlane.ps({ environment: env }).length, 2);
  });

  it('GIVEN the same release WHEN deployed again THEN nothing changes', async () => {
    const pids = cp.daemon.controlPlane.ps({ environment: env }).map((r) => r.pid);
    const { plan, record } = await deploy();
    assert.equal(plan.noop, true);
    assert.equal(record.outcome, 'no-op');
    assert.deepEqual(
      cp.daemon.controlPlane.ps({ environment: env }).map((r) => r.pid),
      pids,
    );
  });

  it('GIVEN a release that never turns healthy WHEN deployed THEN it is rolled back and never gets traffic', async () => {
    await setVersion('broken-exit');
    const traffic = continuousTraffic(port);
    await assert.rejects(deploy(), (e: Error & { code?: string }) => e.code === 'RAMPART_E_ROLLED_BACK');
    const { failures, seen } = await traffic.stop();
    assert.deepEqual(failures, []);
    assert.deepEqual([...seen.keys()], ['v2']);
    const history = await cp.daemon.delivery.history({ environment: env, service: 'web' });
    assert.equal(history[0]?.outcome, 'rolled-back');
    assert.equal(cp.daemon.controlPlane.ps({ environment: env }).filter((r) => r.healthy).length, 2);
  });

  it('GIVEN two good releases WHEN rolled back by hand THEN the earlier one serves again', async () => {
    const record = await cp.daemon.delivery.rollback({ environment: env, service: 'web' }, () => undefined, {
      name: 'test',
      via: 'test',
    });
    assert.equal(record.outcome, 'succeeded');
    assert.equal((await get(port)).version, 'v1');
    const history = await cp.daemon.delivery.history({ environment: env, service: 'web' });
    assert.deepEqual(
      history.map((h) => `${h.kind} ${h.outcome}`),
      ['rollback succeeded', 'deploy rolled-back', 'deploy no-op', 'deploy succeeded', 'deploy succeeded'],
    );
  });

  it('GIVEN a deploy token WHEN it reads config or changes a policy THEN 403, and it may deploy its environment', async () => {
    const tokens = new TokenRegistry({
      store: cp.daemon.controlPlane.store,
      clock: systemClock,
      rootToken: cp.daemon.token,
    });
    const { token } = await tokens.create(
      { name: 'ci', role: 'deployer', environments: [env] },
      { name: 'root', role: 'admin', environments: '*' },
    );
    const call = (method: string, path: string, body?: unknown) =>
      fetch(`${cp.daemon.url}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        ...(body !== undefined && { body: JSON.stringify(body) }),
      });
    assert.equal((await call('GET', `/v1/config?environment=${env}&service=web`)).status, 403);
    assert.equal(
      (await call('POST', '/v1/policies', { environment: env, text: 'kind: NetworkPolicy', file: 'x.yaml' }))
        .status,
      403,
    );
    assert.equal((await call('POST', '/v1/firewall/mode', { environment: env, mode: 'learn' })).status, 403);
    assert.equal((await call('POST', `/v1/environments/prod/deploy`, { file, dryRun: true })).status, 403);
    const ok = await call('POST', `/v1/environments/${env}/deploy`, { file, dryRun: true, via: 'ci job 1' });
    assert.equal(ok.status, 200);
    const lines = (await ok.text())
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { type: string });
    assert.equal(lines.at(-1)?.type, 'done');
  });

  it('GIVEN a running environment WHEN another is created from it and destroyed THEN they never reach each other and nothing is left', async () => {
    const before = cp.daemon.controlPlane.ps({ environment: env }).map((r) => `${r.id}:${r.pid}`);
    await cp.daemon.delivery.createEnvironment({ name: env2, from: env }, () => undefined, {
      name: 'test',
      via: 'test',
    });
    const mine = cp.daemon.controlPlane.ps({ environment: env });
    const theirs = cp.daemon.controlPlane.ps({ environment: env2 });
    assert.equal(theirs.length, 2);
    assert.ok(theirs.every((r) => r.healthy));
    // Different address blocks, and no route between them in either direction.
    assert.notEqual(theirs[0]!.addresses.app, mine[0]!.addresses.app);
    assert.match(await inNetns(theirs[0]!.netns, tcpConnectScript(mine[0]!.addresses.app!, 8080)), /^ERR /);
    assert.match(await inNetns(mine[0]!.netns, tcpConnectScript(theirs[0]!.addresses.app!, 8080)), /^ERR /);
    const pids = theirs.map((r) => r.pid!);

    await cp.daemon.delivery.destroyEnvironment({ name: env2 }, () => undefined);
    assert.deepEqual(
      sh('ip', ['netns', 'list'])
        .split('\n')
        .filter((l) => l.includes(`rampart-${env2}-`)),
      [],
    );
    assert.deepEqual(
      sh('ip', ['-o', 'link'])
        .split('\n')
        .filter((l) => l.includes(`rp-${env2}-`)),
      [],
    );
    assert.deepEqual(
      sh('nft', ['list', 'tables'])
        .split('\n')
        .filter((l) => l.endsWith(`rampart_${env2.replaceAll('-', '_')}`)),
      [],
    );
    for (const pid of pids) assert.throws(() => process.kill(pid, 0));
    assert.throws(() => sh('ls', [`/run/rampart/environments/${env2}`]));
    assert.deepEqual(await cp.daemon.controlPlane.store.listDocuments('delivery.deploy', env2), []);
    // The source environment never noticed.
    assert.deepEqual(
      cp.daemon.controlPlane.ps({ environment: env }).map((r) => `${r.id}:${r.pid}`),
      before,
    );
    assert.equal((await get(port)).version, 'v1');
  });
});

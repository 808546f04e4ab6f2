// The foundation issue's "done when", on real namespaces, bridges, nftables and PostgreSQL:
// name resolution, load balancing, health-based rotation, db isolation, database access, published
// ports, restarts, daemon restart adoption, and a `down` that leaves nothing behind.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { fileURLToPath } from 'node:url';
import { httpGetScript, inNetns, tcpConnectScript } from '../../src/testing/probe.ts';
import { promisify } from 'node:util';
import { netnsName, nftTableName, bridgeName } from '../../src/platform/names.ts';
import {
  startControlPlaneForTest,
  testEnvironmentName,
  type TestControlPlane,
} from '../../src/testing/control-plane.ts';

const run = promisify(execFile);
const SVC_DIR = fileURLToPath(new URL('../fixtures/foundation', import.meta.url));

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

const GET = httpGetScript;
const CONNECT = tcpConnectScript;

async function kernelObjects(env: string): Promise<string[]> {
  const found: string[] = [];
  const { stdout: ns } = await run('ip', ['netns', 'list']);
  found.push(...ns.split('\n').filter((l) => l.startsWith(`rampart-${env}-`)));
  const { stdout: links } = await run('ip', ['-j', 'link', 'show']);
  for (const l of JSON.parse(links) as { ifname: string; ifalias?: string }[]) {
    if (
      l.ifname === bridgeName(env, 'app') ||
      l.ifname === bridgeName(env, 'db') ||
      l.ifalias === `rampart:${env}`
    )
      found.push(l.ifname);
  }
  const { stdout: tables } = await run('nft', ['list', 'tables']);
  if (tables.includes(nftTableName(env))) found.push(nftTableName(env));
  return found;
}

describe('foundation on real namespaces', { timeout: 240_000 }, () => {
  let cp: TestControlPlane;
  const env = testEnvironmentName('f');
  let hostPort = 0;
  const ns = (service: string, i = 0) => netnsName(env, env, service, i);
  const progress: string[] = [];
  let stackFile = '';

  before(async () => {
    cp = await startControlPlaneForTest({ readyTimeoutMs: 60_000 });
    hostPort = await freePort();
    stackFile = await cp.writeStack(`
version: 1
name: found
services:
  front:
    command: [node, svc.mjs]
    workdir: ${SVC_DIR}
    replicas: 2
    ports: [{ name: http, port: 8080 }]
    networks: [app]
    health: { http: { path: /healthz, port: http }, interval: 500ms, timeout: 400ms, unhealthyThreshold: 1 }
    publish: [{ port: http, hostPort: ${hostPort} }]
  back:
    command: [node, svc.mjs]
    workdir: ${SVC_DIR}
    ports: [{ name: http, port: 8080 }]
    networks: [app, db]
    health: { http: { path: /healthz, port: http }, interval: 500ms, timeout: 400ms }
    config: { feature: { enabled: true } }
databases:
  notes:
    engine: postgres
    users: [back]
    parameters: { work_mem: 8MB }
`);
    await cp.daemon.controlPlane.up({ file: stackFile, environment: env, clientEnv: {} }, (m) =>
      progress.push(m),
    );
  });

  after(async () => {
    try {
      await cp.daemon.controlPlane.down({ environment: env }, () => undefined);
    } finally {
      await cp.stop({ removeState: true });
    }
  });

  it('GIVEN the stack is up THEN every replica runs, healthy, as the unprivileged service user', async () => {
    const ps = cp.daemon.controlPlane.ps({ environment: env });
    assert.deepEqual(
      ps.map((r) => `${r.id} ${r.state} ${r.healthy}`),
      [
        `${env}/back-0 running true`,
        `${env}/front-0 running true`,
        `${env}/front-1 running true`,
        `${env}/notes-0 running true`,
      ],
    );
    for (const r of ps.filter((r) => r.kind === 'service')) {
      const { stdout } = await run('ps', ['-o', 'user=', '-p', String(r.pid)]);
      assert.equal(stdout.trim(), 'rampart');
    }
  });

  it('GIVEN a replica THEN <service> and <service>.<namespace> resolve to the VIP and env vars name it', async () => {
    const back = cp.daemon.controlPlane.ps({ environment: env }).find((r) => r.service === 'back')!;
    assert.equal(await inNetns(ns('front'), GET('http://back:8080/whoami')), `${env}/back-0`);
    assert.equal(await inNetns(ns('front'), GET(`http://back.${env}:8080/whoami`)), `${env}/back-0`);
    const vars = JSON.parse(await inNetns(ns('front'), GET('http://back:8080/env'))) as Record<
      string,
      string
    >;
    assert.equal(
      vars.FRONT_HOST,
      cp.daemon.controlPlane.ps({ environment: env }).find((r) => r.service === 'front')!.vip,
    );
    assert.equal(vars.FRONT_PORT, '8080');
    assert.equal(vars.BACK_HOST, back.vip);
    // config the rc way
    assert.equal(vars.back_feature__enabled, 'true');
  });

  it('GIVEN 2 replicas behind a VIP THEN new connections are spread over both', async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 10; i++) seen.add(await inNetns(ns('back'), GET('http://front:8080/whoami')));
    assert.deepEqual([...seen].sort(), [`${env}/front-0`, `${env}/front-1`]);
  });

  it('GIVEN an app-only service THEN it cannot open any connection into the db network, nor name the database', async () => {
    const db = cp.daemon.controlPlane.ps({ environment: env }).find((r) => r.service === 'notes')!;
    assert.match(
      await inNetns(ns('front'), CONNECT(db.addresses.db!, 5432)),
      /^ERR (ENETUNREACH|EHOSTUNREACH|ECONNREFUSED|TIMEOUT)/,
    );
    assert.match(await inNetns(ns('front'), CONNECT(db.vip!, 5432)), /^ERR /);
    assert.match(await inNetns(ns('front'), CONNECT('notes', 5432)), /^ERR (ENOTFOUND|EAI_AGAIN)/);
  });

  it('GIVEN a database user THEN it reaches PostgreSQL with its own role through DATABASE_URL, on a server with the stack parameters', async () => {
    const out = JSON.parse(await inNetns(ns('front'), GET('http://back:8080/db'))) as {
      n: number;
      who: string;
      work_mem: string;
    };
    assert.equal(out.who, 'back');
    assert.ok(out.n >= 1);
    assert.equal(out.work_mem, '8MB');
  });

  it('GIVEN a published port THEN the host reaches the service on 127.0.0.1', async () => {
    const res = await fetch(`http://127.0.0.1:${hostPort}/whoami`);
    assert.match(await res.text(), new RegExp(`^${env}/front-[01]$`));
  });

  it('GIVEN a replica that fails its health check THEN it leaves the VIP within one check interval', async () => {
    const front0 = cp.daemon.controlPlane.ps({ environment: env }).find((r) => r.id === `${env}/front-0`)!;
    await inNetns(ns('back'), GET(`http://${front0.addresses.app}:8080/sick`));
    const start = Date.now();
    while (cp.daemon.controlPlane.ps({ environment: env }).find((r) => r.id === `${env}/front-0`)!.healthy) {
      await new Promise((r) => setTimeout(r, 20));
      assert.ok(Date.now() - start < 5_000, 'front-0 never became unhealthy');
    }
    // The kernel map is rewritten at once; give the nft transaction a moment.
    await new Promise((r) => setTimeout(r, 300));
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) seen.add(await inNetns(ns('back'), GET('http://front:8080/whoami')));
    assert.deepEqual([...seen], [`${env}/front-1`]);
  });

  it('GIVEN a killed replica THEN the supervisor restarts it', async () => {
    const before = cp.daemon.controlPlane.ps({ environment: env }).find((r) => r.id === `${env}/back-0`)!;
    process.kill(before.pid!, 'SIGKILL');
    const start = Date.now();
    for (;;) {
      const now = cp.daemon.controlPlane.ps({ environment: env }).find((r) => r.id === `${env}/back-0`)!;
      if (now.pid !== before.pid && now.state === 'running' && now.healthy) {
        assert.equal(now.restarts, before.restarts + 1);
        break;
      }
      assert.ok(Date.now() - start < 15_000, `not restarted: ${JSON.stringify(now)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  });

  it('GIVEN restart of a service THEN its replicas are replaced one at a time and come back healthy', async () => {
    const before = cp.daemon.controlPlane.ps({ environment: env }).filter((r) => r.service === 'front');
    const lines: string[] = [];
    await cp.daemon.controlPlane.restart({ environment: env, service: 'front' }, (m) => lines.push(m));
    const after = cp.daemon.controlPlane.ps({ environment: env }).filter((r) => r.service === 'front');
    assert.deepEqual(lines, [
      `${env}/front-0: restarting`,
      `${env}/front-0: starting (app ${before[0]!.addresses.app})`,
      `${env}/front-1: restarting`,
      `${env}/front-1: starting (app ${before[1]!.addresses.app})`,
    ]);
    for (const [i, r] of after.entries()) {
      assert.notEqual(r.pid, before[i]!.pid);
      assert.equal(r.healthy, true);
    }
  });

  it('GIVEN a daemon restart THEN every replica is adopted untouched (same pids, no restart)', async () => {
    const before = cp.daemon.controlPlane
      .ps({ environment: env })
      .map((r) => `${r.id}:${r.pid}:${r.restarts}`);
    await cp.restartDaemon();
    const after = cp.daemon.controlPlane
      .ps({ environment: env })
      .map((r) => `${r.id}:${r.pid}:${r.restarts}`);
    assert.deepEqual(after, before);
    assert.equal(await inNetns(ns('front'), GET('http://back:8080/whoami')), `${env}/back-0`);
  });

  it('GIVEN new database parameters WHEN up runs again THEN the database restarts with them, its data kept', async () => {
    const database = () => cp.daemon.controlPlane.ps({ environment: env }).find((r) => r.service === 'notes');
    const before = database();
    assert.ok(before?.pid, 'the database replica runs');
    const { n } = JSON.parse(await inNetns(ns('front'), GET('http://back:8080/db'))) as { n: number };
    await cp.writeStack((await readFile(stackFile, 'utf8')).replace('work_mem: 8MB', 'work_mem: 16MB'));
    const lines: string[] = [];
    await cp.daemon.controlPlane.up({ file: stackFile, environment: env, clientEnv: {} }, (m) =>
      lines.push(m),
    );
    assert.notEqual(database()?.pid, before.pid, lines.join('\n'));
    const out = JSON.parse(await inNetns(ns('front'), GET('http://back:8080/db'))) as {
      n: number;
      work_mem: string;
    };
    assert.equal(out.work_mem, '16MB');
    assert.ok(out.n > n, `rows written before the restart are still there: ${out.n} after ${n}`);
  });

  it('GIVEN down THEN no namespace, veth, bridge or nft table of the environment is left', async () => {
    const pids = cp.daemon.controlPlane.ps({ environment: env }).map((r) => r.pid!);
    assert.ok((await kernelObjects(env)).length > 0);
    await cp.daemon.controlPlane.down({ environment: env }, () => undefined);
    assert.deepEqual(await kernelObjects(env), []);
    for (const pid of pids) assert.throws(() => process.kill(pid, 0));
  });

  it('GIVEN the stack comes up again THEN the database kept its data', async () => {
    await cp.daemon.controlPlane.up({ file: stackFile, environment: env, clientEnv: {} }, () => undefined);
    const out = JSON.parse(await inNetns(ns('front'), GET('http://back:8080/db'))) as {
      n: number;
      who: string;
    };
    assert.ok(out.n >= 2, `rows written before down are still there: ${out.n}`);
  });
});

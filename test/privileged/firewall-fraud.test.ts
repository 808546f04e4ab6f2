// The firewall on the fraud stack, through Rampart's API and CLI: learn while the traffic
// generator runs, propose, replay, apply, protect; the generator then sees no error and no
// firewall decision blocks the stack's own traffic, while `rampart exec gateway -- <connect to the
// database>` is refused in the kernel and its alert is in the API within a second. A deploy that
// would let credit-bureau meet device-behavior is refused with the path.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { fraudStackText } from '../../examples/fraud/generator/stack-file.ts';
import { runTraffic, trafficOrders } from '../../examples/fraud/generator/traffic.ts';
import type { Alert } from '../../src/firewall/index.ts';
import { RampartError } from '../../src/platform/errors.ts';
import {
  startControlPlaneForTest,
  testEnvironmentName,
  type TestControlPlane,
} from '../../src/testing/control-plane.ts';
import { freePort } from '../../src/testing/postgres.ts';
import { tcpConnectScript } from '../../src/testing/probe.ts';

const run = promisify(execFile);
const RAMPART = fileURLToPath(new URL('../../bin/rampart.js', import.meta.url));
const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces, nftables, PostgreSQL)' : false;

describe('firewall on the fraud stack', { skip, timeout: 240_000 }, () => {
  let cp: TestControlPlane;
  const env = testEnvironmentName('x');
  const refusedEnv = testEnvironmentName('x');
  let base = '';
  let hostPort = 0;

  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> => {
    const res = await fetch(`${cp.daemon.url}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${cp.daemon.token}`,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    assert.ok(res.ok, `${method} ${path}: ${res.status} ${text}`);
    return (res.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text) as T;
  };
  const traffic = (seed: number) =>
    runTraffic({
      url: base,
      rate: 40,
      durationMs: 3_000,
      orders: trafficOrders({ seed, historyOrders: 20_000 }, 120),
    });

  before(async () => {
    cp = await startControlPlaneForTest({ readyTimeoutMs: 150_000 });
    hostPort = await freePort();
    base = `http://127.0.0.1:${hostPort}`;
    const file = await cp.writeStack(fraudStackText({ environment: env, hostPort, overlayFrom: 'test' }));
    try {
      await cp.daemon.controlPlane.up({ file, environment: env, clientEnv: {} }, () => undefined);
    } catch (error) {
      // What the replicas that did not come up said last: the reason is in their output.
      const unhealthy = [
        ...new Set(
          cp.daemon.controlPlane
            .ps({ environment: env })
            .filter((r) => !r.healthy)
            .map((r) => r.service),
        ),
      ];
      const said = await Promise.all(
        unhealthy.map((service) => cp.daemon.controlPlane.logs({ environment: env, service, tail: 8 })),
      );
      const lines = said.flat().map((l) => `${l.service}-${l.replica} ${l.stream}: ${l.message}`);
      throw new Error(`${(error as Error).message}\n${lines.join('\n')}`, { cause: error });
    }
  });

  after(async () => {
    try {
      await cp.daemon.controlPlane.down({ environment: refusedEnv }, () => undefined);
      await cp.daemon.controlPlane.down({ environment: env }, () => undefined);
    } finally {
      await cp.stop({ removeState: true });
    }
  });

  it('GIVEN learn mode WHEN the generator runs THEN the proposal allows the stack’s calls, replays with nothing blocked, and applies', async () => {
    const learned = await traffic(11);
    assert.equal(learned.errors, 0, JSON.stringify(learned.errorsByStatus));
    const yaml = await api<string>('GET', `/v1/policies/propose?environment=${env}`);
    for (const svc of ['gateway', 'velocity', 'credit', 'audit', 'frauddb'])
      assert.match(yaml, new RegExp(`name: ${svc}\\n`), `a policy for ${svc}`);
    const replayed = await api<{ report: { blocked: number } }>('POST', '/v1/policies/test', {
      environment: env,
      text: yaml,
      file: 'proposal.yaml',
    });
    assert.equal(replayed.report.blocked, 0);
    const applied = await api<{ applied: string[] }>('POST', '/v1/policies', {
      environment: env,
      text: yaml,
      file: 'proposal.yaml',
    });
    assert.ok(applied.applied.includes('fraud/gateway'), applied.applied.join(','));
  });

  it('GIVEN the proposal in protect mode WHEN the generator runs again THEN no request fails and the firewall blocks none of the stack’s own flows', async () => {
    await api('POST', '/v1/firewall/mode', { environment: env, mode: 'protect' });
    const since = Date.now();
    const protectedRun = await traffic(12);
    assert.equal(protectedRun.errors, 0, JSON.stringify(protectedRun.errorsByStatus));
    assert.equal(protectedRun.ok, protectedRun.sent);
    // A signal blocked by the firewall would not fail a request (the gateway answers without it):
    // the firewall's own record says whether anything was refused.
    await new Promise((r) => setTimeout(r, 500));
    const { alerts } = await api<{ alerts: Alert[] }>('GET', `/v1/alerts?environment=${env}&since=${since}`);
    assert.deepEqual(
      alerts.filter((a) => a.decision === 'blocked'),
      [],
    );
  });

  it('GIVEN protect mode WHEN `rampart exec gateway` connects to the database THEN the kernel refuses it and the alert is in the API within 1 s', async (t) => {
    const ps = cp.daemon.controlPlane.ps({ environment: env });
    const db = ps.find((r) => r.service === 'frauddb')!;
    const gateway = ps.find((r) => r.service === 'gateway')!;
    const rampart = (args: string[]) =>
      run(process.execPath, [RAMPART, ...args], {
        env: { ...process.env, RAMPART_HOME: cp.stateDir, RAMPART_ENV: env },
        timeout: 30_000,
      });
    // The gateway has no route to the database network at all: play an attacker who is root in the
    // gateway's namespace and adds one, so the attempt reaches the host and the firewall decides.
    const { stdout: routes } = await run('ip', ['-n', gateway.netns, 'route', 'show']);
    const via = /via (\S+)/.exec(routes)![1]!;
    await rampart([
      'exec',
      '--root',
      'gateway',
      '--',
      'ip',
      'route',
      'add',
      `${db.addresses.db!}/32`,
      'via',
      via,
    ]);
    const since = Date.now();
    // The probe prints when its connect starts, then the outcome; the API is polled meanwhile, so
    // the alert's delay is measured from the attempt, not from the end of the probe's timeout.
    const probe = rampart([
      'exec',
      'gateway',
      '--',
      process.execPath,
      '-e',
      `console.log(Date.now());${tcpConnectScript(db.addresses.db!, 5432)}`,
    ]);
    let seenAt: number | undefined;
    let blocked: Alert | undefined;
    while (!blocked && Date.now() - since < 30_000) {
      const { alerts } = await api<{ alerts: Alert[] }>(
        'GET',
        `/v1/alerts?environment=${env}&since=${since}`,
      );
      blocked = alerts.find(
        (a) =>
          a.decision === 'blocked' &&
          a.src.service === 'gateway' &&
          a.dst.service === 'frauddb' &&
          a.port === 5432,
      );
      if (blocked) seenAt = Date.now();
      else await new Promise((r) => setTimeout(r, 50));
    }
    const [startLine, outcome] = (await probe).stdout.trim().split('\n');
    // Protect mode drops (no RST for a policy drop, as with Kubernetes CNIs): the attempt times out;
    // the alert proves the firewall, not a missing route, stopped it.
    assert.match(outcome!.trim(), /^ERR (TIMEOUT|ECONNREFUSED|ECONNRESET|EHOSTUNREACH)$/);
    if (!blocked) {
      const { alerts } = await api<{ alerts: Alert[] }>('GET', `/v1/alerts?environment=${env}`);
      t.diagnostic(`probe: ${startLine} ${outcome}; alerts: ${JSON.stringify(alerts).slice(0, 3000)}`);
    }
    assert.ok(blocked, 'no blocked alert for gateway -> frauddb:5432 in the API');
    assert.equal(blocked.mode, 'protect');
    assert.match(blocked.decidedBy, /no policy allows it/);
    const delay = seenAt! - Number(startLine);
    t.diagnostic(`alert in the API ${delay} ms after the connect attempt`);
    assert.ok(delay < 1_000, `alert visible ${delay} ms after the attempt (goal < 1 s)`);
  });

  it('GIVEN the fraud stack’s rule WHEN a deploy would let credit send bureau records to the gateway THEN it is refused with the path, first deploy or not', async () => {
    const bad = fraudStackText({ environment: env, hostPort, overlayFrom: 'test' }).replace(
      // yaml prints flow sequences padded (`[ credit-decision ]`): match either way.
      /emits: \[\s*credit-decision\s*\]/,
      'emits: [credit-decision, credit-bureau]',
    );
    const refused = (e: unknown) =>
      e instanceof RampartError &&
      e.code === 'RAMPART_E_DATA_RULE' &&
      /credit-bureau and device-behavior meet in fraud\/gateway/.test(e.message) &&
      /fraud\/credit -> fraud\/gateway \(response from TCP\/8080/.test(e.message);
    const file = await cp.writeStack(bad, 'bad.yaml');
    const before = cp.daemon.controlPlane.ps({ environment: env }).map((r) => `${r.id} ${r.pid}`);
    await assert.rejects(
      cp.daemon.controlPlane.up({ file, environment: env, clientEnv: {} }, () => undefined),
      refused,
    );
    assert.deepEqual(
      cp.daemon.controlPlane.ps({ environment: env }).map((r) => `${r.id} ${r.pid}`),
      before,
    );
    const other = await cp.writeStack(
      fraudStackText({ environment: refusedEnv, hostPort: await freePort(), overlayFrom: 'test' }).replace(
        /emits: \[\s*credit-decision\s*\]/,
        'emits: [credit-decision, credit-bureau]',
      ),
      'bad-first.yaml',
    );
    await assert.rejects(
      cp.daemon.controlPlane.up({ file: other, environment: refusedEnv, clientEnv: {} }, () => undefined),
      refused,
    );
    assert.deepEqual(cp.daemon.controlPlane.ps({ environment: refusedEnv }), []);
  });
});

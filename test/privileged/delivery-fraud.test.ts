// Delivery on the fraud stack, on real namespaces (issue 6, "Done when"): a rolling update of
// `scoring` (a one-line code change: a new release) under the fraud traffic generator fails no
// request and the new release serves afterwards; a `scoring` release whose health check fails is
// rolled back automatically and never gets a request (it writes every request it receives to a
// file); a staging environment made from the running one and destroyed again leaves nothing
// behind and never touches production (replicas, pids, database rows, nftables state), while
// production traffic keeps succeeding. One fraud stack (small seed) serves all three.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { appendFile, chmod, mkdir, readFile, readlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { MERCHANT_BY_ID } from '../../examples/fraud/generator/data.ts';
import { runTraffic, type TrafficReport } from '../../examples/fraud/generator/traffic.ts';
import type { Order } from '../../examples/fraud/lib/types.ts';
import { startFraudStack, type FraudStack } from '../../src/testing/fraud-stack.ts';
import { testEnvironmentName } from '../../src/testing/control-plane.ts';

const sh = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const ACTOR = { name: 'test', via: 'test/privileged/delivery-fraud.test.ts' };

/** The fraud traffic generator in the background until `stop()`: orders at `rate` per second. */
function background(url: string, rate: number) {
  const abort = new AbortController();
  const run = runTraffic({ url, rate, durationMs: 600_000, historyOrders: 20_000, signal: abort.signal });
  return {
    async stop(): Promise<TrafficReport> {
      abort.abort();
      return run;
    },
  };
}

/** Everything the kernel and the store hold for an environment, by kind (empty lists: nothing). */
async function leftovers(stack: FraudStack, env: string) {
  const store = stack.cp.daemon.controlPlane.store;
  const nftName = `rampart_${env.replaceAll('-', '_')}`;
  return {
    netns: sh('ip', ['netns', 'list'])
      .split('\n')
      .filter((l) => l.includes(`rampart-${env}-`)),
    links: sh('ip', ['-o', 'link'])
      .split('\n')
      .filter((l) => l.includes(`rp-${env}-`)),
    nft: sh('nft', ['list', 'tables'])
      .split('\n')
      .filter((l) => l.includes(nftName)),
    processes: sh('ps', ['-eo', 'pid,args'])
      .split('\n')
      .filter((l) => l.includes(`/${env}/`)),
    claim: existsSync(`/run/rampart/environments/${env}`) ? [env] : [],
    dataDir: existsSync(join(stack.cp.stateDir, 'data', env)) ? [env] : [],
    logDir: existsSync(join(stack.cp.stateDir, 'logs', env)) ? [env] : [],
    deployment: (await store.getDeployment(env)) ? [env] : [],
    replicas: (await store.listReplicas(env)).map((r) => `${r.namespace}/${r.service}-${r.index}`),
    secrets: (await store.listSecrets(env)).map((s) => `${s.owner}/${s.key}`),
    deploys: (await store.listDocuments('delivery.deploy', env)).map((d) => d.key),
  };
}

/** The environment's nftables tables as text, without the counters and timeouts that move with traffic. */
function nftState(env: string): string {
  const nftName = `rampart_${env.replaceAll('-', '_')}`;
  return sh('nft', ['list', 'tables'])
    .split('\n')
    .filter((l) => l.includes(nftName))
    .map((l) => sh('nft', ['list', ...l.split(' ')]))
    .join('\n')
    .replace(/counter packets \d+ bytes \d+/g, 'counter')
    .replace(/ expires \S+/g, '');
}

/** The gateway's warnings (upstream failures, overload) logged since `since`: why orders failed. */
async function gatewayWarnings(stack: FraudStack, since: number): Promise<string[]> {
  const lines: string[] = [];
  for (const i of [0, 1, 2]) {
    const file = join(stack.cp.stateDir, 'logs', stack.environment, 'fraud', `gateway-${i}.out.log`);
    const text = await readFile(file, 'utf8').catch(() => '');
    for (const line of text.split('\n')) {
      if (!line.includes('"level":"warn"') && !line.includes('"level":"error"')) continue;
      const time = Date.parse((/"time":"([^"]+)"/.exec(line) ?? [])[1] ?? '');
      if (time >= since) lines.push(`gateway-${i} ${line}`);
    }
  }
  return lines.slice(0, 20);
}

/** A release's folder from a replica's working directory: `<state>/releases/<service>/<id>/...`. */
async function releaseOf(stateDir: string, pid: number): Promise<string> {
  const cwd = await readlink(`/proc/${pid}/cwd`);
  const m = new RegExp(`^${stateDir}/releases/(.+?)/([0-9a-f]{16})(/|$)`).exec(cwd);
  assert.ok(m, `replica ${pid} does not run from a release: ${cwd}`);
  return m[2]!;
}

describe('delivery on the fraud stack', { timeout: 1_200_000 }, () => {
  let stack: FraudStack;
  let env = '';
  let scoringServer = '';
  const t0 = Date.now();
  const log = (m: string) => process.env.DELIVERY_TEST_LOG && console.log(`${Date.now() - t0} ${m}`);
  const scoring = () =>
    stack.cp.daemon.controlPlane.ps({ environment: env }).filter((r) => r.service === 'scoring');
  const deployScoring = () =>
    stack.cp.daemon.delivery.deploy(
      { file: stack.file, environment: env, services: ['scoring'] },
      log,
      ACTOR,
    );

  before(async () => {
    stack = await startFraudStack({
      prefix: 'dl',
      copy: true,
      // A release that never turns healthy is given up after 20 s instead of the stack's 60 s.
      editStack: (text) => text.replace('healthTimeout: 60s', 'healthTimeout: 20s'),
    });
    env = stack.environment;
    scoringServer = join(stack.dir, 'services', 'scoring', 'server.ts');
    log(`stack ${env} up at ${stack.url}`);
  });

  after(async () => {
    await stack?.stop();
  });

  it('GIVEN continuous orders WHEN a one-line change to scoring rolls out THEN no order fails and the new release serves', async () => {
    const [old] = scoring();
    assert.ok(old?.pid && old.healthy, JSON.stringify(old));
    const oldRelease = await releaseOf(stack.cp.stateDir, old.pid);
    const since = Date.now();
    const traffic = background(stack.url, 40);
    await sleep(1500);
    const marker = `dl-${Date.now().toString(36)}`;
    await appendFile(scoringServer, `log('info', 'release ${marker}');\n`);
    const { plan, record } = await deployScoring();
    await sleep(1500);
    const report = await traffic.stop();

    assert.equal(record.outcome, 'succeeded');
    const change = plan.services.find((c) => c.service === 'fraud/scoring');
    assert.equal(change?.change, 'updated');
    assert.equal(change?.release.from, oldRelease);
    assert.deepEqual(report.errorsByStatus, {}, (await gatewayWarnings(stack, since)).join('\n'));
    assert.equal(report.errors, 0);
    assert.ok(report.ok > 60, `only ${report.ok} orders answered`);
    // Only scoring was rolled: the new release runs, the old replica is gone.
    const now = scoring();
    assert.equal(now.length, 1);
    assert.ok(now[0]!.healthy && now[0]!.pid !== old.pid);
    assert.throws(() => process.kill(old.pid!, 0));
    const newRelease = await releaseOf(stack.cp.stateDir, now[0]!.pid!);
    assert.equal(newRelease, change?.release.to);
    assert.notEqual(newRelease, oldRelease);
    const cwd = await readlink(`/proc/${now[0]!.pid}/cwd`);
    assert.match(await readFile(join(cwd, 'server.ts'), 'utf8'), new RegExp(marker));
    // It answers: a new order after the update gets a decision.
    const after = await runTraffic({ url: stack.url, rate: 20, durationMs: 1000, historyOrders: 20_000 });
    assert.equal(after.errors, 0, JSON.stringify(after.errorsByStatus));
  });

  it('GIVEN a scoring release whose health check fails WHEN deployed THEN it is rolled back and gets no request', async () => {
    const [good] = scoring();
    assert.ok(good?.pid);
    const goodRelease = await releaseOf(stack.cp.stateDir, good.pid);
    const original = await readFile(scoringServer, 'utf8');
    // The bad release answers its health check with 503 and writes down every request it gets.
    const records = join(stack.cp.stateDir, 'bad-scoring');
    await mkdir(records, { recursive: true });
    await chmod(records, 0o777);
    const requests = join(records, 'requests.log');
    await writeFile(
      scoringServer,
      `import { appendFileSync } from 'node:fs';
import http from 'node:http';
http
  .createServer((req, res) => {
    appendFileSync(${JSON.stringify(requests)}, \`\${req.method} \${req.url}\\n\`);
    res.writeHead(req.url === '/healthz' ? 503 : 500, { 'content-type': 'application/json' });
    res.end('{"error":"bad release"}');
  })
  .listen(Number(process.env.PORT ?? 8080));
`,
    );
    const since = Date.now();
    const traffic = background(stack.url, 40);
    try {
      await sleep(1000);
      await assert.rejects(deployScoring(), (e: Error & { code?: string }) => {
        assert.equal(e.code, 'RAMPART_E_ROLLED_BACK', e.message);
        return true;
      });
      await sleep(1000);
    } finally {
      await writeFile(scoringServer, original);
    }
    const report = await traffic.stop();

    const seen = (await readFile(requests, 'utf8').catch(() => '')).trim().split('\n').filter(Boolean);
    assert.ok(
      seen.some((l) => l === 'GET /healthz'),
      'the bad release never ran (no health check reached it)',
    );
    assert.deepEqual(
      seen.filter((l) => l !== 'GET /healthz'),
      [],
    );
    assert.deepEqual(report.errorsByStatus, {}, (await gatewayWarnings(stack, since)).join('\n'));
    assert.ok(report.ok > 40, `only ${report.ok} orders answered`);
    // The good release never stopped serving: same process, same release.
    const now = scoring();
    assert.deepEqual(
      now.map((r) => [r.pid, r.healthy]),
      [[good.pid, true]],
    );
    assert.equal(await releaseOf(stack.cp.stateDir, good.pid), goodRelease);
    const history = await stack.cp.daemon.delivery.history({ environment: env, service: 'scoring' });
    assert.equal(history[0]?.outcome, 'rolled-back');
    const deployed = (await stack.cp.daemon.controlPlane.store.getDeployment(env))?.spec as {
      services: { name: string; release?: { id: string } }[];
    };
    assert.equal(deployed.services.find((s) => s.name === 'scoring')?.release?.id, goodRelease);
  });

  it('GIVEN production serving WHEN staging is created from it and destroyed THEN nothing is left and production never noticed', async () => {
    const staging = testEnvironmentName('dl');
    const controlPlane = stack.cp.daemon.controlPlane;
    const processes = () =>
      controlPlane
        .ps({ environment: env })
        .map((r) => `${r.id}:${r.pid}:${r.healthy}`)
        .sort();
    const count = async (table: string, environment = env) =>
      Number((await stack.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`, [], environment))[0]!.n);
    // A production order whose row must never show up in staging's database.
    const key = MERCHANT_BY_ID.get('voltmarkt')!.apiKey;
    const order: Order = {
      merchantId: 'voltmarkt',
      orderId: `dl-prod-${Date.now().toString(36)}`,
      amount: 4_999,
      currency: 'EUR',
      customer: { name: 'Jonas Weber', email: 'jonas.weber@web.de', phone: '+4917612345678' },
      billingAddress: { line1: 'Lindenstraße 3', city: 'Hamburg', postalCode: '20095', country: 'DE' },
      shippingAddress: { line1: 'Lindenstraße 3', city: 'Hamburg', postalCode: '20095', country: 'DE' },
      ipAddress: '91.12.34.57',
      deviceId: 'dev-0a1b2c3d4e5f6a7b',
      payment: { method: 'card', bin: '455600', last4: '1881' },
    };
    const answer = await fetch(`${stack.url}/v1/assessments`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': key },
      body: JSON.stringify(order),
    });
    assert.equal(answer.status, 200, await answer.clone().text());

    const before = {
      processes: processes(),
      nft: nftState(env),
      assessments: await count('audit.assessments'),
      bureau: await count('credit.bureau_records'),
      modes: JSON.stringify(controlPlane.firewall(env).getModes()),
    };
    const since = Date.now();
    const traffic = background(stack.url, 30);
    let report: TrafficReport | undefined;
    let stagingPids: number[] = [];
    try {
      await sleep(1000);
      await stack.cp.daemon.delivery.createEnvironment({ name: staging, from: env }, log, ACTOR);
      const copies = controlPlane.ps({ environment: staging });
      stagingPids = copies.map((r) => r.pid!);
      assert.equal(copies.length, controlPlane.ps({ environment: env }).length);
      assert.deepEqual(
        copies.filter((r) => r.state !== 'running' || !r.healthy).map((r) => r.id),
        [],
      );
      // Staging's own database, seeded by the stack (the small seed), never a copy of production.
      assert.ok((await count('credit.bureau_records', staging)) > 0);
      assert.deepEqual(
        await stack.query(
          'SELECT order_id FROM audit.assessments WHERE order_id = $1',
          [order.orderId],
          staging,
        ),
        [],
      );
      assert.equal(await count('audit.assessments', staging), 0);
      const prodAddresses = new Set(
        controlPlane.ps({ environment: env }).flatMap((r) => Object.values(r.addresses)),
      );
      assert.deepEqual(
        copies.flatMap((r) => Object.values(r.addresses)).filter((a) => prodAddresses.has(a)),
        [],
      );
      await stack.cp.daemon.delivery.destroyEnvironment({ name: staging }, log);
      await sleep(1000);
    } finally {
      report = await traffic.stop();
      await stack.cp.daemon.delivery
        .destroyEnvironment({ name: staging }, () => undefined)
        .catch(() => undefined);
    }

    const left = await leftovers(stack, staging);
    assert.deepEqual(
      stagingPids.filter((pid) => existsSync(`/proc/${pid}`)),
      [],
    );
    assert.deepEqual(
      Object.entries(left).filter(([, v]) => v.length > 0),
      [],
    );
    // Production: same processes, same kernel tables, every order answered and stored once.
    assert.deepEqual(report.errorsByStatus, {}, (await gatewayWarnings(stack, since)).join('\n'));
    assert.ok(report.ok > 30, `only ${report.ok} orders answered`);
    assert.deepEqual(processes(), before.processes);
    assert.equal(nftState(env), before.nft);
    assert.equal(JSON.stringify(controlPlane.firewall(env).getModes()), before.modes);
    assert.equal(await count('credit.bureau_records'), before.bureau);
    assert.equal(await count('audit.assessments'), before.assessments + report.ok);
  });
});

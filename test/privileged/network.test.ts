import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { createServer } from 'node:net';
import { after, before, describe, it } from 'node:test';
import {
  DEFAULT_ADDRESS_POOL,
  allocateAddress,
  allocateEnvironmentBlock,
  applyEnvironmentNetwork,
  applyReplicaNetwork,
  applyRuleset,
  discoveryHosts,
  execInNetns,
  hostIpv4Networks,
  listLeftovers,
  planEnvironmentAddressing,
  planEnvironmentNetwork,
  planReplicaNetwork,
  removeEnvironment,
  vipNetwork,
  type DiscoveryMember,
  type EnvironmentAddressing,
  type LoadBalancedService,
} from '../../src/network/index.ts';
import { GOLDEN_CASES, goldenPath } from '../../src/network/golden/cases.ts';
import { realExec } from '../../src/platform/exec.ts';
import { DEFAULT_OWNERS_DIR, EnvironmentOwnership } from '../../src/server/ownership.ts';
import { bridgeName, netnsName, nftTableName } from '../../src/platform/names.ts';
import type { NetworkName } from '../../src/stack/types.ts';

const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces, bridges, nftables)' : false;
const exec = realExec;
const ENV = `t${randomBytes(5)
  .toString('hex')
  .replace(/[0-9]/g, (d) => 'abcdefghij'[Number(d)]!)
  .slice(0, 5)}`;
const NS = 'shop';

/** A replica of the test environment: who it is, its networks and what it runs. */
interface TestReplica {
  service: string;
  index: number;
  networks: NetworkName[];
  /** Node program run inside the namespace; prints `ready` once listening. */
  server?: string;
  addresses: Partial<Record<NetworkName, string>>;
}

const httpServer = (port: number) =>
  `require('http').createServer((q, s) => s.end(process.env.REPLICA)).listen(${port}, () => console.log('ready'))`;
const tcpServer = (port: number) =>
  `require('net').createServer((c) => c.end('pg\\n')).listen(${port}, () => console.log('ready'))`;

/** Client run inside a namespace; prints one JSON result. Every attempt is bounded by 2 s. */
const CLIENT = `
const http = require('http'), net = require('net'), dns = require('dns');
const [mode, a, b] = process.argv.slice(1);
const out = (v) => process.stdout.write(JSON.stringify(v));
const get = (url) => new Promise((res) => {
  const r = http.get(url, { agent: false, timeout: 2000 }, (s) => {
    let body = ''; s.on('data', (d) => (body += d)); s.on('end', () => res({ ok: true, body }));
  });
  r.on('timeout', () => r.destroy(Object.assign(new Error('timeout'), { code: 'ETIMEDOUT' })));
  r.on('error', (e) => res({ ok: false, code: e.code }));
});
const tcp = (host, port) => new Promise((res) => {
  const s = net.connect({ host, port: Number(port), timeout: 2000 });
  let body = ''; s.on('data', (d) => (body += d)); s.on('end', () => res({ ok: true, body }));
  s.on('timeout', () => { s.destroy(); res({ ok: false, code: 'ETIMEDOUT' }); });
  s.on('error', (e) => res({ ok: false, code: e.code }));
});
(async () => {
  if (mode === 'http') { const r = []; for (let i = 0; i < Number(b); i++) r.push(await get(a)); out(r); }
  else if (mode === 'tcp') out(await tcp(a, b));
  else dns.lookup(a, { family: 4 }, (e, address) => out(e ? { ok: false, code: e.code } : { ok: true, body: address }));
})();
`;

interface Attempt {
  ok: boolean;
  body?: string;
  code?: string;
}

async function inNetns(netns: string, ...args: string[]): Promise<Attempt | Attempt[]> {
  const r = await exec(execInNetns(netns, [process.execPath, '-e', CLIENT, ...args]), { timeoutMs: 60_000 });
  return JSON.parse(r.stdout) as Attempt | Attempt[];
}
const httpFrom = async (netns: string, url: string, n: number) =>
  (await inNetns(netns, 'http', url, String(n))) as Attempt[];
const tcpFrom = async (netns: string, host: string, port: number) =>
  (await inNetns(netns, 'tcp', host, String(port))) as Attempt;
const lookupFrom = async (netns: string, name: string) => (await inNetns(netns, 'lookup', name)) as Attempt;

async function hostGet(url: string): Promise<string> {
  const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
  return res.text();
}

async function freeHostPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A free /20 picked at random, so concurrent runs of this test rarely race for the same block. */
async function pickBlock(): Promise<string> {
  const used = [...(await hostIpv4Networks(exec))];
  const free: string[] = [];
  for (;;) {
    try {
      const block = allocateEnvironmentBlock(DEFAULT_ADDRESS_POOL, [...used, ...free]);
      free.push(block);
    } catch {
      break;
    }
  }
  assert.ok(free.length > 0, 'no free /20 in 198.18.0.0/15 on this host');
  return free[randomInt(free.length)]!;
}

describe('network data plane (real kernel)', { skip }, () => {
  let addressing: EnvironmentAddressing;
  let hostPort = 0;
  const children: ChildProcess[] = [];
  const replicas: TestReplica[] = [
    { service: 'web', index: 0, networks: ['app'], server: httpServer(80), addresses: {} },
    { service: 'web', index: 1, networks: ['app'], server: httpServer(80), addresses: {} },
    { service: 'api', index: 0, networks: ['app', 'db'], server: httpServer(8080), addresses: {} },
    { service: 'pg', index: 0, networks: ['db'], server: tcpServer(5432), addresses: {} },
    { service: 'client', index: 0, networks: ['app'], addresses: {} },
  ];
  const members: DiscoveryMember[] = [];
  const ns = (service: string, index = 0) => netnsName(ENV, NS, service, index);
  const replica = (service: string, index = 0) =>
    replicas.find((r) => r.service === service && r.index === index)!;
  const vipOf = (name: string) => members.find((m) => m.name === name)!.vip;

  function services(endpoints: Record<string, string[]>): LoadBalancedService[] {
    return members.map((m) => ({
      namespace: m.namespace,
      name: m.name,
      vip: m.vip,
      ports: m.ports,
      endpoints: endpoints[m.name] ?? [],
      publish: m.name === 'web' ? [{ hostPort, port: 80, protocol: 'TCP' as const }] : [],
    }));
  }
  const allEndpoints = () => ({
    web: [replica('web', 0).addresses.app!, replica('web', 1).addresses.app!],
    api: [replica('api').addresses.app!],
    pg: [replica('pg').addresses.db!],
  });

  // A daemon starting meanwhile removes every environment nobody claims: claim ours.
  const ownership = new EnvironmentOwnership(DEFAULT_OWNERS_DIR, `test:${import.meta.url}`);

  before(async () => {
    ownership.claim(ENV);
    addressing = planEnvironmentAddressing(await pickBlock());
    hostPort = await freeHostPort();
    await applyEnvironmentNetwork(exec, planEnvironmentNetwork({ env: ENV, addressing }));

    // GIVEN web (app, 2 replicas), api (app+db), the database pg (db) and a client (app only).
    const used = new Set<string>();
    const ports: Record<string, { port: number; protocol: 'TCP' }[]> = {
      web: [{ port: 80, protocol: 'TCP' }],
      api: [{ port: 8080, protocol: 'TCP' }],
      pg: [{ port: 5432, protocol: 'TCP' }],
      client: [],
    };
    for (const r of replicas.filter((x) => x.index === 0)) {
      const range = vipNetwork(r.networks) === 'app' ? addressing.appVips : addressing.dbVips;
      const vip = allocateAddress(range, used);
      used.add(vip);
      members.push({
        namespace: NS,
        name: r.service,
        networks: r.networks,
        vip,
        ports: ports[r.service] ?? [],
      });
    }
    for (const r of replicas) {
      for (const net of r.networks) {
        const address = allocateAddress(addressing[net].subnet, used);
        used.add(address);
        r.addresses[net] = address;
      }
    }
    for (const r of replicas) {
      const plan = planReplicaNetwork({
        env: ENV,
        namespace: NS,
        service: r.service,
        index: r.index,
        addressing,
        attachments: r.networks.map((net) => ({ net, address: r.addresses[net]! })),
        hosts: discoveryHosts({ networks: r.networks, namespace: NS, members }),
      });
      await applyReplicaNetwork(exec, plan);
    }
    await applyRuleset(exec, { env: ENV, addressing, services: services(allEndpoints()) });

    await Promise.all(
      replicas
        .filter((r) => r.server)
        .map((r) => {
          const [file, ...args] = execInNetns(ns(r.service, r.index), [process.execPath, '-e', r.server!]);
          const child = spawn(file!, args, {
            env: { ...process.env, REPLICA: `${r.service}-${r.index}` },
            stdio: ['ignore', 'pipe', 'pipe'],
          });
          children.push(child);
          return new Promise<void>((resolve, reject) => {
            let err = '';
            child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
            child.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
            child.on('exit', (code) =>
              reject(new Error(`${r.service}-${r.index} exited with ${code}: ${err}`)),
            );
          });
        }),
    );
  });

  after(async () => {
    await Promise.all(
      children.map(
        (c) =>
          new Promise<void>((resolve) => {
            if (c.exitCode !== null || c.signalCode !== null) return resolve();
            c.once('exit', () => resolve());
            c.kill('SIGKILL');
          }),
      ),
    );
    // WHEN the environment is removed THEN no namespace, link, table or /etc/netns folder of it is left.
    await removeEnvironment(exec, ENV);
    ownership.release(ENV);
    const netnsList = (await exec(['ip', 'netns', 'list'])).stdout;
    assert.ok(!netnsList.includes(`rampart-${ENV}-`), netnsList);
    const links = (await exec(['ip', '-d', 'link', 'show'])).stdout;
    assert.ok(!links.includes(`rampart:${ENV}`) && !links.includes(bridgeName(ENV, 'app')), links);
    const tables = (await exec(['nft', 'list', 'tables'])).stdout;
    assert.ok(!tables.split('\n').includes(`table ip ${nftTableName(ENV)}`), tables);
    const etc = (await exec(['ls', '-1', '/etc/netns'], { allowFailure: true })).stdout;
    assert.ok(!etc.includes(`rampart-${ENV}-`), etc);
  });

  it('GIVEN the golden rulesets THEN the kernel’s nft accepts them (nft -c)', async () => {
    for (const name of Object.keys(GOLDEN_CASES)) await exec(['nft', '-c', '-f', goldenPath(name)]);
  });

  it('GIVEN the client WHEN it calls web by name 20 times THEN every call succeeds and both replicas answer', async () => {
    const answers = await httpFrom(ns('client'), 'http://web/', 20);
    assert.deepEqual(
      answers.filter((a) => !a.ok),
      [],
    );
    assert.deepEqual([...new Set(answers.map((a) => a.body))].sort(), ['web-0', 'web-1']);
  });

  it('GIVEN a web replica WHEN it calls its own service VIP (hairpin) THEN it succeeds, itself included', async () => {
    const answers = await httpFrom(ns('web', 0), `http://web.${NS}/`, 10);
    assert.deepEqual(
      answers.filter((a) => !a.ok),
      [],
    );
    assert.ok(
      answers.some((a) => a.body === 'web-0'),
      JSON.stringify(answers),
    );
  });

  it('GIVEN the app-only client THEN it cannot resolve pg, nor reach its replica address or its VIP; api can', async () => {
    assert.equal((await lookupFrom(ns('client'), 'pg')).ok, false);
    const direct = await tcpFrom(ns('client'), replica('pg').addresses.db!, 5432);
    assert.deepEqual(direct, { ok: false, code: 'ENETUNREACH' });
    const viaVip = await tcpFrom(ns('client'), vipOf('pg'), 5432);
    assert.deepEqual(viaVip, { ok: false, code: 'ENETUNREACH' });
    assert.deepEqual(await tcpFrom(ns('api'), 'pg', 5432), { ok: true, body: 'pg\n' });
  });

  it('GIVEN a VIP port nothing serves THEN the connection is refused at once, not leaked or timed out', async () => {
    assert.deepEqual(await tcpFrom(ns('client'), vipOf('web'), 81), { ok: false, code: 'ECONNREFUSED' });
  });

  it('GIVEN web publishes a host port THEN it answers on 127.0.0.1 and on the app gateway address', async () => {
    assert.match(await hostGet(`http://127.0.0.1:${hostPort}/`), /^web-[01]$/);
    assert.match(await hostGet(`http://${addressing.app.gateway}:${hostPort}/`), /^web-[01]$/);
  });

  it('GIVEN web-1 leaves the endpoints and api has none WHEN re-applied THEN web-0 alone answers and api is refused', async () => {
    const endpoints = { ...allEndpoints(), web: [replica('web', 0).addresses.app!], api: [] };
    await applyRuleset(exec, { env: ENV, addressing, services: services(endpoints) });
    const answers = await httpFrom(ns('client'), 'http://web/', 10);
    assert.deepEqual(
      answers.map((a) => a.body),
      Array.from({ length: 10 }, () => 'web-0'),
    );
    assert.equal(await hostGet(`http://127.0.0.1:${hostPort}/`), 'web-0');
    assert.deepEqual(await tcpFrom(ns('client'), 'api', 8080), { ok: false, code: 'ECONNREFUSED' });
  });

  it('GIVEN a replica that routes 127.0.0.2 to the host (CVE-2020-8558) THEN the host’s loopback service never sees it', async () => {
    // GIVEN a host service bound to loopback only, and a client that, as root in its namespace,
    // sends to the host's loopback through its gateway (possible because route_localnet is on).
    const server = createServer((c) => c.end('leak\n'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.2', resolve));
    const { port } = server.address() as { port: number };
    let accepted = 0;
    server.on('connection', () => accepted++);
    try {
      const client = ns('client');
      await exec(['ip', 'netns', 'exec', client, 'sysctl', '-q', '-w', 'net.ipv4.conf.all.route_localnet=1']);
      await exec([
        'ip',
        'netns',
        'exec',
        client,
        'sysctl',
        '-q',
        '-w',
        'net.ipv4.conf.app0.route_localnet=1',
      ]);
      await exec(['ip', '-n', client, 'route', 'del', 'local', '127.0.0.0/8', 'dev', 'lo', 'table', 'local']);
      await exec([
        'ip',
        '-n',
        client,
        'route',
        'add',
        '127.0.0.2/32',
        'via',
        addressing.app.gateway,
        'dev',
        'app0',
      ]);
      // WHEN it connects THEN the packet is dropped (a timeout, not even a reset) and nothing is accepted.
      assert.deepEqual(await tcpFrom(client, '127.0.0.2', port), { ok: false, code: 'ETIMEDOUT' });
      assert.equal(accepted, 0);
    } finally {
      server.close();
    }
  });

  it('GIVEN the running environment THEN listLeftovers attributes its objects to it', async () => {
    const found = await listLeftovers(exec);
    assert.deepEqual(
      found.netns
        .filter((n) => n.env === ENV)
        .map((n) => n.name)
        .sort(),
      replicas.map((r) => ns(r.service, r.index)).sort(),
    );
    assert.equal(found.links.filter((l) => l.env === ENV && l.kind === 'bridge').length, 2);
    assert.ok(found.tables.includes(nftTableName(ENV)));
  });
});

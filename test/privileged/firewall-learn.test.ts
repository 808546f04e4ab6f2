import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { DeniedTracker, MemoryAlertLog, policyAlerts } from '../../src/firewall/alerts.ts';
import { applyFirewall, readDenied } from '../../src/firewall/apply.ts';
import { compileFirewall } from '../../src/firewall/compile.ts';
import { conntrackSource, type ConntrackSource } from '../../src/firewall/conntrack.ts';
import { createEvaluator } from '../../src/firewall/evaluate.ts';
import { addressBook, resolveFlow } from '../../src/firewall/flows.ts';
import { formatEdge, Learner, MemoryFlowLog, type Edge } from '../../src/firewall/learn.ts';
import { parsePolicies } from '../../src/firewall/policy.ts';
import { proposePolicies, renderProposalYaml } from '../../src/firewall/propose.ts';
import type { Flow, NetworkPolicy, World, WorldPod } from '../../src/firewall/types.ts';
import { NAMESPACE_NAME_LABEL, SERVICE_LABEL } from '../../src/firewall/world.ts';
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
  planEnvironmentAddressing,
  planEnvironmentNetwork,
  planReplicaNetwork,
  removeEnvironment,
  vipNetwork,
  type DiscoveryMember,
  type EnvironmentAddressing,
} from '../../src/network/index.ts';
import { realExec } from '../../src/platform/exec.ts';
import { netnsName } from '../../src/platform/names.ts';
import { DEFAULT_OWNERS_DIR, EnvironmentOwnership } from '../../src/server/ownership.ts';
import type { NetworkName } from '../../src/stack/types.ts';
import { testEnvironmentName } from '../../src/testing/control-plane.ts';

const skip = process.getuid?.() !== 0 ? 'needs root (network namespaces, nftables, conntrack)' : false;
const exec = realExec;
const ENV = testEnvironmentName('t');
const NS = 'shop';

interface Replica {
  service: string;
  index: number;
  networks: NetworkName[];
  port?: number;
  portName?: string;
  addresses: Partial<Record<NetworkName, string>>;
}

/** Opens `n` TCP connections one after the other; prints how many got an answer. */
const CLIENT = `
const net = require('net');
const [host, port, n] = process.argv.slice(1);
const one = () => new Promise((res) => {
  const s = net.connect({ host, port: Number(port), timeout: 2000 });
  s.on('data', () => {}); s.on('end', () => res(true));
  s.on('timeout', () => { s.destroy(); res(false); });
  s.on('error', () => res(false));
});
(async () => { let ok = 0; for (let i = 0; i < Number(n); i++) if (await one()) ok++; process.stdout.write(String(ok)); })();
`;

async function pickBlock(): Promise<string> {
  const used = [...(await hostIpv4Networks(exec))];
  const free: string[] = [];
  for (;;) {
    try {
      free.push(allocateEnvironmentBlock(DEFAULT_ADDRESS_POOL, [...used, ...free]));
    } catch {
      break;
    }
  }
  assert.ok(free.length > 0, 'no free /20 in 198.18.0.0/15 on this host');
  return free[randomInt(free.length)]!;
}

const waitFor = async (ok: () => boolean | Promise<boolean>, ms: number): Promise<boolean> => {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await ok()) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return ok();
};

describe('firewall learning from the kernel (real namespaces, conntrack)', { skip }, () => {
  let addressing: EnvironmentAddressing;
  let world: World;
  let hostIps: string[];
  const members: DiscoveryMember[] = [];
  const children: ChildProcess[] = [];
  const replicas: Replica[] = [
    { service: 'web', index: 0, networks: ['app'], port: 80, portName: 'http', addresses: {} },
    { service: 'web', index: 1, networks: ['app'], port: 80, portName: 'http', addresses: {} },
    { service: 'api', index: 0, networks: ['app', 'db'], port: 8080, portName: 'http', addresses: {} },
    { service: 'pg', index: 0, networks: ['db'], port: 5432, portName: 'postgres', addresses: {} },
    { service: 'client', index: 0, networks: ['app'], addresses: {} },
  ];
  const ns = (service: string, index = 0) => netnsName(ENV, NS, service, index);
  const vip = (service: string) => members.find((m) => m.name === service)!.vip;
  const addr = (service: string, index = 0, net: NetworkName = 'app') =>
    replicas.find((r) => r.service === service && r.index === index)!.addresses[net]!;
  const connect = async (from: string, host: string, port: number, n: number): Promise<number> => {
    const r = await exec(
      execInNetns(ns(from), [process.execPath, '-e', CLIENT, host, String(port), String(n)]),
      {
        timeoutMs: 60_000,
      },
    );
    return Number(r.stdout);
  };
  const ownership = new EnvironmentOwnership(DEFAULT_OWNERS_DIR, `test:${process.pid}`);

  // What learning saw, shared by the tests below (they run in order).
  const flows: Flow[] = [];
  let edges: Edge[] = [];
  let learner: Learner;
  let source: ConntrackSource;
  let proposal: NetworkPolicy[] = [];

  before(async () => {
    ownership.claim(ENV);
    addressing = planEnvironmentAddressing(await pickBlock());
    hostIps = [addressing.app.gateway, addressing.db.gateway];
    await applyEnvironmentNetwork(exec, planEnvironmentNetwork({ env: ENV, addressing }));
    const used = new Set<string>();
    for (const r of replicas.filter((x) => x.index === 0)) {
      const v = allocateAddress(
        vipNetwork(r.networks) === 'app' ? addressing.appVips : addressing.dbVips,
        used,
      );
      used.add(v);
      members.push({
        namespace: NS,
        name: r.service,
        networks: r.networks,
        vip: v,
        ports: r.port ? [{ port: r.port, protocol: 'TCP' }] : [],
      });
    }
    for (const r of replicas) {
      for (const net of r.networks) {
        r.addresses[net] = allocateAddress(addressing[net].subnet, used);
        used.add(r.addresses[net]!);
      }
    }
    for (const r of replicas) {
      await applyReplicaNetwork(
        exec,
        planReplicaNetwork({
          env: ENV,
          namespace: NS,
          service: r.service,
          index: r.index,
          addressing,
          attachments: r.networks.map((net) => ({ net, address: r.addresses[net]! })),
          hosts: discoveryHosts({ networks: r.networks, namespace: NS, members }),
        }),
      );
    }
    const endpoints: Record<string, string[]> = {
      web: [addr('web', 0), addr('web', 1)],
      api: [addr('api')],
      pg: [addr('pg', 0, 'db')],
    };
    await applyRuleset(exec, {
      env: ENV,
      addressing,
      services: members.map((m) => ({ ...m, endpoints: endpoints[m.name] ?? [], publish: [] })),
    });
    world = {
      namespaces: [{ name: NS, labels: { [NAMESPACE_NAME_LABEL]: NS } }],
      pods: replicas.map((r): WorldPod => ({
        namespace: NS,
        service: r.service,
        name: `${r.service}-${r.index}`,
        labels: { [SERVICE_LABEL]: r.service },
        ips: r.networks.map((n) => r.addresses[n]!),
        ports: r.port ? [{ name: r.portName!, port: r.port, protocol: 'TCP' }] : [],
      })),
    };
    await Promise.all(
      replicas
        .filter((r) => r.port)
        .map((r) => {
          const server = `require('net').createServer((c) => c.end('${r.service}-${r.index}')).listen(${r.port}, () => console.log('ready'))`;
          const [file, ...args] = execInNetns(ns(r.service, r.index), [process.execPath, '-e', server]);
          const child = spawn(file!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
          children.push(child);
          return new Promise<void>((resolve, reject) => {
            child.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
            child.once('exit', (code) => reject(new Error(`${r.service}-${r.index} exited with ${code}`)));
          });
        }),
    );
  });

  after(async () => {
    await source?.stop();
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
    await removeEnvironment(exec, ENV);
    ownership.release(ENV);
  });

  it('GIVEN conntrack running WHEN pods talk through VIPs and directly THEN every connection is learned, mapped to the real replica', async () => {
    const log = new MemoryFlowLog();
    learner = new Learner({ world, hostIps, log });
    source = conntrackSource({
      block: addressing.block,
      onFlows: (batch) => {
        flows.push(...batch);
        learner.add(batch);
      },
    });
    const rmemDefault = (await exec(['sysctl', '-n', 'net.core.rmem_default'])).stdout.trim();
    await source.start();
    // The event socket got the large buffer (conntrack 1.4.7's -b misses it), and the host's
    // default is back to what it was.
    const sockets = (await exec(['ss', '-f', 'netlink', '-a', '-e', '-m'])).stdout;
    assert.match(sockets, /groups=0x00000001\s+skmem:\(r\d+,rb33554432,/);
    assert.equal((await exec(['sysctl', '-n', 'net.core.rmem_default'])).stdout.trim(), rmemDefault);
    // WHEN: 10 via the web VIP (both replicas answer), 1 straight to web-0, 4 from web-0 to its own
    // VIP (some land on itself), 3 from api to the database VIP, 2 from client to the api VIP.
    assert.equal(await connect('client', vip('web'), 80, 10), 10);
    assert.equal(await connect('client', addr('web', 0), 80, 1), 1);
    assert.equal(await connect('web', vip('web'), 80, 4), 4);
    assert.equal(await connect('api', vip('pg'), 5432, 3), 3);
    assert.equal(await connect('client', vip('api'), 8080, 2), 2);
    assert.ok(await waitFor(() => flows.length >= 20, 3000), `captured ${flows.length} of 20`);
    await learner.flush();
    edges = await log.edges();

    // THEN nothing was lost, no destination is a VIP, and the counts match what was made.
    assert.deepEqual([source.stats().losses, source.stats().unparsed], [0, 0]);
    const vips = new Set(members.map((m) => m.vip));
    assert.ok(
      flows.every((f) => !vips.has(f.dstIp)),
      JSON.stringify(flows),
    );
    const byName = new Map(edges.map((e) => [formatEdge(e), e]));
    assert.deepEqual(
      [...byName.keys()].filter((k) => !k.startsWith('shop/web -> shop/web')),
      [
        'shop/api -> shop/pg TCP/5432 (postgres)',
        'shop/client -> shop/api TCP/8080 (http)',
        'shop/client -> shop/web TCP/80 (http)',
      ],
    );
    const clientWeb = byName.get('shop/client -> shop/web TCP/80 (http)')!;
    assert.equal(clientWeb.count, 11);
    assert.deepEqual(clientWeb.dstReplicas, ['web-0', 'web-1']);
    assert.deepEqual(byName.get('shop/api -> shop/pg TCP/5432 (postgres)')!.dstReplicas, ['pg-0']);
    assert.equal(byName.get('shop/api -> shop/pg TCP/5432 (postgres)')!.count, 3);
    const webToWeb = byName.get('shop/web -> shop/web TCP/80 (http)')?.count ?? 0;
    assert.equal(webToWeb + learner.stats().selfFlows, 4);
    // The database connection came from api's db address, the VIP's DNAT undone.
    assert.ok(flows.some((f) => f.srcIp === addr('api', 0, 'db') && f.dstIp === addr('pg', 0, 'db')));
  });

  it('GIVEN the learned edges WHEN proposed THEN the YAML parses back to the policies and allows every captured flow', () => {
    proposal = proposePolicies(world, edges);
    const yaml = renderProposalYaml(proposal, edges);
    assert.deepEqual(parsePolicies({ text: yaml, file: 'proposal.yaml' }), proposal);
    const check = createEvaluator(world, proposal, { hostIps });
    for (const f of flows) assert.ok(check(f).allowed, `${JSON.stringify(f)}: ${check(f).reason}`);
    assert.equal(
      check({ srcIp: addr('web', 0), dstIp: addr('api'), protocol: 'TCP', dstPort: 8080, time: 0 }).allowed,
      false,
    );
  });

  it('GIVEN the proposal enforced WHEN learned traffic runs THEN it passes; in monitor an unlearned call is alerted, in protect it is blocked and alerted', async () => {
    const book = addressBook(world, { hostIps });
    const check = createEvaluator(world, proposal, { hostIps });
    const alerts = new MemoryAlertLog();
    const apply = (global: 'monitor' | 'protect') =>
      applyFirewall(
        exec,
        ENV,
        compileFirewall({ env: ENV, world, policies: proposal, modes: { global, perService: {} } }),
      );

    // monitor: everything passes; conntrack sees web -> api, which no policy allows.
    await apply('monitor');
    const before = flows.length;
    assert.equal(await connect('client', vip('web'), 80, 2), 2);
    assert.equal(await connect('web', vip('api'), 8080, 1), 1);
    assert.ok(await waitFor(() => flows.length >= before + 3, 3000));
    await alerts.record(
      policyAlerts(
        flows.slice(before).map((f) => resolveFlow(book, f)),
        { check, modeOf: () => 'monitor' },
      ),
    );
    const monitored = await alerts.list();
    assert.equal(monitored.length, 1, JSON.stringify(monitored));
    assert.deepEqual(
      [monitored[0]!.src.service, monitored[0]!.dst.service, monitored[0]!.decision],
      ['web', 'api', 'allowed-in-monitor'],
    );

    // protect: the learned call still passes, the unlearned one fails and shows up in @denied.
    await apply('protect');
    assert.equal(await connect('client', vip('web'), 80, 2), 2);
    assert.equal(await connect('api', vip('pg'), 5432, 1), 1);
    assert.equal(await connect('web', vip('api'), 8080, 1), 0);
    const tracker = new DeniedTracker({ book: () => book, check });
    let blocked: Awaited<ReturnType<MemoryAlertLog['list']>> = [];
    const started = Date.now();
    assert.ok(
      await waitFor(async () => {
        await alerts.record(tracker.observe(await readDenied(exec, ENV), Date.now()));
        blocked = (await alerts.list()).filter((a) => a.decision === 'blocked');
        return blocked.length > 0;
      }, 1000),
      'a blocked alert within 1 s',
    );
    assert.ok(Date.now() - started <= 1000);
    assert.deepEqual(
      [blocked[0]!.src.service, blocked[0]!.dst.service, blocked[0]!.port, blocked[0]!.mode],
      ['web', 'api', 8080, 'protect'],
    );
    assert.match(blocked[0]!.decidedBy, /^no policy allows it/);
  });
});

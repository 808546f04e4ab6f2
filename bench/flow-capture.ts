/**
 * Flow capture completeness: does learning see every new connection at a high rate? Client
 * namespaces open TCP connections at a fixed rate (open loop) to a service VIP with two replicas;
 * the firewall's conntrack flow source runs meanwhile. Captured = flows the source delivered for
 * client -> replica on the service port; made = connections the clients saw established. Losses
 * are the source's own count (ENOBUFS warnings, restarts). Writes bench/results/flow-capture.json.
 *
 *   node --import tsx bench/flow-capture.ts [--rate 5000] [--duration 10s] [--clients 2]
 *
 * Needs root. Not a test: it measures and reports, it never asserts on completeness.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import {
  blockFilter,
  conntrackSource,
  DEFAULT_CONNTRACK_BUFFER,
  eventToFlow,
  LineSplitter,
  parseConntrackLine,
} from '../src/firewall/conntrack.ts';
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
  type DiscoveryMember,
} from '../src/network/index.ts';
import { parseDuration } from '../src/platform/clock.ts';
import { realExec, type Exec } from '../src/platform/exec.ts';
import { netnsName } from '../src/platform/names.ts';
import { DEFAULT_OWNERS_DIR, EnvironmentOwnership } from '../src/server/ownership.ts';
import { privilegeProblem, round, writeResult } from './lib.ts';

export interface FlowCaptureBenchOptions {
  /** New connections per second, all clients together. @default 5000 */
  rate?: number;
  /** @default 10_000 */
  durationMs?: number;
  /** Client namespaces (one load process each) sharing the rate. @default 4 */
  clients?: number;
  /** conntrack's netlink receive buffer. @default 32 MiB */
  bufferBytes?: number;
  /** Write bench/results/flow-capture.json. @default true */
  write?: boolean;
  exec?: Exec;
  log?: (line: string) => void;
}

export interface FlowCaptureBenchResult {
  config: { rate: number; durationMs: number; clients: number; bufferBytes: number };
  /** Connections the clients saw established. */
  made: number;
  /** Attempts that failed, by error code (`timeout`, `ECONNREFUSED`, `EADDRNOTAVAIL`…). */
  failed: Record<string, number>;
  /** Attempts whose SYN crossed the host: made + timeouts, refusals and resets. */
  onTheWire: number;
  /** Rate at which the clients started connections, per second (the goal is `rate`). */
  achievedRate: number;
  /** Flows the source delivered for client -> server replica on the service port. */
  captured: number;
  /**
   * Counted by nftables on the host, independently of the clients and of conntrack events: SYNs
   * of connections not yet confirmed (each new connection once) and all SYNs (retransmissions too).
   */
  wire: { newConnections: number; syns: number };
  /** captured / wire.newConnections. Goal >= 0.999. */
  completeness: number;
  /**
   * captured / onTheWire (the clients' own count). Exact when `failed` is empty; a timed-out
   * attempt whose SYN was dropped before the host confirmed it has no conntrack entry and lowers
   * this figure although nothing was lost.
   */
  clientCompleteness: number;
  /** Distinct client address:port among the captured flows: equals `captured` unless the kernel reported a connection twice. */
  distinctClientPorts: number;
  /** The source's counters: events, parsed, ignored, unparsed, losses, restarts. */
  source: ReturnType<ReturnType<typeof conntrackSource>['stats']>;
  /** Kernel conntrack statistics over the run (sum over CPUs of `conntrack -S` deltas). */
  kernel: Record<string, number>;
  /** Headroom of the reading side: conntrack lines split, parsed and filtered per second, in-process. */
  parserLinesPerSecond: number;
  /** Load average (1 min) when the run ended: the generator shares the CPUs with everything else. */
  loadAverage: number;
}

/** Lines per second through the same split + parse + filter path the source uses. */
function parserThroughput(lines = 200_000): number {
  const line =
    '[1795651190.754283]\t    [NEW] ipv4     2 tcp      6 120 SYN_SENT src=198.18.0.5 dst=198.18.12.2 sport=40748 dport=80 [UNREPLIED] src=198.18.0.2 dst=198.18.0.5 sport=80 dport=40748 id=3631506360\n';
  const chunk = line.repeat(500);
  const inScope = blockFilter('198.18.0.0/20');
  const split = new LineSplitter();
  let flows = 0;
  const t0 = performance.now();
  for (let n = 0; n < lines; n += 500) {
    for (const l of split.push(chunk)) {
      const e = parseConntrackLine(l);
      if (e && inScope(e) && eventToFlow(e)) flows++;
    }
  }
  const seconds = (performance.now() - t0) / 1000;
  return flows === lines ? Math.round(lines / seconds) : 0;
}

const PORT = 80;

/**
 * Node's TCP handles without the `net.Socket` stream machinery (`process.binding('tcp_wrap')`):
 * about a third of the CPU per connection of `net.connect` + `net.createServer` measured here
 * (90 vs 300 µs, client and server in one process), which is what lets two cores generate
 * thousands of connections per second. The server closes each connection 5 s after accepting it,
 * well after the client's FIN even when a loaded client runs late: the client keeps the TIME_WAIT
 * (see LOAD). With 200 ms, at load average 26, the host saw 50,344 new connections for 50,000 made
 * and only 43,205 distinct client ports (ports reused, some connections seen twice); with 5 s,
 * 50,008 for 50,000 (49,839 distinct ports). At most 25,000 connections are open at 5,000/s (the hard limit on open files here is 20,000 per
 * process, 2 servers).
 */
const SERVER = `
const { TCP, constants } = process.binding('tcp_wrap');
const server = new TCP(constants.SERVER);
let err = server.bind('0.0.0.0', ${PORT});
if (!err) err = server.listen(4096);
if (err) { console.error('listen failed', err); process.exit(1); }
let open = [];
server.onconnection = (e, handle) => { if (handle) open.push(handle); };
setInterval(() => { const closing = open; open = []; setTimeout(() => { for (const h of closing) h.close(); }, 5000); }, 100);
console.log('ready');
`;

/**
 * Open loop: starts connections on schedule whatever the latency (at most 4,000 in flight), with
 * raw TCP handles (see SERVER), closes each as soon as it is established, client first: the client
 * keeps the TIME_WAIT, so no source port is reused during a run (a reused port makes the kernel
 * report some connections twice). Failures are counted by errno name: a timeout (3 s) or a refusal
 * still sent a SYN (so conntrack saw it); EADDRNOTAVAIL and the like never left the namespace.
 */
const LOAD = `
const { TCP, TCPConnectWrap, constants } = process.binding('tcp_wrap');
const { getSystemErrorName } = require('util');
const [host, port, rate, durationMs] = process.argv.slice(1).map((x, i) => (i === 0 ? x : Number(x)));
let started = 0, made = 0, inflight = 0, lastStart = 0;
const failed = {};
const fail = (code) => { failed[code] = (failed[code] || 0) + 1; };
const pending = new Set();
const t0 = Date.now();
const total = Math.floor((durationMs * rate) / 1000);
const timer = setInterval(() => {
  const now = Date.now();
  const elapsed = now - t0;
  const due = Math.min(Math.floor((elapsed * rate) / 1000), total);
  while (started < due && inflight < 4000) {
    started++; inflight++; lastStart = elapsed;
    const handle = new TCP(constants.SOCKET);
    const req = new TCPConnectWrap();
    const c = { handle, at: now, done: false };
    req.oncomplete = (status) => {
      if (c.done) return;
      c.done = true; pending.delete(c); inflight--;
      if (status < 0) fail(getSystemErrorName(status)); else made++;
      handle.close();
    };
    const r = handle.connect(req, host, port);
    if (r < 0) { c.done = true; inflight--; fail(getSystemErrorName(r)); handle.close(); }
    else pending.add(c);
  }
  if (elapsed % 100 < 3) for (const c of pending) if (now - c.at > 3000) { c.done = true; pending.delete(c); inflight--; fail('timeout'); c.handle.close(); }
  if (started >= total && inflight === 0) {
    clearInterval(timer);
    process.stdout.write(JSON.stringify({ started, made, failed, startWindowMs: lastStart }));
  }
}, 2);
`;

/** Failures after which a SYN still crossed the host (conntrack saw the attempt). */
const ON_THE_WIRE = new Set(['timeout', 'ECONNREFUSED', 'ECONNRESET']);

async function freeBlock(exec: Exec): Promise<string> {
  const used = await hostIpv4Networks(exec);
  const free: string[] = [];
  for (;;) {
    try {
      free.push(allocateEnvironmentBlock(DEFAULT_ADDRESS_POOL, [...used, ...free]));
    } catch {
      break;
    }
  }
  if (free.length === 0) throw new Error('no free /20 in 198.18.0.0/15 on this host');
  return free[randomInt(free.length)]!;
}

/** Loads `lines` as one `nft -f` file (a temp file: `nft -f -` cannot read a Node pipe). */
async function nftFile(exec: Exec, lines: string[]): Promise<void> {
  const dir = await mkdtemp(join(tmpdir(), 'rampart-bench-'));
  try {
    await writeFile(join(dir, 'wire.nft'), `${lines.join('\n')}\n`);
    await exec(['nft', '-f', join(dir, 'wire.nft')]);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

async function kernelStats(exec: Exec): Promise<Record<string, number>> {
  const r = await exec(['conntrack', '-S'], { allowFailure: true });
  const sum: Record<string, number> = {};
  for (const m of r.stdout.matchAll(/(\w+)=(\d+)/g))
    if (m[1] !== 'cpu') sum[m[1]!] = (sum[m[1]!] ?? 0) + Number(m[2]);
  return sum;
}

export async function runFlowCaptureBench(
  opts: FlowCaptureBenchOptions = {},
): Promise<FlowCaptureBenchResult> {
  const exec = opts.exec ?? realExec;
  const log = opts.log ?? ((line: string) => console.log(line));
  const rate = opts.rate ?? 5000;
  const durationMs = opts.durationMs ?? 10_000;
  const clients = opts.clients ?? 4;
  const bufferBytes = opts.bufferBytes ?? DEFAULT_CONNTRACK_BUFFER;
  const env = `bf${randomBytes(4)
    .toString('hex')
    .replace(/[0-9]/g, (d) => 'ghijklmnop'[Number(d)]!)
    .slice(0, 4)}`;
  const ownership = new EnvironmentOwnership(DEFAULT_OWNERS_DIR, `bench:${import.meta.url}`);
  ownership.claim(env);
  const children: ChildProcess[] = [];
  let wireTable: string | undefined;
  const source = { current: undefined as ReturnType<typeof conntrackSource> | undefined };
  try {
    const addressing = planEnvironmentAddressing(await freeBlock(exec));
    await applyEnvironmentNetwork(exec, planEnvironmentNetwork({ env, addressing }));
    const used = new Set<string>();
    const vip = allocateAddress(addressing.appVips, used);
    const members: DiscoveryMember[] = [
      { namespace: 'bench', name: 'echo', networks: ['app'], vip, ports: [{ port: PORT, protocol: 'TCP' }] },
    ];
    const replica = (service: string, index: number) => {
      const address = allocateAddress(addressing.app.subnet, used);
      used.add(address);
      return { service, index, address };
    };
    const servers = [replica('echo', 0), replica('echo', 1)];
    const loaders = Array.from({ length: clients }, (_, i) => replica('load', i));
    for (const r of [...servers, ...loaders]) {
      await applyReplicaNetwork(
        exec,
        planReplicaNetwork({
          env,
          namespace: 'bench',
          service: r.service,
          index: r.index,
          addressing,
          attachments: [{ net: 'app', address: r.address }],
          hosts: discoveryHosts({ networks: ['app'], namespace: 'bench', members }),
        }),
      );
    }
    for (const l of loaders) {
      const netns = netnsName(env, 'bench', 'load', l.index);
      // Tens of thousands of short connections from one address: a wide port range, and no reuse
      // of a port in TIME_WAIT (each client opens at most rate/clients × duration ≤ 64,000).
      await exec(execInNetns(netns, ['sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=1024 65000']));
      await exec(execInNetns(netns, ['sysctl', '-q', '-w', 'net.ipv4.tcp_tw_reuse=0']));
    }
    await applyRuleset(exec, {
      env,
      addressing,
      services: [{ ...members[0]!, endpoints: servers.map((s) => s.address), publish: [] }],
    });
    for (const s of servers) {
      const [file, ...args] = execInNetns(netnsName(env, 'bench', 'echo', s.index), [
        process.execPath,
        '-e',
        SERVER,
      ]);
      const child = spawn(file!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
      children.push(child);
      await new Promise<void>((resolve, reject) => {
        child.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
        child.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
      });
    }

    const clientIps = new Set(loaders.map((l) => l.address));
    const serverIps = new Set(servers.map((s) => s.address));
    let captured = 0;
    const clientPorts = new Set<string>();
    source.current = conntrackSource({
      block: addressing.block,
      bufferBytes,
      onFlows: (flows, events) => {
        flows.forEach((f, i) => {
          if (!clientIps.has(f.srcIp) || !serverIps.has(f.dstIp) || f.dstPort !== PORT) return;
          captured++;
          clientPorts.add(`${f.srcIp}:${events[i]!.orig.sport}`);
        });
      },
      onWarning: (w) => log(`  ${w}`),
    });
    // The independent count of what went on the wire: a counter table on the forward hook (the
    // VIP is already translated there) counting client SYNs to the replicas whose conntrack entry
    // is not confirmed yet, i.e. exactly the first packet of every new connection that crosses
    // the host; the second rule counts every SYN, retransmissions included.
    wireTable = `bfwire_${env}`;
    const match = `ip saddr { ${[...clientIps].join(', ')} } ip daddr { ${[...serverIps].join(', ')} } tcp dport ${PORT} tcp flags & (syn | ack) == syn`;
    await nftFile(exec, [
      `table inet ${wireTable} {`,
      '  chain wire {',
      '    type filter hook forward priority -50; policy accept;',
      `    ${match} ct status & confirmed == 0 counter`,
      `    ${match} counter`,
      '  }',
      '}',
    ]);
    await source.current.start();
    const kernelBefore = await kernelStats(exec);
    log(
      `  ${rate} new connections/s for ${durationMs / 1000} s from ${clients} clients to a VIP with 2 replicas`,
    );
    const runs = await Promise.all(
      loaders.map(async (l) => {
        const r = await exec(
          execInNetns(netnsName(env, 'bench', 'load', l.index), [
            process.execPath,
            '-e',
            LOAD,
            vip,
            String(PORT),
            String(rate / clients),
            String(durationMs),
          ]),
          { timeoutMs: durationMs + 60_000 },
        );
        return JSON.parse(r.stdout) as {
          started: number;
          made: number;
          failed: Record<string, number>;
          startWindowMs: number;
        };
      }),
    );
    // Let the last events cross the netlink socket, then stop (SIGTERM drains conntrack's output).
    await new Promise((r) => setTimeout(r, 500));
    await source.current.stop();
    const kernelAfter = await kernelStats(exec);
    const counters = [
      ...(await exec(['nft', 'list', 'chain', 'inet', wireTable, 'wire'])).stdout.matchAll(
        /counter packets (\d+)/g,
      ),
    ].map((m) => Number(m[1]));
    const wire = { newConnections: counters[0] ?? 0, syns: counters[1] ?? 0 };
    const failed: Record<string, number> = {};
    for (const r of runs)
      for (const [code, n] of Object.entries(r.failed)) failed[code] = (failed[code] ?? 0) + n;
    const made = runs.reduce((n, r) => n + r.made, 0);
    const onTheWire =
      made + Object.entries(failed).reduce((n, [code, k]) => n + (ON_THE_WIRE.has(code) ? k : 0), 0);
    const started = runs.reduce((n, r) => n + r.started, 0);
    const result: FlowCaptureBenchResult = {
      config: { rate, durationMs, clients, bufferBytes },
      made,
      failed,
      onTheWire,
      achievedRate: round(started / (Math.max(...runs.map((r) => r.startWindowMs), 1) / 1000)),
      captured,
      wire,
      completeness: wire.newConnections === 0 ? 0 : Math.round((captured / wire.newConnections) * 1e5) / 1e5,
      clientCompleteness: onTheWire === 0 ? 0 : Math.round((captured / onTheWire) * 1e5) / 1e5,
      distinctClientPorts: clientPorts.size,
      parserLinesPerSecond: parserThroughput(),
      loadAverage: round(loadavg()[0] ?? 0, 2),
      source: source.current.stats(),
      kernel: Object.fromEntries(
        Object.entries(kernelAfter).map(([k, v]) => [k, v - (kernelBefore[k] ?? 0)]),
      ),
    };
    log(
      `  started ${started} at ${result.achievedRate}/s: ${made} made, failed ${JSON.stringify(failed)}; on the wire (nft) ${wire.newConnections} new (${wire.syns} SYNs); captured ${captured} = ${round(result.completeness * 100, 3)}% of the wire, ${round(result.clientCompleteness * 100, 3)}% of the clients' count; losses ${result.source.losses}; load average ${result.loadAverage}`,
    );
    if (opts.write ?? true) await writeResult('flow-capture', result);
    return result;
  } finally {
    await source.current?.stop();
    for (const c of children) c.kill('SIGKILL');
    if (wireTable) await exec(['nft', 'delete', 'table', 'inet', wireTable], { allowFailure: true });
    await removeEnvironment(exec, env);
    ownership.release(env);
  }
}

async function main(): Promise<void> {
  const problem = privilegeProblem();
  if (problem) {
    console.error(`bench: ${problem}`);
    process.exitCode = 2;
    return;
  }
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? process.argv[i + 1] : undefined;
  };
  const duration = arg('duration');
  await runFlowCaptureBench({
    rate: arg('rate') ? Number(arg('rate')) : undefined,
    durationMs: duration ? parseDuration(duration) : undefined,
    clients: arg('clients') ? Number(arg('clients')) : undefined,
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

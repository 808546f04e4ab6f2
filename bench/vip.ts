/**
 * What does the kernel load balancer cost? One server replica (a single Node HTTP process) and a
 * client namespace; the same load goes to the service VIP (nftables DNAT) and straight to the
 * replica's address, alternating, with keep-alive off (every request a new connection, so every
 * request pays the NAT lookup) and on. Writes bench/results/vip.json and prints a table.
 *
 *   node --import tsx bench/vip.ts [--duration 5s] [--rounds 2] [--concurrency 32]
 *
 * Needs root. Not a test: it measures and reports, it never asserts on speed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import { release } from 'node:os';
import { dirname } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import {
  DEFAULT_ADDRESS_POOL,
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
import { realExec, type Exec } from '../src/platform/exec.ts';
import { parseDuration } from '../src/platform/clock.ts';
import { netnsName } from '../src/platform/names.ts';
import { DEFAULT_OWNERS_DIR, EnvironmentOwnership } from '../src/server/ownership.ts';

export interface VipBenchOptions {
  /** Length of one measured run. @default 5000 */
  durationMs?: number;
  /** Runs per target and keep-alive mode; targets alternate within a round. @default 2 */
  rounds?: number;
  /** Requests in flight. @default 32 */
  concurrency?: number;
  /** @default bench/results/vip.json; `null` writes nothing. */
  outFile?: string | null;
  exec?: Exec;
  log?: (line: string) => void;
}

export interface LoadStats {
  /** Requests per second. */
  rps: number;
  /** Latency percentiles in milliseconds. */
  p50: number;
  p99: number;
}

export interface Comparison {
  vip: LoadStats;
  direct: LoadStats;
  /** vip / direct: throughput below 1 and p99 above 1 are the VIP's cost. */
  ratio: { throughput: number; p99: number };
}

/** Top level is keep-alive off: the case where every request crosses the DNAT lookup. */
export interface VipBenchResult extends Comparison {
  modes: { keepAliveOff: Comparison; keepAliveOn: Comparison };
  runs: { keepAlive: boolean; target: 'vip' | 'direct'; round: number; errors: number; stats: LoadStats }[];
  config: {
    durationMs: number;
    rounds: number;
    concurrency: number;
    node: string;
    kernel: string;
    date: string;
  };
}

const DEFAULT_OUT = fileURLToPath(new URL('./results/vip.json', import.meta.url));
const PORT = 80;
const SERVER = `require('http').createServer((q, s) => s.end('ok')).listen(${PORT}, () => console.log('ready'))`;

/** Closed-loop load: `concurrency` workers, each sends its next request when the previous answers. */
const LOAD = `
const http = require('http');
const [url, durationMs, concurrency, keepAlive] = process.argv.slice(1);
const agent = keepAlive === 'on' ? new http.Agent({ keepAlive: true, maxSockets: Number(concurrency) }) : false;
const latencies = []; let errors = 0;
const deadline = Date.now() + Number(durationMs);
const one = () => new Promise((done) => {
  const t0 = process.hrtime.bigint();
  const r = http.get(url, { agent }, (res) => {
    res.resume();
    res.on('end', () => { latencies.push(Number(process.hrtime.bigint() - t0) / 1e6); done(); });
  });
  r.setTimeout(5000, () => r.destroy(new Error('timeout')));
  r.on('error', () => { errors++; done(); });
});
const worker = async () => { while (Date.now() < deadline) await one(); };
const start = Date.now();
Promise.all(Array.from({ length: Number(concurrency) }, worker)).then(() => {
  const seconds = (Date.now() - start) / 1000;
  latencies.sort((a, b) => a - b);
  const pct = (p) => latencies.length ? latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))] : NaN;
  process.stdout.write(JSON.stringify({ rps: latencies.length / seconds, p50: pct(0.5), p99: pct(0.99), errors }));
  if (agent) agent.destroy();
});
`;

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const round2 = (x: number): number => Math.round(x * 100) / 100;

function compare(vip: LoadStats, direct: LoadStats): Comparison {
  return {
    vip,
    direct,
    ratio: { throughput: round2(vip.rps / direct.rps), p99: round2(vip.p99 / direct.p99) },
  };
}

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

export async function runVipBench(opts: VipBenchOptions = {}): Promise<VipBenchResult> {
  const exec = opts.exec ?? realExec;
  const log = opts.log ?? ((line: string) => console.log(line));
  const durationMs = opts.durationMs ?? 5000;
  const rounds = opts.rounds ?? 2;
  const concurrency = opts.concurrency ?? 32;
  const env = `b${randomBytes(4)
    .toString('hex')
    .replace(/[0-9]/g, (d) => 'ghijklmnop'[Number(d)]!)
    .slice(0, 5)}`;
  const addressing = planEnvironmentAddressing(await freeBlock(exec));
  const server = { vip: '', address: '' };
  let child: ChildProcess | undefined;
  // A daemon starting meanwhile removes every environment nobody claims: claim ours.
  const ownership = new EnvironmentOwnership(DEFAULT_OWNERS_DIR, `bench:${import.meta.url}`);
  ownership.claim(env);

  try {
    await applyEnvironmentNetwork(exec, planEnvironmentNetwork({ env, addressing }));
    server.vip = addressing.appVips.replace(/\.0\/23$/, '.2');
    const members: DiscoveryMember[] = [
      {
        namespace: 'bench',
        name: 'echo',
        networks: ['app'],
        vip: server.vip,
        ports: [{ port: PORT, protocol: 'TCP' }],
      },
    ];
    const base = addressing.app.gateway.split('.').map(Number);
    const hostAt = (n: number) => [base[0], base[1], base[2], base[3]! + n].join('.');
    server.address = hostAt(1);
    for (const [service, address] of [
      ['echo', server.address],
      ['load', hostAt(2)],
    ] as const) {
      await applyReplicaNetwork(
        exec,
        planReplicaNetwork({
          env,
          namespace: 'bench',
          service,
          index: 0,
          addressing,
          attachments: [{ net: 'app', address }],
          hosts: discoveryHosts({ networks: ['app'], namespace: 'bench', members }),
        }),
      );
    }
    const clientNs = netnsName(env, 'bench', 'load', 0);
    // Keep-alive off opens tens of thousands of connections: give the client its own wide port
    // range and let it reuse TIME_WAIT ports (both per network namespace).
    await exec(execInNetns(clientNs, ['sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=1024 65000']));
    await exec(execInNetns(clientNs, ['sysctl', '-q', '-w', 'net.ipv4.tcp_tw_reuse=1']));
    await applyRuleset(exec, {
      env,
      addressing,
      services: [{ ...members[0]!, endpoints: [server.address], publish: [] }],
    });

    const [file, ...args] = execInNetns(netnsName(env, 'bench', 'echo', 0), [process.execPath, '-e', SERVER]);
    child = spawn(file!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child!.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
      child!.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });

    const load = async (target: 'vip' | 'direct', keepAlive: boolean, ms: number) => {
      const url = `http://${target === 'vip' ? server.vip : server.address}:${PORT}/`;
      const r = await exec(
        execInNetns(clientNs, [
          process.execPath,
          '-e',
          LOAD,
          url,
          String(ms),
          String(concurrency),
          keepAlive ? 'on' : 'off',
        ]),
        {
          timeoutMs: ms + 60_000,
        },
      );
      const out = JSON.parse(r.stdout) as LoadStats & { errors: number };
      return {
        errors: out.errors,
        stats: { rps: round2(out.rps), p50: round2(out.p50), p99: round2(out.p99) },
      };
    };

    const runs: VipBenchResult['runs'] = [];
    for (const keepAlive of [false, true]) {
      await load('vip', keepAlive, 1000); // warm-up: JIT, ARP, conntrack
      await load('direct', keepAlive, 1000);
      for (let round = 1; round <= rounds; round++) {
        // Alternate which target goes first, so drift over time does not favour one of them.
        const order: ('vip' | 'direct')[] = round % 2 ? ['vip', 'direct'] : ['direct', 'vip'];
        for (const target of order) {
          const run = await load(target, keepAlive, durationMs);
          runs.push({ keepAlive, target, round, ...run });
          log(
            `  keep-alive ${keepAlive ? 'on ' : 'off'} ${target.padEnd(6)} round ${round}: ${run.stats.rps} req/s, p99 ${run.stats.p99} ms${run.errors ? `, ${run.errors} errors` : ''}`,
          );
        }
      }
    }

    const summary = (keepAlive: boolean, target: 'vip' | 'direct'): LoadStats => {
      const mine = runs.filter((r) => r.keepAlive === keepAlive && r.target === target).map((r) => r.stats);
      return {
        rps: round2(median(mine.map((s) => s.rps))),
        p50: round2(median(mine.map((s) => s.p50))),
        p99: round2(median(mine.map((s) => s.p99))),
      };
    };
    const keepAliveOff = compare(summary(false, 'vip'), summary(false, 'direct'));
    const keepAliveOn = compare(summary(true, 'vip'), summary(true, 'direct'));
    const result: VipBenchResult = {
      ...keepAliveOff,
      modes: { keepAliveOff, keepAliveOn },
      runs,
      config: {
        durationMs,
        rounds,
        concurrency,
        node: process.version,
        kernel: release(),
        date: new Date().toISOString(),
      },
    };

    const outFile = opts.outFile === undefined ? DEFAULT_OUT : opts.outFile;
    if (outFile !== null) {
      await mkdir(dirname(outFile), { recursive: true });
      await writeFile(outFile, `${JSON.stringify(result, null, 2)}\n`);
    }
    log(table(result));
    return result;
  } finally {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    }
    await removeEnvironment(exec, env);
    ownership.release(env);
  }
}

function table(r: VipBenchResult): string {
  const row = (label: string, c: Comparison) =>
    [
      label.padEnd(15),
      String(c.vip.rps).padStart(9),
      String(c.direct.rps).padStart(9),
      c.ratio.throughput.toFixed(2).padStart(6),
      `${c.vip.p50}/${c.vip.p99}`.padStart(13),
      `${c.direct.p50}/${c.direct.p99}`.padStart(13),
      c.ratio.p99.toFixed(2).padStart(6),
    ].join('  ');
  return [
    `VIP vs direct (${r.config.concurrency} in flight, ${r.config.rounds} x ${r.config.durationMs} ms per cell, medians)`,
    `${'mode'.padEnd(15)}  ${'vip rps'.padStart(9)}  ${'dir rps'.padStart(9)}  ${'ratio'.padStart(6)}  ${'vip p50/p99'.padStart(13)}  ${'dir p50/p99'.padStart(13)}  ${'p99 x'.padStart(6)}`,
    row('keep-alive off', r.modes.keepAliveOff),
    row('keep-alive on', r.modes.keepAliveOn),
  ].join('\n');
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const duration = argValue('duration');
  runVipBench({
    durationMs: duration ? parseDuration(duration) : undefined,
    rounds: argValue('rounds') ? Number(argValue('rounds')) : undefined,
    concurrency: argValue('concurrency') ? Number(argValue('concurrency')) : undefined,
  }).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

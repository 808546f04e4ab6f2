/**
 * What does the firewall cost? One HTTP server pod and one client pod in a real environment, the
 * same closed-loop load (keep-alive off: every request is a new connection, so every request pays
 * the firewall's NEW-connection path), three questions side by side in one run:
 *
 *   (a) pairs:    protect mode with 10 allowed pairs loaded vs 10,000 (goal: p99 ratio <= 1.02)
 *   (b) update:   a one-rule change on a 10,000-rule policy, compile (FirewallCompiler.update, as
 *                 the daemon: one policy recompiled, the element-level delta handed over) and nft
 *                 apply (one transaction of a few set elements) timed apart, with their CPU times
 *                 (goal: total <= 150 ms)
 *   (c) overhead: protect mode (10 pairs) vs no firewall table at all
 *                 (goal: throughput >= 0.97x, p99 <= 1.05x)
 *
 * "N allowed pairs" are N (source pod, destination pod, port) allowances among 100 synthetic pods
 * (addresses nobody uses), each written as an egress rule of the source and an ingress rule of the
 * destination, so both the egress and ingress sets hold N elements; the measured pair (client ->
 * server TCP 80) is allowed the same way. Within a round the two sides alternate in order.
 *
 *   node --import tsx bench/firewall.ts [--duration 3s] [--rounds 5] [--pairs 10000]
 *
 * Needs root. Not a test: it measures and reports, it never asserts on speed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { applyFirewall, deleteFirewall } from '../src/firewall/apply.ts';
import { FirewallCompiler, compileFirewall } from '../src/firewall/compile.ts';
import type { FirewallModes } from '../src/firewall/modes.ts';
import { NftSession } from '../src/firewall/nft-session.ts';
import type { NetworkPolicy, World, WorldPod } from '../src/firewall/types.ts';
import {
  DEFAULT_ADDRESS_POOL,
  allocateAddress,
  allocateEnvironmentBlock,
  applyEnvironmentNetwork,
  applyReplicaNetwork,
  applyRuleset,
  execInNetns,
  hostIpv4Networks,
  planEnvironmentAddressing,
  planEnvironmentNetwork,
  planReplicaNetwork,
  removeEnvironment,
} from '../src/network/index.ts';
import { parseDuration } from '../src/platform/clock.ts';
import { realExec, type Exec } from '../src/platform/exec.ts';
import { netnsName, nftTableName } from '../src/platform/names.ts';
import { DEFAULT_OWNERS_DIR, EnvironmentOwnership } from '../src/server/ownership.ts';
import { median, round, writeResult } from './lib.ts';

export interface FirewallBenchOptions {
  /** Length of one measured load run. @default 3000 */
  durationMs?: number;
  /** Runs per side; the sides alternate within a round (short, interleaved runs resist drift). @default 5 */
  rounds?: number;
  /** Requests in flight. @default 32 */
  concurrency?: number;
  /** The large side of (a) and the policy size of (b). @default 10000 */
  pairs?: number;
  /** One-rule changes timed in (b). @default 10 */
  changes?: number;
  /** @default true: write bench/results/firewall.json */
  write?: boolean;
  exec?: Exec;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface LoadStats {
  rps: number;
  p50: number;
  p99: number;
  errors: number;
}

export interface Side {
  /** Median over the rounds. */
  median: LoadStats;
  runs: LoadStats[];
}

export interface Timing {
  medianMs: number;
  maxMs: number;
  runsMs: number[];
}

export interface FirewallBenchResult {
  /** (a) ratio = large / small. */
  pairs: {
    small: Side;
    large: Side;
    smallPairs: number;
    largePairs: number;
    ratio: { throughput: number; p99: number };
  };
  /** (b) one-rule change on the large policy. */
  update: {
    compile: Timing;
    /** CPU time of the compile: steadier than wall time on a shared machine. */
    compileCpu: Timing;
    apply: Timing;
    total: Timing;
    strategies: Record<string, number>;
    /** CPU time of nft (the session's `nft -i`, any `nft -f`; user + sys, 10 ms ticks), per change. */
    nftCpuMsPerChange: number;
    /** Set elements added or removed by one change (the delta transaction's size). */
    changedElements: number;
    /** Loading the whole large ruleset in place, for comparison. */
    fullLoad: Timing;
    elements: number;
    /** 1-minute load average when the changes ended: wall times mean little on a busy machine. */
    loadAverage: number;
  };
  /** (c) ratio = protect / none. */
  overhead: { protect: Side; none: Side; ratio: { throughput: number; p99: number } };
  config: { durationMs: number; rounds: number; concurrency: number; keepAlive: false };
}

const PORT = 80;
const SYNTHETIC = 100;
const SERVER = `require('http').createServer((q, s) => s.end('ok')).listen(${PORT}, () => console.log('ready'))`;

/** Closed-loop load: `concurrency` workers, each sends its next request when the previous answers. */
const LOAD = `
const http = require('http');
const [url, durationMs, concurrency] = process.argv.slice(1);
const latencies = []; let errors = 0;
const deadline = Date.now() + Number(durationMs);
const one = () => new Promise((done) => {
  const t0 = process.hrtime.bigint();
  const r = http.get(url, { agent: false }, (res) => {
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
});
`;

const policyOf = (name: string, spec: NetworkPolicy['spec']): NetworkPolicy => ({
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  metadata: { name, namespace: 'bench' },
  spec,
});
const app = (name: string) => ({ matchLabels: { app: name } });

/**
 * `pairs` allowances among the synthetic pods, plus client -> server TCP 80, each as an egress rule
 * of the source and an ingress rule of the destination. `variant` changes the port of exactly one
 * allowance's ingress rule: the one-rule change of (b).
 */
export function benchPolicies(pairs: number, variant = 0): NetworkPolicy[] {
  const ingress = new Map<number, NonNullable<NetworkPolicy['spec']['ingress']>>();
  const egress = new Map<number, NonNullable<NetworkPolicy['spec']['egress']>>();
  for (let k = 0; k < pairs; k++) {
    const dst = k % SYNTHETIC;
    const src = (dst + 1 + Math.floor(k / SYNTHETIC)) % SYNTHETIC;
    const port = 1000 + Math.floor(k / SYNTHETIC);
    // The one-rule change: the ingress rule of the first allowance moves to another port.
    const ingressPort = k === 0 ? port + variant : port;
    const inRules = ingress.get(dst) ?? [];
    inRules.push({
      from: [{ podSelector: app(`f${src}`) }],
      ports: [{ protocol: 'TCP', port: ingressPort }],
    });
    ingress.set(dst, inRules);
    const outRules = egress.get(src) ?? [];
    outRules.push({ to: [{ podSelector: app(`f${dst}`) }], ports: [{ protocol: 'TCP', port }] });
    egress.set(src, outRules);
  }
  const synthetic = Array.from({ length: SYNTHETIC }, (_, i) =>
    policyOf(`f${i}`, {
      podSelector: app(`f${i}`),
      policyTypes: ['Ingress', 'Egress'],
      ingress: ingress.get(i) ?? [],
      egress: egress.get(i) ?? [],
    }),
  );
  const http = [{ protocol: 'TCP' as const, port: PORT }];
  return [
    policyOf('server', {
      podSelector: app('server'),
      policyTypes: ['Ingress'],
      ingress: [{ from: [{ podSelector: app('client') }], ports: http }],
    }),
    policyOf('client', {
      podSelector: app('client'),
      policyTypes: ['Egress'],
      egress: [{ to: [{ podSelector: app('server') }], ports: http }],
    }),
    ...synthetic,
  ];
}

/** CPU time of this process's waited-for children (user + sys, /proc clock ticks of 10 ms). */
function childrenCpuMs(): number {
  const fields = readFileSync('/proc/self/stat', 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[13]) + Number(fields[14])) * 10;
}

/** CPU time of a running process (user + sys, 10 ms ticks). */
function processCpuMs(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

function timing(runs: number[]): Timing {
  return {
    medianMs: round(median(runs)),
    maxMs: round(Math.max(...runs)),
    runsMs: runs.map((r) => round(r)),
  };
}

function side(runs: LoadStats[]): Side {
  const pick = (k: keyof LoadStats) => round(median(runs.map((r) => r[k])), 2);
  return { median: { rps: pick('rps'), p50: pick('p50'), p99: pick('p99'), errors: pick('errors') }, runs };
}

const ratio = (a: Side, b: Side) => ({
  throughput: round(a.median.rps / b.median.rps, 3),
  p99: round(a.median.p99 / b.median.p99, 3),
});

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

export async function runFirewallBench(opts: FirewallBenchOptions = {}): Promise<FirewallBenchResult> {
  const exec = opts.exec ?? realExec;
  const log = opts.log ?? ((line: string) => console.log(line));
  const durationMs = opts.durationMs ?? 3000;
  const rounds = opts.rounds ?? 5;
  const concurrency = opts.concurrency ?? 32;
  const largePairs = opts.pairs ?? 10_000;
  const changes = opts.changes ?? 10;
  const env = `bf${randomBytes(4)
    .toString('hex')
    .replace(/[0-9]/g, (d) => 'ghijklmnop'[Number(d)]!)
    .slice(0, 4)}`;
  const ownership = new EnvironmentOwnership(DEFAULT_OWNERS_DIR, `bench:${import.meta.url}`);
  ownership.claim(env);
  let server: ChildProcess | undefined;
  let session: NftSession | undefined;
  const aborted = () => {
    if (opts.signal?.aborted) throw new Error('interrupted');
  };

  try {
    const addressing = planEnvironmentAddressing(await freeBlock(exec));
    await applyEnvironmentNetwork(exec, planEnvironmentNetwork({ env, addressing }));
    const used = new Set<string>();
    const next = () => {
      const ip = allocateAddress(addressing.app.subnet, used);
      used.add(ip);
      return ip;
    };
    const mkPod = (service: string): WorldPod => ({
      namespace: 'bench',
      service,
      name: `${service}-0`,
      labels: { app: service },
      ips: [next()],
      ports: [{ name: 'http', port: PORT, protocol: 'TCP' }],
    });
    const serverPod = mkPod('server');
    const clientPod = mkPod('client');
    const world: World = {
      namespaces: [{ name: 'bench', labels: { 'kubernetes.io/metadata.name': 'bench' } }],
      pods: [serverPod, clientPod, ...Array.from({ length: SYNTHETIC }, (_, i) => mkPod(`f${i}`))],
    };
    for (const pod of [serverPod, clientPod]) {
      await applyReplicaNetwork(
        exec,
        planReplicaNetwork({
          env,
          namespace: 'bench',
          service: pod.service,
          index: 0,
          addressing,
          attachments: [{ net: 'app', address: pod.ips[0]! }],
          hosts: [],
        }),
      );
    }
    await applyRuleset(exec, { env, addressing, services: [] });
    const clientNs = netnsName(env, 'bench', 'client', 0);
    // Keep-alive off opens tens of thousands of connections: a wide port range and TIME_WAIT reuse.
    await exec(execInNetns(clientNs, ['sysctl', '-q', '-w', 'net.ipv4.ip_local_port_range=1024 65000']));
    await exec(execInNetns(clientNs, ['sysctl', '-q', '-w', 'net.ipv4.tcp_tw_reuse=1']));
    const [file, ...args] = execInNetns(netnsName(env, 'bench', 'server', 0), [
      process.execPath,
      '-e',
      SERVER,
    ]);
    server = spawn(file!, args, { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      server!.stdout!.on('data', (b: Buffer) => b.toString().includes('ready') && resolve());
      server!.once('exit', (code) => reject(new Error(`server exited with ${code}`)));
    });

    const protect: FirewallModes = { global: 'protect', perService: {} };
    const texts = {
      small: compileFirewall({ env, world, policies: benchPolicies(10), modes: protect }),
      large: compileFirewall({ env, world, policies: benchPolicies(largePairs), modes: protect }),
    };
    let loaded: string | undefined;
    const use = async (which: 'small' | 'large' | 'none') => {
      if (which === 'none') {
        await deleteFirewall(exec, env);
        loaded = undefined;
      } else if (loaded !== texts[which]) {
        await applyFirewall(exec, env, texts[which], { previous: loaded });
        loaded = texts[which];
      }
    };
    const load = async (ms: number): Promise<LoadStats> => {
      const url = `http://${serverPod.ips[0]!}:${PORT}/`;
      const r = await exec(
        execInNetns(clientNs, [process.execPath, '-e', LOAD, url, String(ms), String(concurrency)]),
        {
          timeoutMs: ms + 60_000,
        },
      );
      const out = JSON.parse(r.stdout) as LoadStats;
      return { rps: round(out.rps, 1), p50: round(out.p50, 2), p99: round(out.p99, 2), errors: out.errors };
    };
    /** Runs `a` and `b` alternately, `rounds` times each, after one unmeasured warm-up of each. */
    const compare = async <K extends 'small' | 'large' | 'none'>(label: string, a: K, b: K) => {
      const runs = new Map<K, LoadStats[]>([
        [a, []],
        [b, []],
      ]);
      for (const which of [a, b]) {
        await use(which);
        await load(1000);
      }
      for (let r = 1; r <= rounds; r++) {
        for (const which of r % 2 ? [a, b] : [b, a]) {
          aborted();
          await use(which);
          const stats = await load(durationMs);
          runs.get(which)!.push(stats);
          log(
            `  ${label} ${which.padEnd(5)} round ${r}: ${stats.rps} req/s, p99 ${stats.p99} ms${stats.errors ? `, ${stats.errors} errors` : ''}`,
          );
        }
      }
      return { a: side(runs.get(a)!), b: side(runs.get(b)!) };
    };

    log(`(a) protect mode, 10 vs ${largePairs} allowed pairs, keep-alive off, ${concurrency} in flight`);
    const pairsRuns = await compare('pairs', 'small', 'large');

    log(`(b) one-rule change on the ${largePairs}-pair policy`);
    await use('large');
    const fullLoad: number[] = [];
    for (let i = 0; i < 3; i++) {
      aborted();
      const t0 = performance.now();
      await applyFirewall(exec, env, texts.large);
      fullLoad.push(performance.now() - t0);
    }
    loaded = texts.large;
    // As the daemon does: one FirewallCompiler keeps each policy's compiled part and the sets as
    // reference counts, and the daemon keeps its policies' objects, so a one-rule change is one new
    // policy object: the compiler recompiles that policy and hands over the element-level delta,
    // which goes to the kernel as one small `nft -f` transaction. Two unmeasured updates first
    // (JIT warm-up, the compiler's state filled with the loaded policy).
    const compiler = new FirewallCompiler();
    const base = benchPolicies(largePairs, 0);
    // The one-rule change touches the ingress of the first allowance: policy f0.
    const changed = base.findIndex((p) => p.metadata.name === 'f0');
    const variant = (i: number) => {
      const policies = [...base];
      policies[changed] = benchPolicies(largePairs, i)[changed]!;
      return policies;
    };
    for (const v of [-1, 0]) compiler.update({ env, world, policies: variant(v), modes: protect });
    const compileMs: number[] = [];
    const compileCpuMs: number[] = [];
    const applyMs: number[] = [];
    const strategies: Record<string, number> = {};
    const changedElements: number[] = [];
    // As the nftables backend does: small delta transactions run in its long-lived `nft -i`.
    session = new NftSession();
    await session.run(`list set inet ${nftTableName(env)} revision`);
    const session0 = processCpuMs(session.pid!);
    const children0 = childrenCpuMs();
    const variants = Array.from({ length: changes }, (_, i) => variant(i + 1));
    for (let i = 1; i <= changes; i++) {
      aborted();
      const policies = variants[i - 1]!;
      const cpu0 = process.cpuUsage();
      const t0 = performance.now();
      const { text, delta } = compiler.update({ env, world, policies, modes: protect });
      const t1 = performance.now();
      const cpu = process.cpuUsage(cpu0);
      compileCpuMs.push((cpu.user + cpu.system) / 1000);
      const r = await applyFirewall(exec, env, text, {
        previous: loaded,
        session,
        ...(delta && { delta }),
      });
      const t2 = performance.now();
      loaded = text;
      compileMs.push(t1 - t0);
      applyMs.push(t2 - t1);
      strategies[r.strategy] = (strategies[r.strategy] ?? 0) + 1;
      changedElements.push(delta?.changes.reduce((n, c) => n + c.added.length + c.removed.length, 0) ?? -1);
    }
    const update = {
      compile: timing(compileMs),
      compileCpu: timing(compileCpuMs),
      apply: timing(applyMs),
      total: timing(compileMs.map((c, i) => c + applyMs[i]!)),
      nftCpuMsPerChange: round(
        (childrenCpuMs() - children0 + processCpuMs(session.pid!) - session0) / changes,
        1,
      ),
      changedElements: changedElements[0] ?? 0,
      strategies,
      fullLoad: timing(fullLoad),
      elements: (texts.large.match(/\n\t\t\t/g) ?? []).length,
      loadAverage: round(loadavg()[0] ?? 0, 2),
    };
    log(
      `  compile median ${update.compile.medianMs} ms (CPU ${update.compileCpu.medianMs} ms), apply median ${update.apply.medianMs} ms (nft CPU ${update.nftCpuMsPerChange} ms; ${JSON.stringify(strategies)}, ${update.changedElements} elements), total ${update.total.medianMs} ms; full load ${update.fullLoad.medianMs} ms; load average ${update.loadAverage}`,
    );

    log('(c) protect mode (10 pairs) vs no firewall table');
    const overheadRuns = await compare('overhead', 'small', 'none');

    const result: FirewallBenchResult = {
      pairs: {
        small: pairsRuns.a,
        large: pairsRuns.b,
        smallPairs: 10,
        largePairs,
        ratio: ratio(pairsRuns.b, pairsRuns.a),
      },
      update,
      overhead: {
        protect: overheadRuns.a,
        none: overheadRuns.b,
        ratio: ratio(overheadRuns.a, overheadRuns.b),
      },
      config: { durationMs, rounds, concurrency, keepAlive: false },
    };
    if (opts.write !== false) log(`  wrote ${await writeResult('firewall', result)}`);
    for (const row of firewallSummaryRows(result))
      log(
        `  ${row.measure}: ${row.rampart} vs ${row.baseline} = ${row.ratio} (goal ${row.goal.op} ${row.goal.value})`,
      );
    return result;
  } finally {
    if (server && server.exitCode === null) {
      const exited = new Promise((resolve) => server!.once('exit', resolve));
      server.kill('SIGKILL');
      await exited;
    }
    session?.close();
    await deleteFirewall(exec, env);
    await removeEnvironment(exec, env);
    ownership.release(env);
  }
}

/** The summary rows for bench/run.ts (wrap each in its `withGoal`). */
export function firewallSummaryRows(r: FirewallBenchResult): {
  measure: string;
  rampart: number;
  baseline: number;
  ratio: number;
  goal: { op: '<=' | '>='; value: number };
}[] {
  const n = r.pairs.largePairs;
  return [
    {
      measure: `firewall p99 ms, ${n} vs 10 allowed pairs`,
      rampart: r.pairs.large.median.p99,
      baseline: r.pairs.small.median.p99,
      ratio: r.pairs.ratio.p99,
      goal: { op: '<=', value: 1.02 },
    },
    {
      measure: `firewall one-rule change on ${n} rules, ms (vs 150)`,
      rampart: r.update.total.medianMs,
      baseline: 150,
      ratio: round(r.update.total.medianMs / 150, 3),
      goal: { op: '<=', value: 1 },
    },
    {
      measure: 'firewall req/s, protect vs no table',
      rampart: r.overhead.protect.median.rps,
      baseline: r.overhead.none.median.rps,
      ratio: r.overhead.ratio.throughput,
      goal: { op: '>=', value: 0.97 },
    },
    {
      measure: 'firewall p99 ms, protect vs no table',
      rampart: r.overhead.protect.median.p99,
      baseline: r.overhead.none.median.p99,
      ratio: r.overhead.ratio.p99,
      goal: { op: '<=', value: 1.05 },
    },
  ];
}

function argValue(name: string): string | undefined {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const duration = argValue('duration');
  runFirewallBench({
    durationMs: duration ? parseDuration(duration) : undefined,
    rounds: argValue('rounds') ? Number(argValue('rounds')) : undefined,
    pairs: argValue('pairs') ? Number(argValue('pairs')) : undefined,
  }).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

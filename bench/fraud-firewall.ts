/**
 * What does the firewall cost the fraud stack? The stack from examples/fraud (small `test` seeds)
 * learns from generator traffic, the proposal is applied and protect mode switched on; then three
 * sides alternate in one run, each `rounds` times:
 *
 *   protect   the proposal (tens of allowed pairs) enforced
 *   off       no firewall table at all (FirewallManager.unload)
 *   pairs10k  the proposal plus a policy of 10,000 more allowed pairs (gateway egress, /32 ipBlocks
 *             nobody uses, so the interval set holds 10,000 more elements)
 *
 * Each run: generator traffic (open loop, `rate` assessments/s for `durationMs`) for p50/p99, then a
 * saturation run (`saturationRate`, `concurrency` in flight: what the stack answers per second).
 * Goals: protect vs off throughput >= 0.97x and p99 <= 1.05x; pairs10k vs protect p99 <= 1.02x.
 *
 *   node --import tsx bench/fraud-firewall.ts [--rounds 3] [--duration 5s] [--rate 40]
 *
 * Needs root. Measures and reports; never asserts on speed.
 */
import { loadavg } from 'node:os';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { fraudStackText } from '../examples/fraud/generator/stack-file.ts';
import { parseDurationMs, runTrafficApart, trafficOrders } from '../examples/fraud/generator/traffic.ts';
import { freePort } from '../src/testing/postgres.ts';
import { startControlPlaneForTest, testEnvironmentName } from '../src/testing/control-plane.ts';
import { median, round, writeResult } from './lib.ts';

export interface FraudFirewallBenchOptions {
  /** @default 3 */
  rounds?: number;
  /** Length of each latency run. @default 5000 */
  durationMs?: number;
  /** Assessments/s of the latency runs (well below saturation). @default 40 */
  rate?: number;
  /** Offered rate of the saturation runs. @default 1000 */
  saturationRate?: number;
  /** In flight during the saturation runs. @default 16 */
  concurrency?: number;
  /** Extra allowed pairs of the large side. @default 10_000 */
  pairs?: number;
  /** @default true */
  write?: boolean;
  log?: (line: string) => void;
  signal?: AbortSignal;
}

export interface RunStats {
  p50: number;
  p99: number;
  /** Answered assessments per second at saturation. */
  throughput: number;
  errors: number;
}

type SideName = 'protect' | 'off' | 'pairs10k';

export interface FraudFirewallBenchResult {
  sides: Record<SideName, { median: RunStats; runs: RunStats[] }>;
  ratios: {
    protectVsOff: { throughput: number; p99: number };
    pairsVsProtect: { throughput: number; p99: number };
  };
  config: Required<Omit<FraudFirewallBenchOptions, 'log' | 'signal' | 'write'>>;
  loadAverage: number[];
}

/** One egress policy for the gateway allowing `pairs` /32 addresses of 10.77.0.0/16 on TCP 443. */
export function extraPairsPolicy(pairs: number): string {
  const peers: string[] = [];
  for (let i = 0; i < pairs; i++)
    peers.push(`        - ipBlock: { cidr: 10.77.${Math.floor(i / 250)}.${(i % 250) + 1}/32 }`);
  return [
    'apiVersion: networking.k8s.io/v1',
    'kind: NetworkPolicy',
    'metadata: { name: bench-pairs, namespace: fraud }',
    'spec:',
    '  podSelector: { matchLabels: { app: gateway } }',
    '  policyTypes: [Egress]',
    '  egress:',
    '    - ports: [{ protocol: TCP, port: 443 }]',
    '      to:',
    ...peers,
    '',
  ].join('\n');
}

export async function runFraudFirewallBench(
  opts: FraudFirewallBenchOptions = {},
): Promise<FraudFirewallBenchResult> {
  const log = opts.log ?? ((line: string) => console.log(line));
  const config = {
    rounds: opts.rounds ?? 3,
    durationMs: opts.durationMs ?? 5000,
    rate: opts.rate ?? 40,
    saturationRate: opts.saturationRate ?? 1000,
    concurrency: opts.concurrency ?? 16,
    pairs: opts.pairs ?? 10_000,
  };
  const cp = await startControlPlaneForTest({ readyTimeoutMs: 300_000, tracing: false });
  const env = testEnvironmentName('bf');
  const control = cp.daemon.controlPlane;
  let seed = 1000;
  try {
    const hostPort = await freePort();
    const url = `http://127.0.0.1:${hostPort}`;
    const file = await cp.writeStack(fraudStackText({ environment: env, hostPort, overlayFrom: 'test' }));
    log(`fraud stack up in ${env} (test seeds)`);
    await control.up({ file, environment: env, clientEnv: {} }, () => undefined);
    const traffic = (rate: number, durationMs: number, concurrency?: number) =>
      runTrafficApart({
        url,
        rate,
        durationMs,
        ...(concurrency && { concurrency }),
        orders: trafficOrders({ seed: seed++, historyOrders: 20_000 }, Math.ceil((rate * durationMs) / 1000)),
      });
    log('learn: generator traffic, then propose, apply, protect');
    await traffic(config.rate, 5000);
    const fw = control.firewall(env);
    const { yaml } = await fw.propose();
    await control.withFirewall(env, (f) => f.applyPolicyText(yaml, 'proposal.yaml'));
    await control.withFirewall(env, (f) => f.setMode('protect', []));
    const extra = extraPairsPolicy(config.pairs);

    const runs: Record<SideName, RunStats[]> = { protect: [], off: [], pairs10k: [] };
    let current: SideName = 'protect';
    const use = async (side: SideName) => {
      if (side === current) return;
      if (current === 'off') await fw.reload();
      if (current === 'pairs10k')
        await control.withFirewall(env, (f) => f.deletePolicy('fraud', 'bench-pairs'));
      if (side === 'off') await fw.unload();
      if (side === 'pairs10k') await control.withFirewall(env, (f) => f.applyPolicyText(extra, 'pairs.yaml'));
      current = side;
    };
    const measure = async (): Promise<RunStats> => {
      const latency = await traffic(config.rate, config.durationMs);
      const saturation = await traffic(config.saturationRate, config.durationMs, config.concurrency);
      return {
        p50: round(latency.latencyMs.p50, 2),
        p99: round(latency.latencyMs.p99, 2),
        throughput: round(saturation.throughput, 1),
        errors: latency.errors + saturation.errors,
      };
    };
    const order: SideName[] = ['protect', 'off', 'pairs10k'];
    for (const side of order) {
      await use(side);
      await traffic(config.rate, 2000);
    }
    for (let r = 1; r <= config.rounds; r++) {
      for (const side of r % 2 ? order : [...order].reverse()) {
        if (opts.signal?.aborted) throw new Error('interrupted');
        await use(side);
        const stats = await measure();
        runs[side].push(stats);
        log(
          `  ${side.padEnd(8)} round ${r}: p50 ${stats.p50} ms, p99 ${stats.p99} ms, ${stats.throughput} assessments/s at saturation${stats.errors ? `, ${stats.errors} errors` : ''}`,
        );
      }
    }
    await use('protect');
    const pick = (list: RunStats[], k: keyof RunStats) => round(median(list.map((x) => x[k])), 2);
    const sides = Object.fromEntries(
      (Object.keys(runs) as SideName[]).map((s) => [
        s,
        {
          median: {
            p50: pick(runs[s], 'p50'),
            p99: pick(runs[s], 'p99'),
            throughput: pick(runs[s], 'throughput'),
            errors: pick(runs[s], 'errors'),
          },
          runs: runs[s],
        },
      ]),
    ) as FraudFirewallBenchResult['sides'];
    const ratio = (a: RunStats, b: RunStats) => ({
      throughput: round(a.throughput / b.throughput, 3),
      p99: round(a.p99 / b.p99, 3),
    });
    const result: FraudFirewallBenchResult = {
      sides,
      ratios: {
        protectVsOff: ratio(sides.protect.median, sides.off.median),
        pairsVsProtect: ratio(sides.pairs10k.median, sides.protect.median),
      },
      config,
      loadAverage: loadavg().map((l) => round(l, 2)),
    };
    if (opts.write !== false) log(`  wrote ${await writeResult('fraud-firewall', result)}`);
    for (const row of fraudFirewallSummaryRows(result))
      log(
        `  ${row.measure}: ${row.rampart} vs ${row.baseline} = ${row.ratio} (goal ${row.goal.op} ${row.goal.value})`,
      );
    return result;
  } finally {
    try {
      await control.down({ environment: env }, () => undefined);
    } finally {
      await cp.stop({ removeState: true });
    }
  }
}

/** The summary rows for bench/run.ts. */
export function fraudFirewallSummaryRows(r: FraudFirewallBenchResult): {
  measure: string;
  rampart: number;
  baseline: number;
  ratio: number;
  goal: { op: '<=' | '>='; value: number };
}[] {
  const { protect, off, pairs10k } = r.sides;
  return [
    {
      measure: 'fraud stack assessments/s, protect vs firewall off',
      rampart: protect.median.throughput,
      baseline: off.median.throughput,
      ratio: r.ratios.protectVsOff.throughput,
      goal: { op: '>=', value: 0.97 },
    },
    {
      measure: 'fraud stack p99 ms, protect vs firewall off',
      rampart: protect.median.p99,
      baseline: off.median.p99,
      ratio: r.ratios.protectVsOff.p99,
      goal: { op: '<=', value: 1.05 },
    },
    {
      measure: `fraud stack p99 ms, ${r.config.pairs} more allowed pairs vs the proposal`,
      rampart: pairs10k.median.p99,
      baseline: protect.median.p99,
      ratio: r.ratios.pairsVsProtect.p99,
      goal: { op: '<=', value: 1.02 },
    },
  ];
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string' },
      duration: { type: 'string' },
      rate: { type: 'string' },
      pairs: { type: 'string' },
    },
  });
  runFraudFirewallBench({
    ...(values.rounds && { rounds: Number(values.rounds) }),
    ...(values.duration && { durationMs: parseDurationMs(values.duration) }),
    ...(values.rate && { rate: Number(values.rate) }),
    ...(values.pairs && { pairs: Number(values.pairs) }),
  }).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}

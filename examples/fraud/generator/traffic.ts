/**
 * Sends generated merchant orders to the gateway at a fixed rate and reports throughput, latency,
 * errors and detection quality against the generator's labels.
 *
 *   node --import tsx examples/fraud/generator/traffic.ts --url http://127.0.0.1:8080 --rate 50 --duration 30s
 *        [--count N] [--concurrency C] [--seed S] [--history <velocity seed orders>] [--json]
 *
 * Open loop: order i is due at start + i/rate whatever the answers do, and its latency counts from
 * when it was due, so a slow stack shows as latency instead of quietly lowering the rate
 * ("coordinated omission"). Bounded in time and count; at most `concurrency` requests in flight
 * (a due order finding no free slot is counted as `skipped`, a sign of overload). Only loopback
 * and Rampart's own network (198.18.0.0/15) are accepted as targets.
 */
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import { isIPv4 } from 'node:net';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { Worker } from 'node:worker_threads';
import type { Decision, Order } from '../lib/types.ts';
import { unavailableSource } from '../model/features.ts';
import { auc, confusion } from '../model/logistic.ts';
import { KeepAlivePool } from './client.ts';
import { MERCHANT_BY_ID } from './data.ts';
import { createWorld, orderStream, takeOrders, type LabelledOrder } from './orders.ts';
import { defaultSources } from './sources.ts';

export interface TrafficOptions {
  /** Gateway base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  /** Orders per second. */
  rate: number;
  durationMs: number;
  /** Stop after this many orders even if time is left. */
  count?: number;
  /** Most requests in flight. @default 256 */
  concurrency?: number;
  /** Seed of the order stream. @default a new one per run (order ids must not repeat across runs) */
  seed?: number;
  /** @default 7 */
  worldSeed?: number;
  /**
   * The stack's velocity seed size (`velocity.seed.orders`): returning customers are drawn from
   * that history so the stack knows them. @default 1_000_000
   */
  historyOrders?: number;
  /** Per request. @default 5000 */
  timeoutMs?: number;
  /**
   * Decide tracing here, as a merchant's own tracer would: every order carries a W3C `traceparent`,
   * sampled for every `traceEvery`-th order and not sampled for the others. The gateway's sampler
   * follows an incoming decision, so the report can split the latency of traced and untraced
   * assessments (`tracedLatencyMs`, `untracedLatencyMs`). Without it the gateway decides alone.
   */
  traceEvery?: number;
  /**
   * Add `timeline`: the answers summarised per second of due time, to tell a tail spread over
   * the run from one made of a few stalls. @default false
   */
  timeline?: boolean;
  /** Orders to send instead of generated ones (tests). */
  orders?: readonly LabelledOrder[];
  signal?: AbortSignal;
  log?: (line: string) => void;
}

export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  max: number;
  mean: number;
}

export interface TrafficReport {
  url: string;
  targetRate: number;
  /** From the first send to the last answer. */
  durationMs: number;
  /** From the first send to the last; the rest of `durationMs` is draining the answers. */
  sendWindowMs: number;
  sent: number;
  ok: number;
  errors: number;
  errorRate: number;
  /** Due orders not sent because `concurrency` requests were already in flight. */
  skipped: number;
  /** By HTTP status, or by what went wrong when no answer came (`timeout`, `ECONNRESET`...). */
  errorsByStatus: Record<string, number>;
  /**
   * Answered (2xx) assessments per second of the send window: a stack that keeps up answers as
   * fast as it is sent to (one that does not shows it in the latency, which grows without bound).
   */
  throughput: number;
  latencyMs: LatencySummary;
  /** With `traceEvery`: the latency of the orders sent as sampled, and of the others. */
  tracedLatencyMs?: LatencySummary;
  untracedLatencyMs?: LatencySummary;
  /** With `timeline`: per second of due time since the start, the answers' count, p99 and max. */
  timeline?: { second: number; answered: number; p99: number; max: number }[];
  /**
   * Answered assessments that lack a signal (the gateway left out a service that failed or did
   * not answer within its timeout, reason `<SERVICE>_UNAVAILABLE`): a 200, but a weaker decision.
   * A stack that keeps up has none; one that is overloaded sheds signals before it fails requests.
   */
  degraded: number;
  /** Per signal service, the answers that lacked it. */
  degradedBySignal: Record<string, number>;
  decisions: Record<Decision, number>;
  detection: {
    fraud: number;
    legit: number;
    /** Review or reject counts as flagged. */
    precision: number;
    recall: number;
    auc: number;
    flaggedByPattern: Record<string, number>;
  };
}

/** Loopback or Rampart's address pool: the generator never sends traffic anywhere else. */
export function checkTarget(url: string): URL {
  const u = new URL(url);
  if (u.protocol !== 'http:') throw new Error(`traffic: only http:// targets, got ${u.protocol}`);
  const host = u.hostname.replace(/^\[|\]$/g, '');
  const ok =
    host === 'localhost' ||
    host === '::1' ||
    (isIPv4(host) && (host.startsWith('127.') || /^198\.(18|19)\./.test(host)));
  if (!ok)
    throw new Error(`traffic: target ${host} is neither loopback nor a Rampart address (198.18.0.0/15)`);
  return u;
}

/** Linear-interpolated percentile of an ascending array. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(rank);
  const hi = Math.ceil(rank);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (rank - lo);
}

export function summariseLatency(ms: readonly number[]): LatencySummary {
  const s = Float64Array.from(ms).sort();
  const r = (x: number) => Math.round(x * 10) / 10;
  const mean = s.length ? s.reduce((a, b) => a + b, 0) / s.length : Number.NaN;
  return {
    p50: r(percentileSorted(s, 50)),
    p95: r(percentileSorted(s, 95)),
    p99: r(percentileSorted(s, 99)),
    max: r(s.length ? s[s.length - 1]! : Number.NaN),
    mean: r(mean),
  };
}

interface Answer {
  /** HTTP status, or 0 when no answer came (then `error` says why). */
  status: number;
  error?: string;
  decision?: Decision;
  score?: number;
  /** Signal services the gateway answered without (`<SERVICE>_UNAVAILABLE` reasons). */
  missing?: string[];
}

function post(
  pool: KeepAlivePool,
  order: Order,
  apiKey: string,
  timeoutMs: number,
  traceparent?: string,
): Promise<Answer> {
  const headers: Record<string, string> = { 'content-type': 'application/json', 'x-api-key': apiKey };
  if (traceparent) headers.traceparent = traceparent;
  return pool.post('/v1/assessments', headers, JSON.stringify(order), timeoutMs).then((r) => {
    if (r.status !== 200)
      return r.status === 0 ? { status: 0, error: r.error ?? 'no-answer' } : { status: r.status };
    try {
      const body = JSON.parse((r.body ?? Buffer.alloc(0)).toString('utf8')) as {
        decision?: Decision;
        score?: number;
        reasons?: unknown[];
      };
      const missing: string[] = [];
      for (const reason of body.reasons ?? []) {
        const source = unavailableSource(reason);
        if (source) missing.push(source);
      }
      return {
        status: r.status,
        decision: body.decision,
        score: body.score,
        ...(missing.length ? { missing } : {}),
      };
    } catch {
      return { status: 0, error: 'bad-json' };
    }
  });
}

/** Generates orders for a run: a new stream per run unless `seed` is given. */
export function trafficOrders(
  opts: Pick<TrafficOptions, 'seed' | 'worldSeed' | 'historyOrders'>,
  count: number,
): LabelledOrder[] {
  const seed = opts.seed ?? Date.now() % 1_000_000_007;
  const world = createWorld({
    seed: opts.worldSeed ?? 7,
    historyOrders: opts.historyOrders ?? 1_000_000,
    sources: defaultSources(),
  });
  return takeOrders(
    orderStream(world, { seed, start: Date.now(), orderIdPrefix: `t${seed.toString(36)}-` }),
    count,
  );
}

export async function runTraffic(opts: TrafficOptions): Promise<TrafficReport> {
  const target = checkTarget(opts.url);
  if (!(opts.rate > 0) || !(opts.durationMs > 0))
    throw new Error('traffic: rate and duration must be positive');
  const planned = Math.min(
    opts.count ?? Number.POSITIVE_INFINITY,
    Math.ceil((opts.rate * opts.durationMs) / 1000),
    2_000_000,
  );
  const orders = opts.orders ? opts.orders.slice(0, planned) : trafficOrders(opts, planned);
  const concurrency = opts.concurrency ?? 256;
  const timeoutMs = opts.timeoutMs ?? 5000;
  // Its own lean client (client.ts): the generator shares the machine with the stack it measures.
  const pool = new KeepAlivePool({
    host: target.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(target.port || 80),
    maxIdle: concurrency,
  });
  const latencies: number[] = [];
  const traceEvery = opts.traceEvery && opts.traceEvery > 0 ? Math.floor(opts.traceEvery) : undefined;
  const traced: number[] = [];
  const untraced: number[] = [];
  // With timeline: the latencies of the orders due in each second since the start.
  const bySecond: number[][] | undefined = opts.timeline ? [] : undefined;
  const answers: (Answer | undefined)[] = new Array(orders.length);
  const errorsByStatus: Record<string, number> = {};
  let inFlight = 0;
  let sent = 0;
  let skipped = 0;
  let next = 0;
  const start = performance.now();
  const interval = 1000 / opts.rate;
  const pending: Promise<void>[] = [];
  await new Promise<void>((done) => {
    const tick = () => {
      const now = performance.now();
      while (next < orders.length && start + next * interval <= now) {
        const i = next++;
        const due = start + i * interval;
        if (inFlight >= concurrency) {
          skipped++;
          continue;
        }
        const item = orders[i]!;
        const order = { ...item.order, createdAt: new Date().toISOString() };
        const key = MERCHANT_BY_ID.get(order.merchantId)?.apiKey ?? '';
        // With traceEvery: which group this order's latency joins (undefined: no split).
        const group = traceEvery ? (i % traceEvery === 0 ? traced : untraced) : undefined;
        inFlight++;
        sent++;
        pending.push(
          post(pool, order, key, timeoutMs, group && traceparentOf(i, group === traced)).then((a) => {
            inFlight--;
            answers[i] = a;
            if (a.status === 200) {
              const ms = performance.now() - due;
              latencies.push(ms);
              group?.push(ms);
              if (bySecond) (bySecond[Math.floor((due - start) / 1000)] ??= []).push(ms);
            } else {
              const kind = a.status === 0 ? (a.error ?? 'no-answer') : String(a.status);
              errorsByStatus[kind] = (errorsByStatus[kind] ?? 0) + 1;
            }
          }),
        );
      }
      if (next >= orders.length || now - start >= opts.durationMs || opts.signal?.aborted) return done();
      // setImmediate would spin a core; a timer set for the next due order (at least 1 ms) keeps
      // the send times within ~1 ms of due without waking every millisecond at low rates.
      setTimeout(tick, Math.max(1, Math.floor(start + next * interval - performance.now())));
    };
    tick();
  });
  const sendWindowMs = performance.now() - start;
  await Promise.all(pending);
  const durationMs = performance.now() - start;
  pool.destroy();

  const scored: number[] = [];
  const labels: (0 | 1)[] = [];
  const flagged: boolean[] = [];
  const byPattern: Record<string, { n: number; f: number }> = {};
  const decisions: Record<Decision, number> = { accept: 0, review: 0, reject: 0 };
  let degraded = 0;
  const degradedBySignal: Record<string, number> = {};
  answers.forEach((a, i) => {
    if (!a || a.status !== 200 || a.decision === undefined) return;
    const item = orders[i]!;
    decisions[a.decision]++;
    if (a.missing) {
      degraded++;
      for (const s of a.missing) degradedBySignal[s] = (degradedBySignal[s] ?? 0) + 1;
    }
    const isFlagged = a.decision !== 'accept';
    scored.push(a.score ?? 0);
    labels.push(item.label === 'fraud' ? 1 : 0);
    flagged.push(isFlagged);
    const e = (byPattern[item.pattern] ??= { n: 0, f: 0 });
    e.n++;
    if (isFlagged) e.f++;
  });
  const c = confusion(flagged, labels);
  const r3 = (x: number) => Math.round(x * 1000) / 1000;
  const ok = latencies.length;
  const errors = sent - ok;
  const report: TrafficReport = {
    url: target.origin,
    targetRate: opts.rate,
    durationMs: Math.round(durationMs),
    sendWindowMs: Math.round(sendWindowMs),
    sent,
    ok,
    errors,
    errorRate: r3(sent ? errors / sent : 0),
    skipped,
    errorsByStatus,
    throughput: Math.round((ok / Math.max(1, sendWindowMs)) * 1000 * 10) / 10,
    latencyMs: summariseLatency(latencies),
    ...(traceEvery && {
      tracedLatencyMs: summariseLatency(traced),
      untracedLatencyMs: summariseLatency(untraced),
    }),
    ...(bySecond && {
      timeline: Array.from(bySecond, (ms = [], second) => {
        const l = summariseLatency(ms);
        return { second, answered: ms.length, p99: l.p99, max: l.max };
      }),
    }),
    degraded,
    degradedBySignal,
    decisions,
    detection: {
      fraud: c.positives,
      legit: labels.length - c.positives,
      precision: r3(c.precision),
      recall: r3(c.recall),
      auc: r3(auc(scored, labels)),
      flaggedByPattern: Object.fromEntries(
        Object.entries(byPattern)
          .sort()
          .map(([p, e]) => [p, r3(e.f / e.n)]),
      ),
    },
  };
  return report;
}

// A per-run random half, then the order's index: trace ids unique across runs.
const tracePrefix = randomBytes(8).toString('hex');

/** The W3C traceparent of order `i`: its own trace, sampled or not. */
function traceparentOf(i: number, sampled: boolean): string {
  const n = (i + 1).toString(16).padStart(16, '0');
  return `00-${tracePrefix}${n}-${n}-${sampled ? '01' : '00'}`;
}

let threadBoot: string | undefined;

/**
 * What a traffic thread evaluates first: a worker thread does not run the parent's `--import tsx`,
 * so it registers tsx itself (the ESM `register()`: its CommonJS twin cannot register the ESM hooks
 * on Node 20), then loads the TypeScript entry. Resolved once per process.
 */
function trafficThreadBoot(): string {
  if (threadBoot) return threadBoot;
  const manifest = createRequire(import.meta.url).resolve('tsx/package.json');
  const pkg = JSON.parse(fs.readFileSync(manifest, 'utf8')) as {
    exports: Record<string, { import?: { default?: string } }>;
  };
  const entry = pkg.exports['./esm/api']?.import?.default;
  if (!entry) throw new Error(`traffic: ${manifest} names no ESM entry for tsx/esm/api`);
  const tsx = JSON.stringify(pathToFileURL(path.join(path.dirname(manifest), entry)).href);
  const thread = JSON.stringify(new URL('./traffic-thread.ts', import.meta.url).href);
  threadBoot = `import(${tsx}).then((m) => { m.register(); return import(${thread}); })`;
  return threadBoot;
}

/**
 * `runTraffic` on a thread of its own, as a merchant's client would be: its timers, sends and clock
 * readings then wait for nothing else the calling process does. A benchmark runs Rampart's control
 * plane in its own process (OTLP ingest, logs, flows), and on the caller's event loop that work
 * delayed sends and answers and counted as the stack's latency. The thread still shares the
 * machine's cores; only the event loop is its own.
 */
export function runTrafficApart(opts: TrafficOptions): Promise<TrafficReport> {
  const { signal, log: _log, ...data } = opts;
  return new Promise((resolve, reject) => {
    const worker = new Worker(trafficThreadBoot(), { eval: true, workerData: data });
    const abort = () => worker.postMessage('abort');
    signal?.addEventListener('abort', abort, { once: true });
    let settled = false;
    const finish = (error: Error | undefined, report?: TrafficReport) => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener('abort', abort);
      void worker.terminate();
      if (error) reject(error);
      else resolve(report!);
    };
    worker.on('message', (m: { report?: TrafficReport; error?: string }) => {
      if (m.report) finish(undefined, m.report);
      else if (m.error !== undefined) finish(new Error(m.error));
    });
    worker.once('error', (error) => finish(error));
    worker.once('exit', (code) => finish(new Error(`traffic thread exited (code ${code}) without a report`)));
    if (signal?.aborted) abort();
  });
}

/** `30s`, `2m`, `500ms`, or a bare number of seconds. */
export function parseDurationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`traffic: bad duration '${text}' (use e.g. 30s, 2m, 500ms)`);
  const n = Number(m[1]);
  return n * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
}

export function formatReport(r: TrafficReport): string {
  const d = r.detection;
  return [
    `sent ${r.sent} to ${r.url} in ${(r.durationMs / 1000).toFixed(1)} s (target ${r.targetRate}/s): ${r.ok} ok, ${r.errors} errors (${(r.errorRate * 100).toFixed(1)}%), ${r.skipped} skipped`,
    `throughput ${r.throughput}/s; latency ms p50 ${r.latencyMs.p50}, p95 ${r.latencyMs.p95}, p99 ${r.latencyMs.p99}, max ${r.latencyMs.max}`,
    ...(r.tracedLatencyMs && r.untracedLatencyMs
      ? [
          `traced orders: p50 ${r.tracedLatencyMs.p50}, p99 ${r.tracedLatencyMs.p99}; untraced: p50 ${r.untracedLatencyMs.p50}, p99 ${r.untracedLatencyMs.p99}`,
        ]
      : []),
    ...(r.degraded
      ? [`degraded: ${r.degraded} answers lacked a signal ${JSON.stringify(r.degradedBySignal)}`]
      : []),
    `decisions: ${r.decisions.accept} accept, ${r.decisions.review} review, ${r.decisions.reject} reject`,
    `detection (${d.fraud} fraud, ${d.legit} legit): precision ${d.precision}, recall ${d.recall}, AUC ${d.auc}`,
    ...(Object.keys(r.errorsByStatus).length
      ? [`errors by status: ${JSON.stringify(r.errorsByStatus)}`]
      : []),
  ].join('\n');
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      url: { type: 'string', default: 'http://127.0.0.1:8080' },
      rate: { type: 'string', default: '50' },
      duration: { type: 'string', default: '30s' },
      count: { type: 'string' },
      concurrency: { type: 'string' },
      seed: { type: 'string' },
      history: { type: 'string' },
      'trace-every': { type: 'string' },
      json: { type: 'boolean', default: false },
    },
  });
  const controller = new AbortController();
  process.once('SIGINT', () => controller.abort());
  const report = await runTraffic({
    url: values.url,
    rate: Number(values.rate),
    durationMs: parseDurationMs(values.duration),
    ...(values.count ? { count: Number(values.count) } : {}),
    ...(values.concurrency ? { concurrency: Number(values.concurrency) } : {}),
    ...(values.seed ? { seed: Number(values.seed) } : {}),
    ...(values.history ? { historyOrders: Number(values.history) } : {}),
    ...(values['trace-every'] ? { traceEvery: Number(values['trace-every']) } : {}),
    signal: controller.signal,
  });
  console.log(values.json ? JSON.stringify(report, null, 2) : formatReport(report));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  main().catch((error: unknown) => {
    console.error((error as Error).message);
    process.exit(1);
  });
}

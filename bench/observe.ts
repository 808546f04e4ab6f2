/**
 * Observability backend throughput, on one core (the receiver's event loop; SQLite is synchronous):
 *
 *   otlp    spans/s through `POST /v1/traces` (fastify inject: routing, decoding, normalising, the
 *           trace store and the RED metrics), realistic protobuf exports of 512 spans
 *   logs    lines/s from replica output (pino JSON, ECS, plain text) to the log store, redaction on
 *   search  latency over 1,000,000 stored lines of typical queries, with the time bound the CLI
 *           sends (p50/p99 per query and overall), and of the worst case apart (no bound, no match)
 *   preload startup time, CPU and memory that the tracing preload adds to a Node process
 *
 *   node --import tsx bench/observe.ts [--lines 1000000] [--spans 102400]
 *
 * Goals (issue 5): OTLP >= 20,000 spans/s, logs >= 50,000 lines/s, search p99 <= 200 ms. Wall-clock
 * rates are reported with CPU-time rates beside them: on a busy machine the second is the steadier.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import Fastify from 'fastify';
import {
  LogStore,
  Observability,
  logInputFromLine,
  otlpTypes,
  preloadEnvironment,
} from '../src/observe/index.ts';
import type { LogLine } from '../src/logs/index.ts';
import { registerObserveRoutes } from '../src/server/routes/observe.ts';
import { median, percentile, round, writeResult } from './lib.ts';

export interface ObserveBenchOptions {
  /** Lines stored before searching. @default 1,000,000 */
  lines?: number;
  /** Spans posted over OTLP. @default 102,400 (200 exports of 512) */
  spans?: number;
  /** Runs of each search query. @default 30 */
  searchRuns?: number;
  log?: (line: string) => void;
  /** Where the results file goes. @default bench/results/ */
  resultsDir?: string;
}

export interface ObserveBenchResult {
  otlp: { spans: number; wallMs: number; cpuMs: number; spansPerSecond: number; spansPerCpuSecond: number };
  logs: {
    lines: number;
    wallMs: number;
    cpuMs: number;
    linesPerSecond: number;
    linesPerCpuSecond: number;
    bytes: number;
  };
  search: {
    lines: number;
    /** Typical queries (with a time bound, as the CLI sends them): p50 and p99 over all their runs. */
    queries: SearchRow[];
    p50Ms: number;
    p99Ms: number;
    /** The worst case: no time bound, no match (every line of a service read). */
    unbounded: SearchRow[];
  };
  preload: {
    runs: number;
    baseline: ProcessCost;
    preloaded: ProcessCost;
    addedStartupMs: number;
    addedCpuMs: number;
    addedRssMb: number;
  };
  goals: { otlpSpansPerSecond: 20000; logLinesPerSecond: 50000; searchP99Ms: 200 };
  /** 1-minute load average before and after: wall-clock rates mean little on a busy machine. */
  loadAverage: { before: number; after: number };
}

interface SearchRow {
  query: string;
  since?: string;
  results: number;
  p50Ms: number;
  p99Ms: number;
}

interface ProcessCost {
  startupMs: number;
  cpuMs: number;
  rssMb: number;
}

const SERVICES = [
  'gateway',
  'identity',
  'geo',
  'payment',
  'velocity',
  'credit',
  'scoring',
  'decision',
  'audit',
  'notify',
];
const ROUTES = ['/assess', '/v1/verify', '/v1/lookup', '/charge', '/check', '/score', '/decide', '/events'];

function cpuMs(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
}

const kv = (key: string, value: string | number | boolean) => ({
  key,
  value:
    typeof value === 'string'
      ? { stringValue: value }
      : typeof value === 'boolean'
        ? { boolValue: value }
        : Number.isInteger(value)
          ? { intValue: value }
          : { doubleValue: value },
});

/** One export as a replica's BatchSpanProcessor sends it: 512 spans of HTTP and db calls. */
export function makeExport(service: string, replica: number, startNs: bigint, perExport: number): Buffer {
  const spans = [];
  for (let i = 0; i < perExport; i++) {
    const traceId = randomBytes(16);
    const kind = i % 4 === 3 ? 3 : 2; // a server span, then client calls
    const route = ROUTES[i % ROUTES.length] as string;
    const start = startNs + BigInt(i) * 1_000_000n;
    const duration = BigInt(1_000_000 + ((i * 7919) % 50_000_000));
    spans.push({
      traceId,
      spanId: randomBytes(8),
      parentSpanId: kind === 3 ? randomBytes(8) : undefined,
      name: kind === 2 ? `POST ${route}` : i % 8 === 7 ? 'SELECT fraud.events' : 'POST',
      kind,
      startTimeUnixNano: start.toString(),
      endTimeUnixNano: (start + duration).toString(),
      attributes:
        kind === 2
          ? [
              kv('http.request.method', 'POST'),
              kv('url.path', route),
              kv('url.scheme', 'http'),
              kv('http.route', route),
              kv('http.response.status_code', i % 50 === 0 ? 503 : 200),
              kv('server.address', service),
              kv('server.port', 8080),
              kv('client.address', '198.18.0.4'),
              kv('network.protocol.version', '1.1'),
              kv('user_agent.original', 'node'),
            ]
          : i % 8 === 7
            ? [
                kv('db.system', 'postgresql'),
                kv('db.namespace', 'fraud'),
                kv('db.query.text', 'SELECT * FROM events WHERE id = $1'),
                kv('server.address', 'maindb'),
                kv('server.port', 5432),
              ]
            : [
                kv('http.request.method', 'POST'),
                kv('url.full', `http://${SERVICES[(i + 1) % SERVICES.length]}:8080${route}`),
                kv('server.address', SERVICES[(i + 1) % SERVICES.length] as string),
                kv('server.port', 8080),
                kv('http.response.status_code', 200),
              ],
      status: i % 50 === 0 ? { code: 2, message: 'upstream unavailable' } : { code: 0 },
      events:
        i % 50 === 0
          ? [
              {
                timeUnixNano: start.toString(),
                name: 'exception',
                attributes: [kv('exception.type', 'Error'), kv('exception.message', 'ECONNRESET')],
              },
            ]
          : [],
      flags: 257,
    });
  }
  const t = otlpTypes().traceRequest;
  const request = {
    resourceSpans: [
      {
        resource: {
          attributes: [
            kv('service.name', service),
            kv('rampart.environment', 'prod'),
            kv('rampart.namespace', 'default'),
            kv('rampart.replica', String(replica)),
            kv('process.pid', 4242),
            kv('process.runtime.name', 'nodejs'),
            kv('process.runtime.version', '20.20.2'),
            kv('telemetry.sdk.language', 'nodejs'),
            kv('telemetry.sdk.name', 'opentelemetry'),
            kv('telemetry.sdk.version', '2.12.0'),
          ],
        },
        scopeSpans: [{ scope: { name: '@opentelemetry/instrumentation-http', version: '0.223.0' }, spans }],
      },
    ],
  };
  return Buffer.from(t.encode(t.fromObject(request)).finish());
}

async function benchOtlp(
  total: number,
  dir: string,
  log: (l: string) => void,
): Promise<ObserveBenchResult['otlp']> {
  const perExport = 512;
  const exports: Buffer[] = [];
  const startNs = BigInt(Date.now() - 60_000) * 1_000_000n;
  for (let i = 0; i * perExport < total; i++)
    exports.push(
      makeExport(
        SERVICES[i % SERVICES.length] as string,
        i % 2,
        startNs + BigInt(i) * 600_000_000n,
        perExport,
      ),
    );
  log(
    `observe: otlp: ${exports.length} exports of ${perExport} spans (${round(exports[0]!.length / 1024)} KiB each)`,
  );
  const observe = new Observability({ dir: join(dir, 'otlp') });
  const app = Fastify({ logger: false });
  registerObserveRoutes(app, { observe });
  await app.ready();
  // Warm-up (JIT, statement caches): not measured.
  await app.inject({
    method: 'POST',
    url: '/v1/traces',
    headers: { 'content-type': 'application/x-protobuf' },
    payload: makeExport('warmup', 0, startNs, 64),
  });
  const t0 = performance.now();
  const c0 = cpuMs();
  for (const payload of exports) {
    const res = await app.inject({
      method: 'POST',
      url: '/v1/traces',
      headers: { 'content-type': 'application/x-protobuf' },
      payload,
    });
    if (res.statusCode !== 200) throw new Error(`OTLP export answered ${res.statusCode}: ${res.body}`);
  }
  observe.traces.flush(); // the last batch the store was gathering counts too
  const wallMs = performance.now() - t0;
  const cpu = cpuMs() - c0;
  const spans = exports.length * perExport;
  if (observe.traces.count() < spans)
    throw new Error(`only ${observe.traces.count()} of ${spans} spans stored`);
  await app.close();
  await observe.close();
  return {
    spans,
    wallMs: round(wallMs),
    cpuMs: round(cpu),
    spansPerSecond: Math.round(spans / (wallMs / 1000)),
    spansPerCpuSecond: Math.round(spans / (cpu / 1000)),
  };
}

const WORDS = [
  'request',
  'handled',
  'user',
  'order',
  'cache',
  'refreshed',
  'retry',
  'upstream',
  'latency',
  'queue',
  'accepted',
  'card',
  'risk',
  'score',
  'rule',
  'matched',
];

/** Replica output as it comes: pino JSON, ECS (another logger), plain text; ~1% mention a timeout. */
export function makeLines(n: number, endMs: number, offset = 0, total = n): LogLine[] {
  const lines: LogLine[] = [];
  const spanMs = 60 * 60_000; // the last hour
  for (let k = 0; k < n; k++) {
    const i = offset + k;
    const service = SERVICES[i % SERVICES.length] as string;
    const time = endMs - spanMs + Math.floor((i / total) * spanMs);
    const level = i % 97 === 0 ? 50 : i % 13 === 0 ? 40 : 30;
    const words = `${WORDS[i % 16]} ${WORDS[(i * 7) % 16]} ${WORDS[(i * 11) % 16]} ${i}`;
    const timeout = i % 101 === 0 ? ' timeout after 3000 ms' : '';
    const refused = i % 499 === 0 ? ' connection refused' : '';
    const kind = i % 5;
    let message: string;
    if (kind < 3) {
      message = JSON.stringify({
        level,
        time,
        pid: 4242,
        hostname: `${service}-0`,
        trace_id: randomBytes(16).toString('hex'),
        span_id: randomBytes(8).toString('hex'),
        http: { status: i % 50 === 0 ? 503 : 200 },
        msg: `${words}${timeout}${refused}`,
      });
    } else if (kind === 3) {
      message = JSON.stringify({
        '@timestamp': new Date(time).toISOString(),
        'log.level': level >= 50 ? 'error' : 'info',
        message: `${words}${timeout}`,
        'ecs.version': '8.10.0',
      });
    } else {
      message = `${level >= 50 ? 'ERROR' : 'INFO'} ${i % 40 === 0 ? 'GET /healthz 200' : `${words}${timeout}${refused}`}`;
    }
    lines.push({
      time,
      environment: 'prod',
      namespace: 'default',
      service,
      replica: i % 2,
      stream: 'stdout',
      message,
    });
  }
  return lines;
}

async function benchLogs(
  n: number,
  dir: string,
  runs: number,
  log: (l: string) => void,
): Promise<Pick<ObserveBenchResult, 'logs' | 'search'>> {
  const end = Date.now();
  const store = new LogStore({ path: join(dir, 'logs.db') });
  store.redact(['s3cr3t-token-value', 'hunter2-password']);
  store.insert(makeLines(2000, end - 2 * 3_600_000).map(logInputFromLine)); // warm-up
  log(`observe: logs: ingesting ${n} lines`);
  // Lines are made a chunk at a time, outside the measured time, so the heap stays small as in the
  // daemon; each chunk is stored in batches of LogStore.BATCH (what LogStore.add flushes at).
  const chunk = 50_000;
  let wallMs = 0;
  let cpu = 0;
  let traceLine: LogLine | undefined;
  for (let start = 0; start < n; start += chunk) {
    const lines = makeLines(Math.min(chunk, n - start), end, start, n);
    traceLine ??= lines.find((l) => l.message.includes('"trace_id"') && start + lines.indexOf(l) > n / 2);
    const t0 = performance.now();
    const c0 = cpuMs();
    for (let i = 0; i < lines.length; i += LogStore.BATCH)
      store.insert(lines.slice(i, i + LogStore.BATCH).map(logInputFromLine));
    wallMs += performance.now() - t0;
    cpu += cpuMs() - c0;
  }
  const logs = {
    lines: n,
    wallMs: round(wallMs),
    cpuMs: round(cpu),
    linesPerSecond: Math.round(n / (wallMs / 1000)),
    linesPerCpuSecond: Math.round(n / (cpu / 1000)),
    bytes: store.bytes(),
  };
  log(`observe: logs: ${logs.linesPerSecond} lines/s (${logs.linesPerCpuSecond} per CPU second); searching`);
  const someTrace = traceLine ? (JSON.parse(traceLine.message) as { trace_id: string }).trace_id : '';
  // As `rampart logs --query … --since …` sends them; the last, with no time bound and no match,
  // is the worst case (every line of the service read) and is reported apart.
  const typical: { query: string; since?: string }[] = [
    { query: 'service:gateway level:error "timeout"', since: '15m' },
    { query: 'level:error', since: '15m' },
    { query: '"connection refused"', since: '1h' },
    { query: 'service:payment -healthz', since: '15m' },
    { query: `trace:${someTrace}` },
    { query: 'service:scoring http.status:503', since: '15m' },
    { query: 'timeout', since: '5m' },
    { query: 'level>=warn service:audit "retry"', since: '1h' },
  ];
  const worst = [{ query: 'service:scoring http.status:503' }];
  const measure = (q: { query: string; since?: string }) => {
    const since = q.since
      ? end - Number.parseInt(q.since, 10) * (q.since.endsWith('h') ? 3_600_000 : 60_000)
      : undefined;
    store.search({ query: q.query, since, limit: 100 }); // warm-up
    const times: number[] = [];
    let count = 0;
    for (let r = 0; r < runs; r++) {
      const s = performance.now();
      count = store.search({ query: q.query, since, limit: 100 }).length;
      times.push(performance.now() - s);
    }
    return {
      times,
      row: { ...q, results: count, p50Ms: round(median(times), 2), p99Ms: round(percentile(times, 99), 2) },
    };
  };
  const all: number[] = [];
  const queries = typical.map((q) => {
    const m = measure(q);
    all.push(...m.times);
    return m.row;
  });
  const unbounded = worst.map((q) => measure(q).row);
  store.close();
  return {
    logs,
    search: {
      lines: n,
      queries,
      p50Ms: round(median(all), 2),
      p99Ms: round(percentile(all, 99), 2),
      unbounded,
    },
  };
}

function processCost(env: NodeJS.ProcessEnv): ProcessCost {
  const script =
    'process.stdout.write(JSON.stringify({ up: performance.now(), cpu: process.cpuUsage(), rss: process.memoryUsage().rss }))';
  const r = spawnSync(process.execPath, ['-e', script], { env, encoding: 'utf8' });
  const o = JSON.parse(r.stdout) as { up: number; cpu: { user: number; system: number }; rss: number };
  return { startupMs: o.up, cpuMs: (o.cpu.user + o.cpu.system) / 1000, rssMb: o.rss / 2 ** 20 };
}

function benchPreload(runs: number): ObserveBenchResult['preload'] {
  const base = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  const traced = {
    ...base,
    ...preloadEnvironment({
      endpoint: 'http://127.0.0.1:9', // nothing is exported by an idle process
      service: 'bench',
      environment: 'bench',
      namespace: 'default',
      replica: 0,
    }),
  };
  const a: ProcessCost[] = [];
  const b: ProcessCost[] = [];
  for (let i = 0; i < runs; i++) {
    a.push(processCost(base));
    b.push(processCost(traced));
  }
  const med = (xs: ProcessCost[]): ProcessCost => ({
    startupMs: round(median(xs.map((x) => x.startupMs))),
    cpuMs: round(median(xs.map((x) => x.cpuMs))),
    rssMb: round(median(xs.map((x) => x.rssMb))),
  });
  const baseline = med(a);
  const preloaded = med(b);
  return {
    runs,
    baseline,
    preloaded,
    addedStartupMs: round(preloaded.startupMs - baseline.startupMs),
    addedCpuMs: round(preloaded.cpuMs - baseline.cpuMs),
    addedRssMb: round(preloaded.rssMb - baseline.rssMb),
  };
}

export async function runObserveBench(opts: ObserveBenchOptions = {}): Promise<ObserveBenchResult> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const dir = mkdtempSync(join(tmpdir(), 'rampart-bench-observe-'));
  const loadBefore = round(loadavg()[0] ?? 0, 2);
  try {
    const otlp = await benchOtlp(opts.spans ?? 102_400, dir, log);
    log(`observe: otlp: ${otlp.spansPerSecond} spans/s (${otlp.spansPerCpuSecond} per CPU second)`);
    const { logs, search } = await benchLogs(opts.lines ?? 1_000_000, dir, opts.searchRuns ?? 30, log);
    log(`observe: search over ${search.lines} lines: p50 ${search.p50Ms} ms, p99 ${search.p99Ms} ms`);
    const preload = benchPreload(5);
    log(
      `observe: preload adds ${preload.addedStartupMs} ms startup, ${preload.addedCpuMs} ms CPU, ${preload.addedRssMb} MB`,
    );
    const result: ObserveBenchResult = {
      otlp,
      logs,
      search,
      preload,
      goals: { otlpSpansPerSecond: 20000, logLinesPerSecond: 50000, searchP99Ms: 200 },
      loadAverage: { before: loadBefore, after: round(loadavg()[0] ?? 0, 2) },
    };
    await writeResult('observe', result, opts.resultsDir);
    return result;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  const arg = (name: string) => {
    const i = process.argv.indexOf(`--${name}`);
    return i > 0 ? Number(process.argv[i + 1]) : undefined;
  };
  const r = await runObserveBench({ lines: arg('lines'), spans: arg('spans'), searchRuns: arg('runs') });
  console.log(JSON.stringify(r, null, 2));
}

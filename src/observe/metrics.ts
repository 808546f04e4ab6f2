import { systemClock, type Clock } from '../platform/clock.ts';
import { LatencyHistogram } from './histogram.ts';
import { peerOf, type AddressResolver, type CallSpan, type Red } from './service-map.ts';
import { METRICS_SCHEMA, prepareMetricsStatements } from './metrics-sql.ts';
import { openDb, type Db } from './sqlite.ts';
import { nsToMs } from './traces.ts';
import type { MetricPoint, SpanRecord } from './types.ts';

const FINE_MS = 10_000;
const COARSE_MS = 60_000;

export interface MetricsRetention {
  /** 10-second buckets. @default 1 day */
  fineMs?: number;
  /** 1-minute rollups. @default 30 days */
  coarseMs?: number;
}

export interface MetricsStoreOptions {
  path: string;
  clock?: Clock;
  retention?: MetricsRetention;
  /**
   * How long a client span waits for the server span of its callee (they come from different
   * processes, in either order) before it counts as a call to its peer address. @default 15 s
   */
  pairWindowMs?: number;
  /** Pending spans kept for pairing at most; beyond, the oldest are settled early. @default 200,000 */
  maxPending?: number;
  resolveAddress?: AddressResolver;
}

export interface ReplicaUsageSample {
  /** e.g. `prod/default/api/0` */
  replica: string;
  time: number;
  cpuPercent: number;
  memoryBytes: number;
}

export interface SeriesPoint extends Red {
  time: number;
}

export interface ReplicaPoint {
  time: number;
  cpuPercent: number;
  cpuMaxPercent: number;
  memoryBytes: number;
  memoryMaxBytes: number;
}

export type Resolution = '10s' | '1m';

interface Bucket {
  kind: 'service' | 'edge';
  key: string;
  start: number;
  count: number;
  errors: number;
  hist: LatencyHistogram;
}

interface PendingClient {
  span: CallSpan;
  startMs: number;
  seenAt: number;
}

interface PendingServer {
  service: string;
  error: boolean;
  seenAt: number;
}

const isCaller = (k: string) => k === 'client' || k === 'producer';
const isCallee = (k: string) => k === 'server' || k === 'consumer';

/**
 * RED metrics per service (from its SERVER/CONSUMER spans) and per edge (client span paired with
 * the callee's server span, or its peer database/address), and replica CPU and memory, in
 * 10-second buckets with 1-minute rollups kept longer. Buckets stay in memory until the pairing
 * window has passed, then are added to SQLite (both resolutions at once, so a late span is merged,
 * never lost).
 */
export class MetricsStore {
  private readonly db: Db;
  private readonly clock: Clock;
  private readonly fineMs: number;
  private readonly coarseMs: number;
  private readonly pairWindowMs: number;
  private readonly maxPending: number;
  private resolve: AddressResolver | undefined;
  private readonly open = new Map<string, Bucket>();
  private readonly clients = new Map<string, PendingClient>();
  private readonly servers = new Map<string, PendingServer>();
  private readonly stmts: ReturnType<typeof prepareMetricsStatements>;
  /** Spans settled early because the pairing maps were full. */
  evicted = 0;

  constructor(opts: MetricsStoreOptions) {
    this.db = openDb(opts.path);
    this.db.function('hist_merge', (a: unknown, b: unknown) =>
      LatencyHistogram.parse(a as string)
        .merge(LatencyHistogram.parse(b as string))
        .serialize(),
    );
    this.db.exec(METRICS_SCHEMA);
    this.clock = opts.clock ?? systemClock;
    this.fineMs = opts.retention?.fineMs ?? 86_400_000;
    this.coarseMs = opts.retention?.coarseMs ?? 30 * 86_400_000;
    this.pairWindowMs = opts.pairWindowMs ?? 15_000;
    this.maxPending = opts.maxPending ?? 200_000;
    this.resolve = opts.resolveAddress;
    this.stmts = prepareMetricsStatements(this.db);
  }

  setAddressResolver(resolve: AddressResolver | undefined): void {
    this.resolve = resolve;
  }

  private bucket(kind: Bucket['kind'], key: string, startMs: number): Bucket {
    const start = startMs - (startMs % FINE_MS);
    const id = `${kind}\u0000${key}\u0000${start}`;
    let b = this.open.get(id);
    if (!b) {
      b = { kind, key, start, count: 0, errors: 0, hist: new LatencyHistogram() };
      this.open.set(id, b);
    }
    return b;
  }

  private count(
    kind: Bucket['kind'],
    key: string,
    startMs: number,
    durationNs: number,
    error: boolean,
    weight: number,
  ): void {
    const b = this.bucket(kind, key, startMs);
    b.count += weight;
    if (error) b.errors += weight;
    b.hist.add(durationNs, weight);
  }

  private edge(client: PendingClient, to: string, error: boolean): void {
    const s = client.span;
    this.count('edge', `${s.service}->${to}`, client.startMs, s.durationNs, error, s.weight ?? 1);
  }

  recordSpans(spans: readonly SpanRecord[]): void {
    const now = this.clock.now();
    for (const s of spans) {
      const startMs = nsToMs(s.startTimeUnixNano);
      const error = s.status === 'error';
      if (isCallee(s.kind)) {
        this.count('service', s.service, startMs, s.durationNs, error, s.weight ?? 1);
        if (!s.parentSpanId) continue;
        const k = `${s.traceId}/${s.parentSpanId}`;
        const client = this.clients.get(k);
        if (client) {
          this.clients.delete(k);
          this.edge(client, s.service, error || client.span.status === 'error');
        } else this.servers.set(k, { service: s.service, error, seenAt: now });
      } else if (isCaller(s.kind)) {
        const k = `${s.traceId}/${s.spanId}`;
        const server = this.servers.get(k);
        const client = { span: s, startMs, seenAt: now };
        if (server) {
          this.servers.delete(k);
          this.edge(client, server.service, error || server.error);
        } else this.clients.set(k, client);
      }
    }
    this.evict(this.clients.size + this.servers.size - this.maxPending);
  }

  private settleClient(c: PendingClient): void {
    this.edge(c, peerOf(c.span, this.resolve).name, c.span.status === 'error');
  }

  private evict(excess: number): void {
    for (const [k, c] of this.clients) {
      if (excess <= 0) return;
      this.clients.delete(k);
      this.settleClient(c);
      this.evicted++;
      excess--;
    }
    for (const k of this.servers.keys()) {
      if (excess <= 0) return;
      this.servers.delete(k);
      excess--;
    }
  }

  recordReplicaUsage(samples: readonly ReplicaUsageSample[]): void {
    this.db.transaction(() => {
      for (const s of samples) {
        for (const res of [FINE_MS, COARSE_MS]) {
          this.stmts.usage.run(
            res,
            s.replica,
            s.time - (s.time % res),
            s.cpuPercent,
            s.cpuPercent,
            s.memoryBytes,
            s.memoryBytes,
          );
        }
      }
    })();
  }

  recordPoints(points: readonly MetricPoint[]): void {
    this.db.transaction(() => {
      for (const p of points) {
        this.stmts.point.run(
          p.time,
          p.service,
          p.name,
          p.unit,
          p.type,
          p.value,
          p.count,
          JSON.stringify(p.attributes),
        );
      }
    })();
  }

  /**
   * Settles client spans whose callee never answered (calls to databases and outside addresses),
   * writes the buckets the pairing window has closed, and applies the retention. Call it every few
   * seconds.
   */
  flush(now: number = this.clock.now(), opts: { all?: boolean } = {}): void {
    for (const [k, c] of this.clients) {
      if (!opts.all && c.seenAt > now - this.pairWindowMs) break; // insertion order is arrival order
      this.clients.delete(k);
      this.settleClient(c);
    }
    for (const [k, s] of this.servers) {
      if (!opts.all && s.seenAt > now - this.pairWindowMs) break;
      this.servers.delete(k);
    }
    const closedBefore = opts.all ? Infinity : now - this.pairWindowMs - FINE_MS;
    this.db.transaction(() => {
      for (const [id, b] of this.open) {
        if (b.start + FINE_MS > closedBefore) continue;
        this.open.delete(id);
        const hist = b.hist.serialize();
        this.stmts.red.run(FINE_MS, b.kind, b.key, b.start, b.count, b.errors, hist);
        this.stmts.red.run(
          COARSE_MS,
          b.kind,
          b.key,
          b.start - (b.start % COARSE_MS),
          b.count,
          b.errors,
          hist,
        );
      }
      this.stmts.pruneRed.run(FINE_MS, now - this.fineMs);
      this.stmts.pruneRed.run(COARSE_MS, now - this.coarseMs);
      this.stmts.pruneUsage.run(FINE_MS, now - this.fineMs);
      this.stmts.pruneUsage.run(COARSE_MS, now - this.coarseMs);
      this.stmts.prunePoints.run(now - this.fineMs);
    })();
  }

  /** RED over time for one service (`kind: 'service'`) or edge (`key: 'from->to'`). */
  series(q: {
    kind: 'service' | 'edge';
    key: string;
    since: number;
    until: number;
    resolution?: Resolution;
  }): SeriesPoint[] {
    const res = q.resolution === '1m' ? COARSE_MS : FINE_MS;
    const rows = this.stmts.redSeries.all(res, q.kind, q.key, q.since - (q.since % res), q.until) as RedRow[];
    return rows.map((r) => ({
      time: r.start_ms,
      ...redOf(r.count, r.errors, LatencyHistogram.parse(r.hist), res),
    }));
  }

  /** RED per service and per edge (`from->to`) over a time range, from the stored buckets. */
  red(q: { since: number; until: number }): { services: Record<string, Red>; edges: Record<string, Red> } {
    const res = q.until - q.since > this.fineMs ? COARSE_MS : FINE_MS;
    const rows = this.stmts.redRange.all(res, q.since - (q.since % res), q.until) as (RedRow & {
      kind: string;
      key: string;
    })[];
    const acc = new Map<
      string,
      { kind: string; key: string; count: number; errors: number; hist: LatencyHistogram }
    >();
    for (const r of rows) {
      const id = `${r.kind}\u0000${r.key}`;
      const a = acc.get(id) ?? {
        kind: r.kind,
        key: r.key,
        count: 0,
        errors: 0,
        hist: new LatencyHistogram(),
      };
      a.count += r.count;
      a.errors += r.errors;
      a.hist.merge(LatencyHistogram.parse(r.hist));
      acc.set(id, a);
    }
    const out = { services: {} as Record<string, Red>, edges: {} as Record<string, Red> };
    for (const a of acc.values()) {
      (a.kind === 'service' ? out.services : out.edges)[a.key] = redOf(
        a.count,
        a.errors,
        a.hist,
        q.until - q.since,
      );
    }
    return out;
  }

  replicaSeries(q: {
    replica: string;
    since: number;
    until: number;
    resolution?: Resolution;
  }): ReplicaPoint[] {
    const res = q.resolution === '1m' ? COARSE_MS : FINE_MS;
    const rows = this.stmts.usageSeries.all(res, q.replica, q.since - (q.since % res), q.until) as UsageRow[];
    return rows.map((r) => ({
      time: r.start_ms,
      cpuPercent: r.cpu_sum / r.n,
      cpuMaxPercent: r.cpu_max,
      memoryBytes: r.mem_sum / r.n,
      memoryMaxBytes: r.mem_max,
    }));
  }

  /** OTLP metric points of one service and metric name. */
  points(q: { service: string; name: string; since: number; until: number }): MetricPoint[] {
    const rows = this.stmts.pointSeries.all(q.service, q.name, q.since, q.until) as PointRow[];
    return rows.map((r) => ({
      service: r.service,
      name: r.name,
      unit: r.unit,
      type: r.type as MetricPoint['type'],
      time: r.time_ms,
      value: r.value,
      count: r.count,
      attributes: JSON.parse(r.attributes) as MetricPoint['attributes'],
    }));
  }

  /** Writes every open bucket (settling pending spans), then closes the database. */
  close(): void {
    this.flush(this.clock.now(), { all: true });
    this.db.close();
  }
}

interface RedRow {
  start_ms: number;
  count: number;
  errors: number;
  hist: string;
}
interface UsageRow {
  start_ms: number;
  n: number;
  cpu_sum: number;
  cpu_max: number;
  mem_sum: number;
  mem_max: number;
}
interface PointRow {
  time_ms: number;
  service: string;
  name: string;
  unit: string;
  type: string;
  value: number;
  count: number | null;
  attributes: string;
}

function redOf(count: number, errors: number, hist: LatencyHistogram, windowMs: number): Red {
  const ms = (ns: number | null) => (ns === null ? null : Math.round(ns / 1e3) / 1e3);
  // Counts of sampled spans are weighted (adjusted counts), so they need not be whole.
  return {
    requests: Math.round(count * 1000) / 1000,
    errors: Math.round(errors * 1000) / 1000,
    rate: count / (windowMs / 1000),
    errorRate: count === 0 ? 0 : errors / count,
    p50Ms: ms(hist.quantile(0.5)),
    p95Ms: ms(hist.quantile(0.95)),
    p99Ms: ms(hist.quantile(0.99)),
  };
}

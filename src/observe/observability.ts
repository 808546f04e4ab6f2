import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { LogLine } from '../logs/index.ts';
import { systemClock, type Clock } from '../platform/clock.ts';
import { BulkForwarder, OtlpForwarder, type ForwarderStats } from './forward.ts';
import { LogStore, type LogRetention } from './logs.ts';
import { MetricsStore, type MetricsRetention } from './metrics.ts';
import type { NormalisedSpans } from './otlp-normalise.ts';
import { Redactor } from './redact.ts';
import { serviceMap, type AddressResolver, type FlowEdge, type ServiceMap } from './service-map.ts';
import { TraceStore, type TraceRetention } from './traces.ts';
import type { LogInput, MetricPoint } from './types.ts';

export interface ObservabilityOptions {
  /** Directory for traces.db, logs.db and metrics.db (created if missing); omit for in-memory. */
  dir?: string;
  clock?: Clock;
  retention?: {
    /** @default 7 days, 1 GiB */
    traces?: TraceRetention;
    /** @default 7 days, 2 GiB */
    logs?: LogRetention;
    metrics?: MetricsRetention;
  };
  forward?: {
    /** OTLP/HTTP traces URL (the full `…/v1/traces`). */
    otlpUrl?: string;
    otlpHeaders?: Record<string, string>;
    /** Elasticsearch/OpenSearch `_bulk` URL. */
    bulkUrl?: string;
    bulkHeaders?: Record<string, string>;
    /** @default 'rampart-logs' */
    bulkIndex?: string;
    fetch?: typeof fetch;
  };
  /** Names VIPs and replica addresses in the service map and edge metrics. */
  resolveAddress?: AddressResolver;
  /** How often `start()` flushes metrics and applies retention. @default 10 s */
  tickMs?: number;
}

const DAY = 86_400_000;

/**
 * The observability backend in one object: the trace, log and metrics stores, the forwarders, and
 * the wiring between them (every span goes to the trace store, the RED metrics and the OTLP
 * forwarder; every stored log line to the `_bulk` forwarder). The routes and the daemon use this.
 */
export class Observability {
  readonly traces: TraceStore;
  readonly logs: LogStore;
  readonly metrics: MetricsStore;
  readonly spanForwarder: OtlpForwarder | undefined;
  readonly logForwarder: BulkForwarder | undefined;
  private readonly clock: Clock;
  private resolveAddress: AddressResolver | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly tickMs: number;
  /** The retention steps under way (tick), if any. */
  private pruning: Promise<void> | undefined;
  private readonly redactor = new Redactor();

  constructor(opts: ObservabilityOptions = {}) {
    this.clock = opts.clock ?? systemClock;
    if (opts.dir) mkdirSync(opts.dir, { recursive: true, mode: 0o700 });
    const path = (name: string) => (opts.dir ? join(opts.dir, name) : ':memory:');
    this.traces = new TraceStore({
      path: path('traces.db'),
      clock: this.clock,
      retention: opts.retention?.traces ?? { maxAgeMs: 7 * DAY, maxBytes: 1 << 30 },
    });
    this.logs = new LogStore({
      path: path('logs.db'),
      clock: this.clock,
      retention: opts.retention?.logs ?? { maxAgeMs: 7 * DAY, maxBytes: 2 * (1 << 30) },
    });
    this.metrics = new MetricsStore({
      path: path('metrics.db'),
      clock: this.clock,
      retention: opts.retention?.metrics,
      resolveAddress: opts.resolveAddress,
    });
    this.resolveAddress = opts.resolveAddress;
    this.tickMs = opts.tickMs ?? 10_000;
    const f = opts.forward ?? {};
    if (f.otlpUrl) {
      this.spanForwarder = new OtlpForwarder({
        url: f.otlpUrl,
        headers: f.otlpHeaders,
        fetch: f.fetch,
        clock: this.clock,
      });
    }
    if (f.bulkUrl) {
      const forwarder = new BulkForwarder({
        url: f.bulkUrl,
        headers: f.bulkHeaders,
        index: f.bulkIndex,
        fetch: f.fetch,
        clock: this.clock,
      });
      this.logForwarder = forwarder;
      this.logs.onInsert((logs) => forwarder.enqueue(logs));
    }
  }

  /** Values of injected secrets: replaced by `***` in every log line and span stored from now on. */
  redact(values: readonly string[]): void {
    this.logs.redact(values);
    this.traces.redact(values);
    this.redactor.set(values);
  }

  setAddressResolver(resolve: AddressResolver | undefined): void {
    this.resolveAddress = resolve;
    this.metrics.setAddressResolver(resolve);
  }

  /** Stores decoded spans (from `decodeTraces(…, { keepValid: true })` when forwarding). */
  ingestSpans(decoded: NormalisedSpans): void {
    this.traces.add(decoded.spans);
    this.metrics.recordSpans(decoded.spans);
    if (this.spanForwarder && decoded.valid) {
      // Forwarded as received, so redacted here: every string in the OTLP messages.
      if (this.redactor.active) for (const rs of decoded.valid) redactStrings(rs, this.redactor);
      this.spanForwarder.enqueue(decoded.valid);
    }
  }

  /** Stores log records now (one transaction). */
  ingestLogs(records: readonly LogInput[]): void {
    this.logs.insert(records);
  }

  /** Queues a replica's output line (LogJournal.onLine). */
  ingestJournalLine(line: LogLine): void {
    this.logs.ingestLine(line);
  }

  ingestMetricPoints(points: readonly MetricPoint[]): void {
    this.metrics.recordPoints(points);
  }

  /** The service map of the last `windowMs` of spans, plus flows (conntrack) when given. */
  serviceMap(q: { windowMs?: number; environment?: string; flows?: readonly FlowEdge[] } = {}): ServiceMap {
    const windowMs = q.windowMs ?? 5 * 60_000;
    const spans = this.traces.mapSpans({ since: this.clock.now() - windowMs, environment: q.environment });
    return serviceMap({ spans, windowMs, flows: q.flows, resolveAddress: this.resolveAddress });
  }

  /**
   * Flushes metric buckets and applies retention. `start()` calls it on an interval. Retention runs
   * in bounded steps (TraceStore.pruneStep, LogStore.pruneStep), the next one after whatever I/O is
   * waiting (setImmediate), so a store at its cap never holds the daemon for more than one step.
   * Resolves when both stores are within their retention.
   */
  tick(now: number = this.clock.now()): Promise<void> {
    this.metrics.flush(now);
    if (this.pruning) return this.pruning;
    const steps = [() => this.traces.pruneStep(now), () => this.logs.pruneStep(now)];
    this.pruning = new Promise<void>((resolve, reject) => {
      const next = (): void => {
        try {
          for (let i = steps.length - 1; i >= 0; i--) if (!steps[i]!().more) steps.splice(i, 1);
        } catch (error) {
          this.pruning = undefined;
          reject(error as Error);
          return;
        }
        if (steps.length > 0) setImmediate(next);
        else {
          this.pruning = undefined;
          resolve();
        }
      };
      next();
    });
    return this.pruning;
  }

  /** Starts the periodic tick and the forwarders. */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.tick(), this.tickMs);
    this.timer.unref();
    this.spanForwarder?.start();
    this.logForwarder?.start();
  }

  forwarding(): { spans: ForwarderStats | null; logs: ForwarderStats | null } {
    return { spans: this.spanForwarder?.stats() ?? null, logs: this.logForwarder?.stats() ?? null };
  }

  /** Stops the timer, sends what the forwarders hold, closes the databases. */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    // Steps of a tick under way would run on closed databases.
    await this.pruning?.catch(() => undefined);
    this.logs.flush();
    await Promise.all([this.spanForwarder?.close(), this.logForwarder?.close()]);
    this.traces.close();
    this.logs.close();
    this.metrics.close();
  }
}

/** Replaces secrets in every string of a protobufjs message tree, in place (bytes and longs skipped). */
function redactStrings(value: unknown, redactor: Redactor): void {
  if (Array.isArray(value)) {
    value.forEach((v, i) => {
      if (typeof v === 'string') value[i] = redactor.apply(v);
      else redactStrings(v, redactor);
    });
    return;
  }
  if (!value || typeof value !== 'object' || value instanceof Uint8Array || 'low' in value) return;
  const obj = value as Record<string, unknown>;
  for (const k of Object.keys(obj)) {
    const v = obj[k];
    if (typeof v === 'string') obj[k] = redactor.apply(v);
    else redactStrings(v, redactor);
  }
}

/**
 * Optional forwarding, for scale or an existing tool: spans to any OTLP/HTTP endpoint (an APM such as
 * Jaeger or Instana, a collector), log lines to an Elasticsearch or OpenSearch `_bulk` URL. Batched,
 * with retry and exponential backoff on the failures the protocols call transient, and a bounded
 * queue: when the far end cannot keep up, new items are dropped and counted, never buffered without
 * limit.
 */
import { systemClock, type Clock } from '../platform/clock.ts';
import { encodeTraceRequest } from './otlp.ts';
import type { PbResourceSpans } from './otlp-normalise.ts';
import type { StoredLog } from './types.ts';

export interface ForwarderOptions {
  url: string;
  headers?: Record<string, string>;
  /** Items per request (spans, or log lines). @default 512 */
  maxBatch?: number;
  /** @default 1000 */
  flushIntervalMs?: number;
  /** Items waiting at most; beyond, new ones are dropped (and counted). @default 20,000 */
  maxQueue?: number;
  /** Tries per batch before it is dropped. @default 5 */
  maxAttempts?: number;
  /** @default 500 */
  initialBackoffMs?: number;
  /** @default 30,000 */
  maxBackoffMs?: number;
  /** @default 10,000 */
  timeoutMs?: number;
  fetch?: typeof fetch;
  clock?: Clock;
}

export interface ForwarderStats {
  queued: number;
  sent: number;
  dropped: number;
  failed: number;
  retries: number;
  lastError: string | null;
}

/** The outcome of one request: items to try again (transient failures) and items lost for good. */
interface SendResult {
  retry: number[];
  failed: number;
  error?: string;
  retryAfterMs?: number;
}

// OTLP/HTTP "Failures": 429, 502, 503 and 504 are retryable; Elasticsearch answers 429 when busy.
const RETRYABLE = new Set([408, 429, 502, 503, 504]);

function retryAfter(res: Response): number | undefined {
  const v = res.headers.get('retry-after');
  const s = v ? Number(v) : NaN;
  return Number.isFinite(s) && s >= 0 ? s * 1000 : undefined;
}

abstract class BatchForwarder<T> {
  protected readonly opts: Required<Omit<ForwarderOptions, 'headers' | 'fetch' | 'clock'>> & {
    headers: Record<string, string>;
    fetch: typeof fetch;
    clock: Clock;
  };
  private queue: T[] = [];
  private queuedWeight = 0;
  private draining: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private closed = false;
  private readonly counters: ForwarderStats = {
    queued: 0,
    sent: 0,
    dropped: 0,
    failed: 0,
    retries: 0,
    lastError: null,
  };

  constructor(opts: ForwarderOptions) {
    this.opts = {
      url: opts.url,
      headers: opts.headers ?? {},
      maxBatch: opts.maxBatch ?? 512,
      flushIntervalMs: opts.flushIntervalMs ?? 1000,
      maxQueue: opts.maxQueue ?? 20_000,
      maxAttempts: opts.maxAttempts ?? 5,
      initialBackoffMs: opts.initialBackoffMs ?? 500,
      maxBackoffMs: opts.maxBackoffMs ?? 30_000,
      timeoutMs: opts.timeoutMs ?? 10_000,
      fetch: opts.fetch ?? fetch,
      clock: opts.clock ?? systemClock,
    };
  }

  /** How many items one element counts for (spans in a ResourceSpans group). */
  protected weight(_item: T): number {
    return 1;
  }

  protected abstract send(batch: T[]): Promise<SendResult>;

  /** Starts the periodic flush. */
  start(): void {
    if (this.timer || this.closed) return;
    this.timer = setInterval(() => void this.flush(), this.opts.flushIntervalMs);
    this.timer.unref();
  }

  enqueue(items: readonly T[]): void {
    for (const item of items) {
      const w = this.weight(item);
      if (this.closed || this.queuedWeight + w > this.opts.maxQueue) {
        this.counters.dropped += w;
        continue;
      }
      this.queue.push(item);
      this.queuedWeight += w;
    }
    if (this.queuedWeight >= this.opts.maxBatch) void this.flush();
  }

  /** Sends everything queued (retrying as configured); resolves when done. */
  flush(): Promise<void> {
    this.draining ??= this.drain().finally(() => (this.draining = undefined));
    return this.draining;
  }

  private takeBatch(): T[] {
    const batch: T[] = [];
    let w = 0;
    while (
      this.queue.length > 0 &&
      (batch.length === 0 || w + this.weight(this.queue[0] as T) <= this.opts.maxBatch)
    ) {
      const item = this.queue.shift() as T;
      w += this.weight(item);
      batch.push(item);
    }
    this.queuedWeight -= w;
    return batch;
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      let batch = this.takeBatch();
      for (let attempt = 1; batch.length > 0; attempt++) {
        const total = batch.reduce((n, item) => n + this.weight(item), 0);
        let result: SendResult;
        try {
          result = await this.send(batch);
        } catch (e) {
          result = { retry: batch.map((_, i) => i), failed: 0, error: (e as Error).message };
        }
        const retry = result.retry.map((i) => batch[i] as T);
        const retryWeight = retry.reduce((n, item) => n + this.weight(item), 0);
        this.counters.sent += total - retryWeight - result.failed;
        this.counters.failed += result.failed;
        if (result.error) this.counters.lastError = result.error;
        if (retry.length === 0) break;
        if (attempt >= this.opts.maxAttempts || this.closed) {
          this.counters.failed += retryWeight;
          break;
        }
        this.counters.retries++;
        const backoff = Math.min(this.opts.maxBackoffMs, this.opts.initialBackoffMs * 2 ** (attempt - 1));
        // Full jitter keeps many replicas of a forwarder from retrying in step.
        await this.opts.clock.sleep(result.retryAfterMs ?? backoff / 2 + Math.random() * (backoff / 2));
        batch = retry;
      }
    }
  }

  stats(): ForwarderStats {
    return { ...this.counters, queued: this.queuedWeight };
  }

  /** Stops the timer and sends what is queued (one attempt left per batch). */
  async close(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    this.closed = true;
    await this.flush();
  }

  protected async post(body: Uint8Array | string, contentType: string): Promise<Response> {
    return this.opts.fetch(this.opts.url, {
      method: 'POST',
      headers: { 'content-type': contentType, ...this.opts.headers },
      body,
      signal: AbortSignal.timeout(this.opts.timeoutMs),
    });
  }
}

/** Forwards the valid spans of each export (still OTLP ResourceSpans) as OTLP/HTTP protobuf. */
export class OtlpForwarder extends BatchForwarder<PbResourceSpans> {
  protected override weight(rs: PbResourceSpans): number {
    return (rs.scopeSpans ?? []).reduce((n, ss) => n + (ss.spans?.length ?? 0), 0);
  }

  protected async send(batch: PbResourceSpans[]): Promise<SendResult> {
    const res = await this.post(encodeTraceRequest(batch), 'application/x-protobuf');
    await res.arrayBuffer().catch(() => undefined);
    if (res.ok) return { retry: [], failed: 0 };
    const all = batch.map((_, i) => i);
    const error = `${this.opts.url}: HTTP ${res.status}`;
    if (RETRYABLE.has(res.status)) return { retry: all, failed: 0, error, retryAfterMs: retryAfter(res) };
    return { retry: [], failed: batch.reduce((n, rs) => n + this.weight(rs), 0), error };
  }
}

/** Forwards stored log lines to an Elasticsearch/OpenSearch `_bulk` URL as ECS-shaped documents. */
export class BulkForwarder extends BatchForwarder<StoredLog> {
  private readonly index: string;

  constructor(opts: ForwarderOptions & { /** @default 'rampart-logs' */ index?: string }) {
    super({ maxBatch: 1000, ...opts });
    this.index = opts.index ?? 'rampart-logs';
  }

  /** The document for one line (ECS field names, so Kibana's log views understand it). */
  static document(log: StoredLog): Record<string, unknown> {
    const doc: Record<string, unknown> = {
      '@timestamp': new Date(log.time).toISOString(),
      message: log.message,
      service: { name: log.service, ...(log.environment ? { environment: log.environment } : {}) },
      rampart: { namespace: log.namespace, replica: log.replica, stream: log.stream },
    };
    if (log.level) doc.log = { level: log.level };
    if (log.traceId) doc.trace = { id: log.traceId };
    if (log.spanId) doc.span = { id: log.spanId };
    if (Object.keys(log.attributes).length > 0) doc.attributes = log.attributes;
    return doc;
  }

  protected async send(batch: StoredLog[]): Promise<SendResult> {
    // `create`: the only op data streams accept, and what shippers send.
    const action = JSON.stringify({ create: { _index: this.index } });
    const body = batch.map((l) => `${action}\n${JSON.stringify(BulkForwarder.document(l))}\n`).join('');
    const res = await this.post(body, 'application/x-ndjson');
    const all = batch.map((_, i) => i);
    if (!res.ok) {
      await res.arrayBuffer().catch(() => undefined);
      const error = `${this.opts.url}: HTTP ${res.status}`;
      if (RETRYABLE.has(res.status)) return { retry: all, failed: 0, error, retryAfterMs: retryAfter(res) };
      return { retry: [], failed: batch.length, error };
    }
    const answer = (await res.json().catch(() => ({}))) as {
      errors?: boolean;
      items?: Record<string, { status?: number; error?: { reason?: string } }>[];
    };
    if (!answer.errors) return { retry: [], failed: 0 };
    const retry: number[] = [];
    let failed = 0;
    let error: string | undefined;
    (answer.items ?? []).forEach((item, i) => {
      const r = Object.values(item)[0];
      if (!r || (r.status ?? 200) < 300) return;
      if (r.status === 429) retry.push(i);
      else {
        failed++;
        error = `${this.opts.url}: item ${i}: ${r.error?.reason ?? `status ${r.status}`}`;
      }
    });
    return { retry, failed, error };
  }
}

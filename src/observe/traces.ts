import { systemClock, type Clock } from '../platform/clock.ts';
import { RampartError } from '../platform/errors.ts';
import { Redactor } from './redact.ts';
import { PEER_ATTRIBUTES, type CallSpan } from './service-map.ts';
import { openDb, pruneAll, rowsOverRetention, usedBytes, type Db, type PruneStep } from './sqlite.ts';
import type { Attributes, SpanKindName, SpanRecord, SpanStatus } from './types.ts';

export interface TraceRetention {
  /** Spans that started longer ago are deleted. */
  maxAgeMs?: number;
  /** Beyond this many spans, the oldest are deleted. */
  maxSpans?: number;
  /** Beyond this many bytes of database, the oldest spans are deleted. */
  maxBytes?: number;
}

export interface TraceStoreOptions {
  /** A file under the state directory, or `:memory:`. */
  path: string;
  retention?: TraceRetention;
  clock?: Clock;
}

export interface TraceQuery {
  service?: string;
  operation?: string;
  environment?: string;
  /** Traces with a matching span at least this long. */
  minDurationMs?: number;
  /** Only traces with a matching span in error. */
  error?: boolean;
  /** Milliseconds since the epoch (span start). */
  since?: number;
  until?: number;
  /** @default 20 */
  limit?: number;
}

export interface TraceSummary {
  traceId: string;
  rootService: string;
  rootOperation: string;
  startTimeUnixNano: string;
  durationNs: number;
  spanCount: number;
  errorCount: number;
  services: string[];
}

const KINDS: readonly SpanKindName[] = [
  'unspecified',
  'internal',
  'server',
  'client',
  'producer',
  'consumer',
];
const STATUSES: readonly SpanStatus[] = ['unset', 'ok', 'error'];
const ERROR = 2;
const TRACE_ID = /^[0-9a-f]{32}$/;

const SCHEMA = `
CREATE TABLE IF NOT EXISTS resources (id INTEGER PRIMARY KEY, json TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS spans (
  id INTEGER PRIMARY KEY,
  trace_key INTEGER NOT NULL,
  trace_id TEXT NOT NULL,
  span_id TEXT NOT NULL,
  parent_span_id TEXT,
  service TEXT NOT NULL,
  operation TEXT NOT NULL,
  kind INTEGER NOT NULL,
  start_ns TEXT NOT NULL,
  start_ms INTEGER NOT NULL,
  duration_ns INTEGER NOT NULL,
  status INTEGER NOT NULL,
  status_message TEXT NOT NULL,
  attributes TEXT NOT NULL,
  events INTEGER NOT NULL,
  resource_id INTEGER NOT NULL,
  environment TEXT,
  replica TEXT,
  -- Adjusted count of a sampled span (1/probability); NULL: 1.
  weight REAL
);
-- Trace ids are random: a B-tree on 32-character text keys costs most of an insert. An integer of
-- their first 52 bits is a third of the size; the exact id is checked on the rows it finds.
CREATE INDEX IF NOT EXISTS spans_trace ON spans(trace_key);
CREATE INDEX IF NOT EXISTS spans_start ON spans(start_ms);
CREATE INDEX IF NOT EXISTS spans_service ON spans(service, start_ms);
CREATE INDEX IF NOT EXISTS spans_error ON spans(start_ms) WHERE status = 2;
`;

interface SpanRow {
  trace_id: string;
  span_id: string;
  parent_span_id: string | null;
  service: string;
  operation: string;
  kind: number;
  start_ns: string;
  duration_ns: number;
  status: number;
  status_message: string;
  attributes: string;
  events: number;
  resource: string | null;
  environment: string | null;
  replica: string | null;
  weight: number | null;
}

function traceKey(traceId: string): number {
  return parseInt(traceId.slice(0, 13), 16);
}

/**
 * One row per span id: an exporter retrying an export whose answer it lost, or the preload's send
 * at exit racing an export in flight, stores a span twice; reads keep the first.
 */
function unique<T extends { span_id: string }>(rows: T[]): T[] {
  const seen = new Set<string>();
  return rows.filter((r) => !seen.has(r.span_id) && seen.add(r.span_id));
}

/** Milliseconds of a nanosecond decimal string, exactly (floor). */
export function nsToMs(ns: string): number {
  return ns.length > 6 ? Number(ns.slice(0, -6)) : 0;
}

/** Spans in SQLite: batched inserts, queries (a span stored twice reads once), retention. */
export class TraceStore {
  /** Spans per transaction when they arrive faster than the 50 ms `add` gathers them for. */
  static readonly BATCH = 10_000;
  /** Spans one retention step deletes at most: 25-60 ms of the daemon's thread here (pruneStep). */
  static readonly PRUNE_STEP = 5_000;

  private readonly db: Db;
  private readonly clock: Clock;
  private readonly retention: TraceRetention;
  private readonly resourceIds = new WeakMap<object, number>();
  private readonly resourceIdByJson = new Map<string, number>();
  private readonly redactor = new Redactor();
  private pending: SpanRecord[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private spanCount: number;
  private readonly stmts: ReturnType<typeof prepare>;
  private readonly insertTx: (spans: readonly SpanRecord[]) => number;

  constructor(opts: TraceStoreOptions) {
    this.db = openDb(opts.path);
    this.db.exec(SCHEMA);
    // Stores made before spans had a weight.
    const columns = this.db.prepare('PRAGMA table_info(spans)').all() as { name: string }[];
    if (!columns.some((c) => c.name === 'weight')) this.db.exec('ALTER TABLE spans ADD COLUMN weight REAL');
    this.clock = opts.clock ?? systemClock;
    this.retention = opts.retention ?? {};
    this.stmts = prepare(this.db);
    this.spanCount = this.stmts.count.get() as number;
    this.insertTx = this.db.transaction((spans: readonly SpanRecord[]) => {
      let added = 0;
      for (const s of spans) {
        let attributes = JSON.stringify(s.attributes);
        // Injected secrets can reach spans too (a connection string in a db statement, a URL).
        if (this.redactor.test(attributes))
          attributes = JSON.stringify(this.redactor.applyDeep(s.attributes));
        const r = this.stmts.insert.run(
          traceKey(s.traceId),
          s.traceId,
          s.spanId,
          s.parentSpanId,
          s.service,
          this.redactor.apply(s.operation),
          KINDS.indexOf(s.kind),
          s.startTimeUnixNano,
          nsToMs(s.startTimeUnixNano),
          s.durationNs,
          STATUSES.indexOf(s.status),
          this.redactor.apply(s.statusMessage),
          attributes,
          s.events,
          this.resourceId(s.resource),
          s.environment,
          s.replica,
          s.weight ?? null,
        );
        added += r.changes;
      }
      this.spanCount += added;
      return added;
    });
  }

  /** Sets the secret values replaced by `***` in spans stored from now on. */
  redact(values: readonly string[]): void {
    this.redactor.set(values);
  }

  /**
   * Queues spans; they are stored within 50 ms, or at once when TraceStore.BATCH are waiting. One
   * transaction per export (512 spans) costs a third more per span than one per 10,000: every
   * commit writes the dirty pages of the random trace-id index again. Reads flush first.
   */
  add(spans: readonly SpanRecord[]): void {
    for (const s of spans) this.pending.push(s);
    if (this.pending.length >= TraceStore.BATCH) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), 50);
  }

  /** Stores what `add` queued. */
  flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.insertTx(batch);
  }

  /** Stores spans now, in one transaction; returns how many. */
  insert(spans: readonly SpanRecord[]): number {
    this.flush();
    return spans.length === 0 ? 0 : this.insertTx(spans);
  }

  // Spans of one export share one resource object: intern it once per object, not per span.
  // Replicas send one resource many times (the preload encodes spans in small groups): known
  // resources skip the two statements.
  private resourceId(resource: Attributes): number {
    const cached = this.resourceIds.get(resource);
    if (cached !== undefined) return cached;
    const json = JSON.stringify(resource);
    let id = this.resourceIdByJson.get(json);
    if (id === undefined) {
      this.stmts.resourceInsert.run(json);
      id = this.stmts.resourceId.get(json) as number;
      if (this.resourceIdByJson.size >= 4096) this.resourceIdByJson.clear();
      this.resourceIdByJson.set(json, id);
    }
    this.resourceIds.set(resource, id);
    return id;
  }

  /** Every span of a trace, by start time; empty when none is stored. */
  getTrace(traceId: string): SpanRecord[] {
    this.flush();
    const id = traceId.toLowerCase();
    if (!TRACE_ID.test(id)) {
      throw new RampartError(
        'RAMPART_E_BAD_REQUEST',
        `trace id must be 32 hex characters, got ${JSON.stringify(traceId)}`,
      );
    }
    const rows = unique(this.stmts.trace.all(traceKey(id), id) as SpanRow[]);
    return rows.map(rowToSpan).sort((a, b) => compareNs(a.startTimeUnixNano, b.startTimeUnixNano));
  }

  /** The newest traces with a span matching the query. */
  listTraces(q: TraceQuery = {}): TraceSummary[] {
    this.flush();
    const { where, params } = spanFilter(q);
    const sql = `SELECT trace_id FROM spans ${where} ORDER BY start_ms DESC`;
    const limit = q.limit ?? 20;
    const ids: string[] = [];
    const seen = new Set<string>();
    for (const id of this.db
      .prepare(sql)
      .pluck()
      .iterate(...params) as IterableIterator<string>) {
      if (seen.has(id)) continue;
      seen.add(id);
      ids.push(id);
      if (ids.length >= limit) break; // leaving the loop ends the iterator (and the statement)
    }
    return ids.map((id) => this.summarise(id));
  }

  private summarise(traceId: string): TraceSummary {
    const rows = unique(this.stmts.summary.all(traceKey(traceId), traceId) as SpanRow[]);
    const ids = new Set(rows.map((r) => r.span_id));
    let start: bigint | undefined;
    let end = 0n;
    let root: SpanRow | undefined;
    let errors = 0;
    const services = new Set<string>();
    for (const r of rows) {
      const s = BigInt(r.start_ns);
      if (start === undefined || s < start) start = s;
      const e = s + BigInt(r.duration_ns);
      if (e > end) end = e;
      if (r.status === ERROR) errors++;
      services.add(r.service);
      const isRoot = !r.parent_span_id || !ids.has(r.parent_span_id);
      if (isRoot && (!root || BigInt(root.start_ns) > s)) root = r;
    }
    return {
      traceId,
      rootService: root?.service ?? '',
      rootOperation: root?.operation ?? '',
      startTimeUnixNano: (start ?? 0n).toString(),
      durationNs: Number(end - (start ?? 0n)),
      spanCount: rows.length,
      errorCount: errors,
      services: [...services].sort(),
    };
  }

  /** Spans started in a window, lightened for the service map (newest `limit`). */
  mapSpans(q: { since: number; until?: number; environment?: string; limit?: number }): CallSpan[] {
    this.flush();
    const { where, params } = spanFilter({ since: q.since, until: q.until, environment: q.environment });
    const extracts = PEER_ATTRIBUTES.map(
      (k, i) => `CASE WHEN kind IN (3, 4) THEN json_extract(attributes, '$."${k}"') END AS a${i}`,
    ).join(', ');
    const sql = `SELECT trace_id, span_id, parent_span_id, service, kind, duration_ns, status, weight, ${extracts}
      FROM spans ${where} ORDER BY start_ms DESC LIMIT ?`;
    const rows = this.db.prepare(sql).all(...params, q.limit ?? 200_000) as Record<string, unknown>[];
    return rows.map((r) => {
      const attributes: Attributes = {};
      PEER_ATTRIBUTES.forEach((k, i) => {
        const v = r[`a${i}`];
        if (v !== null && v !== undefined) attributes[k] = v as string | number;
      });
      return {
        traceId: r.trace_id as string,
        spanId: r.span_id as string,
        parentSpanId: (r.parent_span_id as string | null) ?? null,
        service: r.service as string,
        kind: KINDS[r.kind as number] ?? 'unspecified',
        durationNs: r.duration_ns as number,
        status: STATUSES[r.status as number] ?? 'unset',
        attributes,
        ...(r.weight !== null && r.weight !== undefined && { weight: r.weight as number }),
      };
    });
  }

  count(): number {
    this.flush();
    return this.spanCount;
  }

  bytes(): number {
    this.flush();
    return usedBytes(this.db);
  }

  /** Applies the retention, whole; returns how many spans were deleted. */
  prune(now: number = this.clock.now()): { deleted: number } {
    return pruneAll(() => this.pruneStep(now));
  }

  /**
   * One bounded step of the retention: deletes at most `limit` of the oldest spans it wants gone
   * (by age, then count, then size); `more` when it wants more. The daemon runs steps with its event
   * loop free in between (Observability.tick): a store at its 1 GiB cap used to delete a tenth of
   * itself in one statement, ~300,000 spans, holding the daemon's only thread for seconds while
   * OTLP exports and API calls waited (137,560 spans took 735 ms on this machine, session 21; in
   * steps of 5,000 the longest step took 60 ms, all of them 1.2 s).
   */
  pruneStep(now: number = this.clock.now(), limit: number = TraceStore.PRUNE_STEP): PruneStep {
    this.flush();
    const { maxAgeMs, maxSpans, maxBytes } = this.retention;
    if (maxAgeMs !== undefined) {
      const deleted = this.stmts.deleteOlder.run(now - maxAgeMs, limit).changes;
      this.spanCount -= deleted;
      if (deleted > 0) return { deleted, more: deleted === limit || this.overRetention() };
    }
    const want = rowsOverRetention(this.db, this.spanCount, maxSpans, maxBytes);
    if (want === 0) return { deleted: 0, more: false };
    const deleted = this.stmts.deleteOldest.run(Math.min(want, limit)).changes;
    this.spanCount -= deleted;
    return { deleted, more: deleted > 0 && (want > limit || this.overRetention()) };
  }

  /** Whether the store is still over its row or size cap. */
  private overRetention(): boolean {
    return rowsOverRetention(this.db, this.spanCount, this.retention.maxSpans, this.retention.maxBytes) > 0;
  }

  close(): void {
    this.flush();
    this.db.close();
  }
}

function prepare(db: Db) {
  return {
    insert: db.prepare(
      `INSERT INTO spans (trace_key, trace_id, span_id, parent_span_id, service, operation, kind, start_ns,
         start_ms, duration_ns, status, status_message, attributes, events, resource_id, environment, replica, weight)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    resourceInsert: db.prepare('INSERT OR IGNORE INTO resources (json) VALUES (?)'),
    resourceId: db.prepare('SELECT id FROM resources WHERE json = ?').pluck(),
    trace: db.prepare(
      `SELECT s.*, r.json AS resource FROM spans s LEFT JOIN resources r ON r.id = s.resource_id
       WHERE s.trace_key = ? AND s.trace_id = ?`,
    ),
    summary: db.prepare(
      `SELECT span_id, parent_span_id, service, operation, start_ns, duration_ns, status FROM spans
       WHERE trace_key = ? AND trace_id = ?`,
    ),
    count: db.prepare('SELECT count(*) FROM spans').pluck(),
    deleteOlder: db.prepare(
      'DELETE FROM spans WHERE id IN (SELECT id FROM spans WHERE start_ms < ? ORDER BY start_ms LIMIT ?)',
    ),
    deleteOldest: db.prepare(
      'DELETE FROM spans WHERE id IN (SELECT id FROM spans ORDER BY start_ms LIMIT ?)',
    ),
  };
}

function spanFilter(q: TraceQuery): { where: string; params: unknown[] } {
  const conds: string[] = [];
  const params: unknown[] = [];
  const add = (cond: string, param: unknown) => {
    conds.push(cond);
    params.push(param);
  };
  if (q.service !== undefined) add('service = ?', q.service);
  if (q.operation !== undefined) add('operation = ?', q.operation);
  if (q.environment !== undefined) add('environment = ?', q.environment);
  if (q.minDurationMs !== undefined) add('duration_ns >= ?', Math.round(q.minDurationMs * 1e6));
  // A literal, not a parameter: only then can SQLite use the partial index on errors.
  if (q.error) conds.push(`status = ${ERROR}`);
  if (q.since !== undefined) add('start_ms >= ?', q.since);
  if (q.until !== undefined) add('start_ms <= ?', q.until);
  return { where: conds.length > 0 ? `WHERE ${conds.join(' AND ')}` : '', params };
}

function rowToSpan(r: SpanRow): SpanRecord {
  return {
    traceId: r.trace_id,
    spanId: r.span_id,
    parentSpanId: r.parent_span_id,
    service: r.service,
    operation: r.operation,
    kind: KINDS[r.kind] ?? 'unspecified',
    startTimeUnixNano: r.start_ns,
    durationNs: r.duration_ns,
    status: STATUSES[r.status] ?? 'unset',
    statusMessage: r.status_message,
    attributes: JSON.parse(r.attributes) as Attributes,
    events: r.events,
    resource: r.resource ? (JSON.parse(r.resource) as Attributes) : {},
    environment: r.environment,
    replica: r.replica,
    ...(r.weight !== null && { weight: r.weight }),
  };
}

export function compareNs(a: string, b: string): number {
  // Same-length decimal strings compare as numbers; otherwise the shorter is smaller.
  return a.length !== b.length ? a.length - b.length : a < b ? -1 : a > b ? 1 : 0;
}

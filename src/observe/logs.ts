import type { LogLine } from '../logs/index.ts';
import { systemClock, type Clock } from '../platform/clock.ts';
import { RampartError } from '../platform/errors.ts';
import { parseLogText } from './log-parse.ts';
import {
  compileLogQuery,
  indexedCandidates,
  parseLogQuery,
  traceKey,
  type CompiledLogQuery,
  type QueryTerm,
} from './log-query.ts';
import { Redactor } from './redact.ts';
import { LOG_SCHEMA, prepareLogStatements } from './logs-sql.ts';
import { openDb, pruneAll, rowsOverRetention, usedBytes, type Db, type PruneStep } from './sqlite.ts';
import type { LogInput, LogLevel, StoredLog } from './types.ts';

export interface LogRetention {
  maxAgeMs?: number;
  maxLines?: number;
  maxBytes?: number;
}

export interface LogStoreOptions {
  /** A file under the state directory, or `:memory:`. */
  path: string;
  retention?: LogRetention;
  clock?: Clock;
}

export interface LogSearch {
  /** In the query language of log-query.ts; empty matches everything. */
  query?: string;
  environment?: string;
  /** Milliseconds since the epoch, inclusive. */
  since?: number;
  until?: number;
  /** @default 100 (at most 10,000) */
  limit?: number;
}

/** Below this many rows allowed by the indexed fields, a search reads them instead of the full-text index. */
const SCAN_CAP = 20_000;

/**
 * Lines are stored in batches: one transaction per batch, and FTS5 writes one index segment per
 * transaction, so larger batches cost less per line (about 8 µs at 20,000 against 11 µs at 2,000).
 * Many replicas' output arriving in small polls is gathered for this long first.
 */
const FLUSH_DELAY_MS = 50;

interface LogRow {
  id: number;
  time: number;
  environment: string | null;
  namespace: string | null;
  service: string;
  replica: string | null;
  stream: string | null;
  level: string | null;
  message: string;
  trace_id: string | null;
  span_id: string | null;
  attributes: string | null;
}

function hasKeys(obj: object): boolean {
  for (const _ in obj) return true;
  return false;
}

function rowToLog(r: LogRow): StoredLog {
  return {
    id: r.id,
    time: r.time,
    service: r.service,
    environment: r.environment,
    namespace: r.namespace,
    replica: r.replica,
    stream: r.stream,
    level: r.level as LogLevel | null,
    message: r.message,
    traceId: r.trace_id,
    spanId: r.span_id,
    attributes: r.attributes ? (JSON.parse(r.attributes) as Record<string, unknown>) : {},
  };
}

/** A journal line as a record: parsed when it is JSON (pino, bunyan, winston, ECS), text otherwise. */
export function logInputFromLine(line: LogLine): LogInput {
  const p = parseLogText(line.message);
  return {
    time: p.time ?? line.time,
    service: line.service,
    environment: line.environment,
    namespace: line.namespace,
    replica: String(line.replica),
    stream: line.stream,
    level: p.level,
    message: p.message,
    traceId: p.traceId,
    spanId: p.spanId,
    attributes: p.attributes,
  };
}

interface Subscriber {
  terms: QueryTerm[];
  query: string;
  environment?: string;
  lastId: number;
  listener: (log: StoredLog) => void;
}

/**
 * Log lines in SQLite with an FTS5 index on the message. Writes are batched: `add`/`ingestLine`
 * queue and flush after 50 ms (or at LogStore.BATCH lines), in one transaction; reads flush first,
 * so a search always sees what was added. Secrets set with `redact` are replaced by
 * `***` before anything is stored.
 */
export class LogStore {
  /** Lines per transaction when lines arrive faster than FLUSH_DELAY_MS gathers them. */
  static readonly BATCH = 20_000;
  /** Lines one retention step deletes at most (pruneStep). */
  static readonly PRUNE_STEP = 5_000;

  private readonly db: Db;
  private readonly clock: Clock;
  private readonly retention: LogRetention;
  private readonly redactor = new Redactor();
  private readonly subscribers = new Set<Subscriber>();
  private readonly insertListeners = new Set<(logs: StoredLog[]) => void>();
  private pending: LogInput[] = [];
  private flushTimer: NodeJS.Timeout | undefined;
  private lineCount: number;
  private readonly stmts: ReturnType<typeof prepareLogStatements>;
  private readonly insertTx: (records: readonly LogInput[]) => {
    first: number;
    last: number;
    stored?: StoredLog[];
  };

  constructor(opts: LogStoreOptions) {
    this.db = openDb(opts.path);
    // A transaction of 20,000 lines writes ~5 MB of WAL: with SQLite's default of a checkpoint
    // every 1,000 pages (4 MB), nearly every flush would also copy the WAL into the database and
    // fsync it on the ingest path. 64 MB between checkpoints: ~20% more lines/s at 1 million lines.
    this.db.pragma('wal_autocheckpoint = 16384');
    this.db.exec(LOG_SCHEMA);
    this.clock = opts.clock ?? systemClock;
    this.retention = opts.retention ?? {};
    this.stmts = prepareLogStatements(this.db);
    this.lineCount = this.stmts.count.get() as number;
    this.insertTx = this.db.transaction((records: readonly LogInput[]) => {
      const marks = new Map<number, { min: number; max: number }>();
      const stored: StoredLog[] | undefined = this.insertListeners.size > 0 ? [] : undefined;
      let first = 0;
      let last = 0;
      for (const r of records) {
        const message = this.redactor.apply(r.message);
        let attributes = r.attributes && hasKeys(r.attributes) ? r.attributes : null;
        let json = attributes ? JSON.stringify(attributes) : null;
        // A secret in any string of the attributes shows in their JSON (escaped as JSON escapes it):
        // one scan of the text, and the deep copy only for the rare line that has one.
        if (json !== null && this.redactor.test(json)) {
          attributes = this.redactor.applyDeep(attributes as Record<string, unknown>);
          json = JSON.stringify(attributes);
        }
        const id = Number(
          this.stmts.insert.run(
            r.time,
            r.environment ?? null,
            r.namespace ?? null,
            r.service,
            r.replica ?? null,
            r.stream ?? null,
            r.level ?? null,
            message,
            r.traceId ?? null,
            r.spanId ?? null,
            json,
            r.traceId ? traceKey(r.traceId) : null,
          ).lastInsertRowid,
        );
        this.stmts.fts.run(id, message);
        stored?.push({
          id,
          time: r.time,
          service: r.service,
          environment: r.environment ?? null,
          namespace: r.namespace ?? null,
          replica: r.replica ?? null,
          stream: r.stream ?? null,
          level: r.level ?? null,
          message,
          traceId: r.traceId ?? null,
          spanId: r.spanId ?? null,
          attributes: attributes ?? {},
        });
        if (first === 0) first = id;
        last = id;
        const minute = Math.floor(r.time / 60_000);
        const m = marks.get(minute);
        if (m) m.max = id;
        else marks.set(minute, { min: id, max: id });
      }
      for (const [minute, m] of marks) this.stmts.mark.run(minute, m.min, m.max);
      this.lineCount += records.length;
      return { first, last, stored };
    });
  }

  /** Sets the secret values to redact from every line stored from now on. */
  redact(values: readonly string[]): void {
    this.redactor.set(values);
  }

  /** Queues a journal line. */
  ingestLine(line: LogLine): void {
    this.add(logInputFromLine(line));
  }

  /** Queues a record; it is stored within FLUSH_DELAY_MS, or at once when a batch is full. */
  add(record: LogInput): void {
    this.pending.push(record);
    if (this.pending.length >= LogStore.BATCH) this.flush();
    else this.flushTimer ??= setTimeout(() => this.flush(), FLUSH_DELAY_MS);
  }

  /** Stores what is queued. */
  flush(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    if (this.pending.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    this.insert(batch);
  }

  /** Stores records now, in one transaction, and tells live-tail subscribers. */
  insert(records: readonly LogInput[]): number {
    if (records.length === 0) return 0;
    if (this.pending.length > 0 && records !== this.pending) this.flush(); // keep arrival order
    const { last, stored } = this.insertTx(records);
    if (stored) for (const l of this.insertListeners) l(stored);
    if (this.subscribers.size > 0) this.notify(last);
    return records.length;
  }

  private notify(lastId: number): void {
    for (const s of this.subscribers) {
      // A few new rows: read them all and check the words in JS (the `scan` plan).
      const q = compileLogQuery(s.query, s.terms, {
        environment: s.environment,
        afterId: s.lastId,
        maxId: lastId,
        limit: 1_000_000,
        plan: 'scan',
      });
      const rows = this.run(q, 1_000_000).reverse();
      s.lastId = lastId;
      for (const r of rows) s.listener(r);
    }
  }

  /** Reads rows in the query's order until `limit` pass its JS filter (or SQL's LIMIT applies). */
  private run(q: CompiledLogQuery, limit: number): StoredLog[] {
    const stmt = this.db.prepare(q.sql);
    if (!q.keep) return (stmt.all(...q.params) as LogRow[]).map(rowToLog);
    const out: StoredLog[] = [];
    for (const row of stmt.iterate(...q.params) as IterableIterator<LogRow>) {
      if (!q.keep(row.message)) continue;
      out.push(rowToLog(row));
      if (out.length >= limit) break; // ends the statement
    }
    return out;
  }

  /** Calls `listener` with every batch as stored (redacted, with ids): for forwarding. */
  onInsert(listener: (logs: StoredLog[]) => void): () => void {
    this.insertListeners.add(listener);
    return () => this.insertListeners.delete(listener);
  }

  /** Newest first. A bad query throws RAMPART_E_BAD_REQUEST naming the position. */
  search(q: LogSearch = {}): StoredLog[] {
    this.flush();
    const query = q.query ?? '';
    const terms = parseLogQuery(query);
    const limit = Math.min(Math.max(1, q.limit ?? 100), 10_000);
    let minId: number | undefined;
    let maxId: number | undefined;
    if (q.since !== undefined) {
      minId = (this.stmts.minIdSince.get(Math.floor(q.since / 60_000)) as number | null) ?? undefined;
      if (minId === undefined) return [];
    }
    if (q.until !== undefined) {
      maxId = (this.stmts.maxIdUntil.get(Math.floor(q.until / 60_000)) as number | null) ?? undefined;
      if (maxId === undefined) return [];
    }
    const bounds = { environment: q.environment, since: q.since, until: q.until, minId, maxId, limit };
    const plan = this.fieldsAreSelective(query, terms, minId, maxId) ? 'scan' : undefined;
    try {
      return this.run(compileLogQuery(query, terms, { ...bounds, plan }), limit);
    } catch (e) {
      // FTS5 has a syntax of its own; our quoting should prevent errors, but say what happened.
      throw new RampartError('RAMPART_E_BAD_REQUEST', `log search failed: ${(e as Error).message}`, {
        field: 'query',
      });
    }
  }

  /**
   * Words and selective fields (`service:x level:error "timeout"`): when the indexed fields leave
   * few rows, reading those newest first and checking the words beats reading every row that has
   * the words. Counting them through the index (up to a cap) costs well under a millisecond.
   */
  private fieldsAreSelective(query: string, terms: QueryTerm[], minId?: number, maxId?: number): boolean {
    if (!terms.some((t) => !t.negate && (t.type === 'text' || t.field === 'message' || t.field === 'msg')))
      return false;
    const probe = indexedCandidates(query, terms, { minId, maxId, cap: SCAN_CAP });
    if (!probe) return false;
    return (
      (this.db
        .prepare(probe.sql)
        .pluck()
        .get(...probe.params) as number) < SCAN_CAP
    );
  }

  /**
   * Live tail: calls `listener` with every line stored from now on that matches (in order).
   * Returns the unsubscribe function.
   */
  subscribe(q: Pick<LogSearch, 'query' | 'environment'>, listener: (log: StoredLog) => void): () => void {
    this.flush();
    const query = q.query ?? '';
    const sub: Subscriber = {
      terms: parseLogQuery(query),
      query,
      environment: q.environment,
      lastId: (this.stmts.maxId.get() as number | null) ?? 0,
      listener,
    };
    this.subscribers.add(sub);
    return () => this.subscribers.delete(sub);
  }

  count(): number {
    this.flush();
    return this.lineCount;
  }

  bytes(): number {
    return usedBytes(this.db);
  }

  /** Applies the retention, whole; returns how many lines were deleted. */
  prune(now: number = this.clock.now()): { deleted: number } {
    return pruneAll(() => this.pruneStep(now));
  }

  /**
   * One bounded step of the retention: deletes at most `limit` of the oldest lines it wants gone
   * (by age, then count, then size); `more` when it wants more. As TraceStore.pruneStep: the daemon
   * runs steps with its event loop free in between, where a full store used to delete a tenth of
   * itself (and its full-text index entries) in one transaction.
   */
  pruneStep(now: number = this.clock.now(), limit: number = LogStore.PRUNE_STEP): PruneStep {
    this.flush();
    const { maxAgeMs, maxLines, maxBytes } = this.retention;
    // The id of the `n`th oldest line (n ≥ 1), if there are that many.
    const nth = (n: number) => this.stmts.nthId.get(n - 1) as number | undefined;
    const deleteUpTo = (id: number, older?: number): number => {
      const n = this.db.transaction(() => {
        if (older === undefined) {
          this.stmts.ftsDeleteUpTo.run(id);
          return this.stmts.deleteUpTo.run(id).changes;
        }
        this.stmts.ftsDeleteOlder.run(id, older);
        return this.stmts.deleteOlder.run(id, older).changes;
      })();
      this.lineCount -= n;
      if (n > 0) this.stmts.pruneMarks.run();
      return n;
    };
    if (maxAgeMs !== undefined) {
      const cutoff = now - maxAgeMs;
      // The id range of the minutes up to the cutoff's: a range scan, not a scan of the whole table.
      // (A line logged late with an old time, beyond that range, waits for a later prune.)
      const bound = this.stmts.maxIdUntil.get(Math.floor(cutoff / 60_000)) as number | null;
      if (bound !== null) {
        const step = nth(limit);
        const upTo = step !== undefined && step < bound ? step : bound;
        let deleted = deleteUpTo(upTo, cutoff);
        if (upTo < bound && deleted > 0) return { deleted, more: true };
        // None of the oldest `limit` was old enough (lines kept out of time order): the rest at once.
        if (upTo < bound) deleted = deleteUpTo(bound, cutoff);
        if (deleted > 0) return { deleted, more: this.overRetention() };
      }
    }
    const want = rowsOverRetention(this.db, this.lineCount, maxLines, maxBytes);
    if (want === 0) return { deleted: 0, more: false };
    const id = nth(Math.min(want, limit, this.lineCount));
    if (id === undefined) return { deleted: 0, more: false };
    const deleted = deleteUpTo(id);
    return { deleted, more: deleted > 0 && (want > limit || this.overRetention()) };
  }

  /** Whether the store is still over its row or size cap. */
  private overRetention(): boolean {
    return rowsOverRetention(this.db, this.lineCount, this.retention.maxLines, this.retention.maxBytes) > 0;
  }

  close(): void {
    this.flush();
    this.subscribers.clear();
    this.db.close();
  }
}

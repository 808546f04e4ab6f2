import type { LogLine } from '../logs/index.ts';
import { systemClock, type Clock } from '../platform/clock.ts';
import { RampartError } from '../platform/errors.ts';
import { parseLogText } from './log-parse.ts';
import { compileLogQuery, parseLogQuery, type QueryTerm } from './log-query.ts';
import { Redactor } from './redact.ts';
import { openDb, usedBytes, type Db } from './sqlite.ts';
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

const SCHEMA = `
CREATE TABLE IF NOT EXISTS logs (
  id INTEGER PRIMARY KEY,
  time INTEGER NOT NULL,
  environment TEXT,
  namespace TEXT,
  service TEXT NOT NULL,
  replica TEXT,
  stream TEXT,
  level TEXT,
  message TEXT NOT NULL,
  trace_id TEXT,
  span_id TEXT,
  attributes TEXT
);
CREATE INDEX IF NOT EXISTS logs_time ON logs(time);
CREATE INDEX IF NOT EXISTS logs_service ON logs(service, level);
CREATE INDEX IF NOT EXISTS logs_level ON logs(level);
CREATE INDEX IF NOT EXISTS logs_trace ON logs(trace_id) WHERE trace_id IS NOT NULL;
CREATE VIRTUAL TABLE IF NOT EXISTS logs_fts USING fts5(message, content='logs', content_rowid='id');
-- Per minute of log time, the smallest and largest row id: a time range becomes an id range that
-- the indexes (which all end in the id) and the full-text index can seek, newest first.
CREATE TABLE IF NOT EXISTS log_marks (minute INTEGER PRIMARY KEY, min_id INTEGER NOT NULL, max_id INTEGER NOT NULL);
`;

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
 * queue and flush on the next turn of the event loop (or at 5,000 lines), in one transaction; reads
 * flush first, so a search always sees what was added. Secrets set with `redact` are replaced by
 * `***` before anything is stored.
 */
export class LogStore {
  private readonly db: Db;
  private readonly clock: Clock;
  private readonly retention: LogRetention;
  private readonly redactor = new Redactor();
  private readonly subscribers = new Set<Subscriber>();
  private readonly insertListeners = new Set<(logs: StoredLog[]) => void>();
  private pending: LogInput[] = [];
  private flushScheduled = false;
  private lineCount: number;
  private readonly stmts: ReturnType<typeof prepare>;
  private readonly insertTx: (records: readonly LogInput[]) => {
    first: number;
    last: number;
    stored?: StoredLog[];
  };

  constructor(opts: LogStoreOptions) {
    this.db = openDb(opts.path);
    this.db.exec(SCHEMA);
    this.clock = opts.clock ?? systemClock;
    this.retention = opts.retention ?? {};
    this.stmts = prepare(this.db);
    this.lineCount = this.stmts.count.get() as number;
    this.insertTx = this.db.transaction((records: readonly LogInput[]) => {
      const marks = new Map<number, { min: number; max: number }>();
      const stored: StoredLog[] | undefined = this.insertListeners.size > 0 ? [] : undefined;
      let first = 0;
      let last = 0;
      for (const r of records) {
        const message = this.redactor.apply(r.message);
        const attributes = r.attributes && Object.keys(r.attributes).length > 0 ? r.attributes : null;
        const redacted = attributes ? this.redactor.applyDeep(attributes) : null;
        const json = redacted ? JSON.stringify(redacted) : null;
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
          attributes: redacted ?? {},
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

  /** Queues a record; it is stored on the next turn of the event loop. */
  add(record: LogInput): void {
    this.pending.push(record);
    if (this.pending.length >= 5_000) this.flush();
    else if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Stores what is queued. */
  flush(): void {
    this.flushScheduled = false;
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
      const { sql, params } = compileLogQuery(s.query, s.terms, {
        environment: s.environment,
        afterId: s.lastId,
        maxId: lastId,
        limit: 100_000,
      });
      const rows = (this.db.prepare(sql).all(...params) as LogRow[]).reverse();
      s.lastId = lastId;
      for (const r of rows) s.listener(rowToLog(r));
    }
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
    const { sql, params } = compileLogQuery(query, terms, {
      environment: q.environment,
      since: q.since,
      until: q.until,
      minId,
      maxId,
      limit,
    });
    try {
      return (this.db.prepare(sql).all(...params) as LogRow[]).map(rowToLog);
    } catch (e) {
      // FTS5 has a syntax of its own; our quoting should prevent errors, but say what happened.
      throw new RampartError('RAMPART_E_BAD_REQUEST', `log search failed: ${(e as Error).message}`, {
        field: 'query',
      });
    }
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

  /** Applies the retention; returns how many lines were deleted. */
  prune(now: number = this.clock.now()): { deleted: number } {
    this.flush();
    let deleted = 0;
    const { maxAgeMs, maxLines, maxBytes } = this.retention;
    const deleteUpTo = (id: number) => {
      this.stmts.ftsDeleteUpTo.run(id);
      const n = this.stmts.deleteUpTo.run(id).changes;
      this.lineCount -= n;
      deleted += n;
    };
    if (maxAgeMs !== undefined) {
      const cutoff = now - maxAgeMs;
      this.db.transaction(() => {
        this.stmts.ftsDeleteOlder.run(cutoff);
        const n = this.stmts.deleteOlder.run(cutoff).changes;
        this.lineCount -= n;
        deleted += n;
      })();
    }
    if (maxLines !== undefined && this.lineCount > maxLines) {
      const id = this.stmts.nthId.get(this.lineCount - maxLines - 1) as number | undefined;
      if (id !== undefined) this.db.transaction(() => deleteUpTo(id))();
    }
    if (maxBytes !== undefined) {
      while (this.lineCount > 0 && usedBytes(this.db) > maxBytes) {
        const id = this.stmts.nthId.get(Math.max(999, Math.ceil(this.lineCount / 10) - 1)) as
          number | undefined;
        if (id === undefined) break;
        this.db.transaction(() => deleteUpTo(id))();
      }
    }
    if (deleted > 0) this.stmts.pruneMarks.run();
    return { deleted };
  }

  close(): void {
    this.flush();
    this.subscribers.clear();
    this.db.close();
  }
}

function prepare(db: Db) {
  return {
    insert: db.prepare(
      `INSERT INTO logs (time, environment, namespace, service, replica, stream, level, message, trace_id, span_id, attributes)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    fts: db.prepare('INSERT INTO logs_fts (rowid, message) VALUES (?, ?)'),
    mark: db.prepare(
      `INSERT INTO log_marks (minute, min_id, max_id) VALUES (?, ?, ?)
       ON CONFLICT(minute) DO UPDATE SET min_id = min(min_id, excluded.min_id), max_id = max(max_id, excluded.max_id)`,
    ),
    minIdSince: db.prepare('SELECT min(min_id) FROM log_marks WHERE minute >= ?').pluck(),
    maxIdUntil: db.prepare('SELECT max(max_id) FROM log_marks WHERE minute <= ?').pluck(),
    maxId: db.prepare('SELECT max(id) FROM logs').pluck(),
    count: db.prepare('SELECT count(*) FROM logs').pluck(),
    nthId: db.prepare('SELECT id FROM logs ORDER BY id LIMIT 1 OFFSET ?').pluck(),
    // External-content FTS5 needs the old text to delete its tokens.
    ftsDeleteOlder: db.prepare(
      `INSERT INTO logs_fts (logs_fts, rowid, message) SELECT 'delete', id, message FROM logs WHERE time < ?`,
    ),
    deleteOlder: db.prepare('DELETE FROM logs WHERE time < ?'),
    ftsDeleteUpTo: db.prepare(
      `INSERT INTO logs_fts (logs_fts, rowid, message) SELECT 'delete', id, message FROM logs WHERE id <= ?`,
    ),
    deleteUpTo: db.prepare('DELETE FROM logs WHERE id <= ?'),
    pruneMarks: db.prepare(
      'DELETE FROM log_marks WHERE max_id < coalesce((SELECT min(id) FROM logs), 9223372036854775807)',
    ),
  };
}

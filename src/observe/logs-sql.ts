import type { Db } from './sqlite.ts';

/** The log store's schema (logs.ts). */
export const LOG_SCHEMA = `
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
  attributes TEXT,
  trace_key INTEGER
);
-- Few indexes, each paid on every insert. (service, id, level) reads one service newest first with
-- no sort, and checks the level in the index itself; time ranges become id ranges (log_marks).
CREATE INDEX IF NOT EXISTS logs_service ON logs(service, id, level);
-- Trace ids are random: an index of 32-character keys costs a third of an insert; the first 52
-- bits as an integer find the same rows (log-query.ts checks the full id).
CREATE INDEX IF NOT EXISTS logs_trace ON logs(trace_key) WHERE trace_key IS NOT NULL;
-- columnsize=0: no per-row token counts (they serve only bm25 ranking; results are newest first),
-- one write less per line.
CREATE VIRTUAL TABLE IF NOT EXISTS logs_fts USING fts5(message, content='logs', content_rowid='id', columnsize=0);
-- Per minute of log time, the smallest and largest row id: a time range becomes an id range that
-- the indexes (which all end in the id) and the full-text index can seek, newest first.
CREATE TABLE IF NOT EXISTS log_marks (minute INTEGER PRIMARY KEY, min_id INTEGER NOT NULL, max_id INTEGER NOT NULL);
`;

/** The statements the log store runs, prepared once. */
export function prepareLogStatements(db: Db) {
  return {
    insert: db.prepare(
      `INSERT INTO logs (time, environment, namespace, service, replica, stream, level, message, trace_id, span_id, attributes, trace_key)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
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
      `INSERT INTO logs_fts (logs_fts, rowid, message) SELECT 'delete', id, message FROM logs WHERE id <= ? AND time < ?`,
    ),
    deleteOlder: db.prepare('DELETE FROM logs WHERE id <= ? AND time < ?'),
    ftsDeleteUpTo: db.prepare(
      `INSERT INTO logs_fts (logs_fts, rowid, message) SELECT 'delete', id, message FROM logs WHERE id <= ?`,
    ),
    deleteUpTo: db.prepare('DELETE FROM logs WHERE id <= ?'),
    pruneMarks: db.prepare(
      'DELETE FROM log_marks WHERE max_id < coalesce((SELECT min(id) FROM logs), 9223372036854775807)',
    ),
  };
}

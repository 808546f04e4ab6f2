import type { Db } from './sqlite.ts';

/**
 * The metrics store's schema (metrics.ts): RED buckets with a latency histogram each, at 10 s and
 * 60 s resolution (`res`), replica CPU and memory likewise, and OTLP metric points.
 */
export const METRICS_SCHEMA = `
CREATE TABLE IF NOT EXISTS red (
  res INTEGER NOT NULL, kind TEXT NOT NULL, key TEXT NOT NULL, start_ms INTEGER NOT NULL,
  count INTEGER NOT NULL, errors INTEGER NOT NULL, hist TEXT NOT NULL,
  PRIMARY KEY (res, kind, key, start_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS red_age ON red(res, start_ms);
CREATE TABLE IF NOT EXISTS replica_usage (
  res INTEGER NOT NULL, replica TEXT NOT NULL, start_ms INTEGER NOT NULL,
  n INTEGER NOT NULL, cpu_sum REAL NOT NULL, cpu_max REAL NOT NULL, mem_sum REAL NOT NULL, mem_max REAL NOT NULL,
  PRIMARY KEY (res, replica, start_ms)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS replica_usage_age ON replica_usage(res, start_ms);
CREATE TABLE IF NOT EXISTS otlp_points (
  time_ms INTEGER NOT NULL, service TEXT NOT NULL, name TEXT NOT NULL, unit TEXT NOT NULL, type TEXT NOT NULL,
  value REAL NOT NULL, count REAL, attributes TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS otlp_points_name ON otlp_points(service, name, time_ms);
CREATE INDEX IF NOT EXISTS otlp_points_age ON otlp_points(time_ms);
`;

/** The statements the metrics store runs, prepared once (`hist_merge` is registered by the store). */
export function prepareMetricsStatements(db: Db) {
  return {
    red: db.prepare(
      `INSERT INTO red (res, kind, key, start_ms, count, errors, hist) VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (res, kind, key, start_ms) DO UPDATE SET
         count = count + excluded.count, errors = errors + excluded.errors, hist = hist_merge(hist, excluded.hist)`,
    ),
    usage: db.prepare(
      `INSERT INTO replica_usage (res, replica, start_ms, n, cpu_sum, cpu_max, mem_sum, mem_max) VALUES (?, ?, ?, 1, ?, ?, ?, ?)
       ON CONFLICT (res, replica, start_ms) DO UPDATE SET n = n + 1, cpu_sum = cpu_sum + excluded.cpu_sum,
         cpu_max = max(cpu_max, excluded.cpu_max), mem_sum = mem_sum + excluded.mem_sum, mem_max = max(mem_max, excluded.mem_max)`,
    ),
    point: db.prepare(
      'INSERT INTO otlp_points (time_ms, service, name, unit, type, value, count, attributes) VALUES (?, ?, ?, ?, ?, ?, ?, ?)',
    ),
    pruneRed: db.prepare('DELETE FROM red WHERE res = ? AND start_ms < ?'),
    pruneUsage: db.prepare('DELETE FROM replica_usage WHERE res = ? AND start_ms < ?'),
    prunePoints: db.prepare('DELETE FROM otlp_points WHERE time_ms < ?'),
    redSeries: db.prepare(
      'SELECT start_ms, count, errors, hist FROM red WHERE res = ? AND kind = ? AND key = ? AND start_ms >= ? AND start_ms <= ? ORDER BY start_ms',
    ),
    redRange: db.prepare(
      'SELECT kind, key, start_ms, count, errors, hist FROM red WHERE res = ? AND start_ms >= ? AND start_ms <= ?',
    ),
    usageSeries: db.prepare(
      'SELECT * FROM replica_usage WHERE res = ? AND replica = ? AND start_ms >= ? AND start_ms <= ? ORDER BY start_ms',
    ),
    pointSeries: db.prepare(
      'SELECT * FROM otlp_points WHERE service = ? AND name = ? AND time_ms >= ? AND time_ms <= ? ORDER BY time_ms',
    ),
  };
}

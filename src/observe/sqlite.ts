import Database from 'better-sqlite3';

export type Db = Database.Database;

/**
 * Opens one of the observability databases. Files get WAL with synchronous=NORMAL: a crash may lose
 * the last transactions but never corrupts, and commits cost no fsync (ingest is many small batches).
 */
export function openDb(path: string): Db {
  const db = new Database(path);
  if (path !== ':memory:') {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
  }
  db.pragma('temp_store = MEMORY');
  return db;
}

/** Bytes the database uses (pages in use, free pages excluded). */
export function usedBytes(db: Db): number {
  const pageSize = db.pragma('page_size', { simple: true }) as number;
  const pages = db.pragma('page_count', { simple: true }) as number;
  const free = db.pragma('freelist_count', { simple: true }) as number;
  return (pages - free) * pageSize;
}

/** What one bounded retention step did (TraceStore.pruneStep, LogStore.pruneStep). */
export interface PruneStep {
  deleted: number;
  /** The retention wants more deleted. */
  more: boolean;
}

/** Runs retention steps until none wants more; how many rows they deleted. */
export function pruneAll(step: () => PruneStep): { deleted: number } {
  let deleted = 0;
  for (;;) {
    const s = step();
    deleted += s.deleted;
    if (!s.more) return { deleted };
  }
}

/**
 * How many of a store's oldest `rows` its row and size caps want deleted: down to `maxRows`, or to
 * 90% of `maxBytes` (so that a full store is not pruned a few rows at every tick); 0 within both.
 */
export function rowsOverRetention(
  db: Db,
  rows: number,
  maxRows: number | undefined,
  maxBytes: number | undefined,
): number {
  if (maxRows !== undefined && rows > maxRows) return rows - maxRows;
  if (maxBytes === undefined || rows === 0) return 0;
  const used = usedBytes(db);
  return used > maxBytes ? Math.max(1, Math.ceil(rows * (1 - (0.9 * maxBytes) / used))) : 0;
}

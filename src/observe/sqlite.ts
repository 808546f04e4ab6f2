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

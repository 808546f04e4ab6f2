import { chmodSync } from 'node:fs';
import Database from 'better-sqlite3';
import { RampartError } from '../platform/errors.ts';
import {
  LATEST_VERSION,
  MIGRATIONS,
  SQL,
  SQLITE,
  deploymentParams,
  documentParams,
  rowToDocument,
  eventParams,
  eventsQuery,
  replicaParams,
  rowToDeployment,
  rowToEvent,
  rowToReplica,
  rowToSecret,
  secretParams,
  sortDeployments,
  sortReplicas,
  sortSecrets,
} from './schema.ts';
import type { Store } from './types.ts';

export interface SqliteStoreOptions {
  /** Path of the database file, or `:memory:`. */
  file: string;
  /** How long a statement waits for another connection's write lock. @default 5000 */
  busyTimeoutMs?: number;
}

type Row = Record<string, unknown>;

function openDatabase(options: SqliteStoreOptions): Database.Database {
  let db: Database.Database | undefined;
  try {
    db = new Database(options.file, { timeout: options.busyTimeoutMs ?? 5000 });
    if (options.file !== ':memory:') {
      // Secrets are encrypted, but the rest of the state (addresses, specs) is nobody else's business.
      // SQLite gives the -wal and -shm files the database file's permissions.
      chmodSync(options.file, 0o600);
      db.pragma('journal_mode = WAL');
    }
    // NORMAL is durable in WAL mode except for the last transactions on power loss, never corrupting.
    db.pragma('synchronous = NORMAL');
    return db;
  } catch (error) {
    db?.close();
    throw new RampartError(
      'RAMPART_E_STORE',
      `cannot open the state store ${options.file}: ${(error as Error).message}`,
      { file: options.file },
      { cause: error },
    );
  }
}

/**
 * The embedded store: one SQLite file (WAL mode, so readers never block the writer) opened with
 * better-sqlite3. Calls are synchronous underneath; the async interface is the Store contract's.
 */
export async function openSqliteStore(options: SqliteStoreOptions): Promise<Store> {
  const d = SQLITE;
  const db = openDatabase(options);
  const cache = new Map<string, Database.Statement>();
  const stmt = (text: string): Database.Statement => {
    let s = cache.get(text);
    if (!s) {
      s = db.prepare(text);
      cache.set(text, s);
    }
    return s;
  };
  const all = (text: string, params: readonly unknown[] = []): Row[] => stmt(text).all(...params) as Row[];
  const run = (text: string, params: readonly unknown[] = []): Database.RunResult =>
    stmt(text).run(...params);

  /** Turns driver errors into RAMPART_E_STORE, keeping the original as the cause. */
  const guard = async <T>(operation: string, fn: () => T): Promise<T> => {
    try {
      return fn();
    } catch (error) {
      if (error instanceof RampartError) throw error;
      throw new RampartError(
        'RAMPART_E_STORE',
        `state store (sqlite ${options.file}): ${operation} failed: ${(error as Error).message}`,
        {
          file: options.file,
        },
        { cause: error },
      );
    }
  };

  const migrate = db.transaction(() => {
    db.exec(SQL.createMigrationsTable);
    const applied = new Set((db.prepare(SQL.appliedVersions).all() as Row[]).map((r) => Number(r.version)));
    const newest = Math.max(0, ...applied);
    if (newest > LATEST_VERSION) {
      throw new RampartError(
        'RAMPART_E_STORE',
        `the state store ${options.file} has schema version ${newest}, newer than this Rampart knows (${LATEST_VERSION})`,
        { file: options.file, fix: 'Upgrade Rampart to the version that last wrote this state directory.' },
      );
    }
    for (const migration of MIGRATIONS) {
      if (applied.has(migration.version)) continue;
      for (const statement of migration.statements(d)) db.exec(statement);
      db.prepare(SQL.recordVersion).run(migration.version, migration.name, Date.now());
    }
  });

  return {
    // BEGIN IMMEDIATE takes the write lock before reading the applied versions, so two processes
    // migrating one file run one after the other (the second waits up to busyTimeoutMs, then finds
    // nothing to do) instead of both applying the same migration.
    migrate: () => guard('migrate', () => migrate.immediate()),
    close: async () => {
      if (db.open) db.close();
    },

    putDeployment: (record, now) =>
      guard('putDeployment', () => void run(SQL.putDeployment, deploymentParams(d, record, now))),
    getDeployment: (environment) =>
      guard('getDeployment', () => {
        const row = all(SQL.getDeployment, [environment])[0];
        return row ? rowToDeployment(d, row) : undefined;
      }),
    listDeployments: () =>
      guard('listDeployments', () =>
        sortDeployments(all(SQL.listDeployments).map((r) => rowToDeployment(d, r))),
      ),
    deleteDeployment: (environment) =>
      guard('deleteDeployment', () => void run(SQL.deleteDeployment, [environment])),

    putReplica: (record) => guard('putReplica', () => void run(SQL.putReplica, replicaParams(d, record))),
    listReplicas: (environment) =>
      guard('listReplicas', () => {
        const rows =
          environment === undefined ? all(SQL.listReplicas) : all(SQL.listReplicasOf, [environment]);
        return sortReplicas(rows.map((r) => rowToReplica(d, r)));
      }),
    deleteReplica: (key) =>
      guard(
        'deleteReplica',
        () => void run(SQL.deleteReplica, [key.environment, key.namespace, key.service, key.index]),
      ),
    deleteReplicas: (environment) =>
      guard('deleteReplicas', () => void run(SQL.deleteReplicas, [environment])),

    putSecret: (record, now) => guard('putSecret', () => void run(SQL.putSecret, secretParams(record, now))),
    listSecrets: (environment, owner) =>
      guard('listSecrets', () => {
        const rows =
          owner === undefined
            ? all(SQL.listSecrets, [environment])
            : all(SQL.listSecretsOf, [environment, owner]);
        return sortSecrets(rows.map(rowToSecret));
      }),
    deleteSecrets: (environment) => guard('deleteSecrets', () => void run(SQL.deleteSecrets, [environment])),

    putDocument: (record, now) =>
      guard('putDocument', () => void run(SQL.putDocument, documentParams(d, record, now))),
    getDocument: (kind, environment, key) =>
      guard('getDocument', () => {
        const row = all(SQL.getDocument, [kind, environment, key])[0];
        return row ? rowToDocument(d, row) : undefined;
      }),
    listDocuments: (kind, environment) =>
      guard('listDocuments', () =>
        all(SQL.listDocuments, [kind, environment]).map((r) => rowToDocument(d, r)),
      ),
    deleteDocument: (kind, environment, key) =>
      guard('deleteDocument', () => run(SQL.deleteDocument, [kind, environment, key]).changes > 0),
    deleteDocuments: (environment, kind) =>
      guard(
        'deleteDocuments',
        () =>
          void (kind === undefined
            ? run(SQL.deleteDocuments, [environment])
            : run(SQL.deleteDocumentsOfKind, [environment, kind])),
      ),

    appendEvent: (event) =>
      guard('appendEvent', () => Number((all(SQL.appendEvent, eventParams(d, event))[0] as Row).id)),
    listEvents: (query) =>
      guard('listEvents', () => {
        const { text, params } = eventsQuery(query);
        return all(text, params).map((r) => rowToEvent(d, r));
      }),
    pruneEvents: (beforeTime) => guard('pruneEvents', () => run(SQL.pruneEvents, [beforeTime]).changes),
  };
}

import pg from 'pg';
import { isRetryableError, withRetry } from '../databases/index.ts';
import { RampartError } from '../platform/errors.ts';
import {
  LATEST_VERSION,
  MIGRATIONS,
  POSTGRES,
  SQL,
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

export interface PostgresStoreOptions {
  /** `postgres://`, `postgresql://` or `cockroachdb://` URL (RAMPART_DATABASE_URL). */
  url: string;
  /** @default 10 */
  maxConnections?: number;
  /** An idle pooled connection failed (server restart…); without a listener pg would crash the process. */
  onIdleError?: (error: Error) => void;
}

type Row = Record<string, unknown>;

const INT8_OID = 20;

/**
 * BIGINT columns come back from pg as strings (they may exceed 2^53). Ours hold milliseconds and ids,
 * far below that, so parse them as numbers: per pool, never via the global pg.types, which the
 * services' own `pg` in the same process (tests) would inherit.
 */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary'
      ? (value: string) => Number(value)
      : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** Numbers `?` placeholders as `$1, $2, …` (our SQL has no `?` inside literals). */
export function numberPlaceholders(text: string): string {
  let n = 0;
  return text.replace(/\?/g, () => `$${++n}`);
}

/** The URL without its password, for error messages. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '<unparsable database URL>';
  }
}

/** pg's URL parser does not know the `cockroachdb://` scheme that CockroachDB tools print. */
function toPgConnectionString(url: string): string {
  return url.replace(/^cockroachdb:\/\//, 'postgresql://');
}

/** Error codes of a concurrent `CREATE TABLE IF NOT EXISTS` that lost the race on the catalog. */
// Losing a catalog race with a concurrent migrator: unique_violation on a catalog index, duplicate_table,
// or duplicate_object ('type "x" already exists', raised for the table's row type).
const CONCURRENT_DDL = new Set(['23505', '42P07', '42710']);

/**
 * The PostgreSQL / CockroachDB store. Every statement runs in a transaction through `withRetry`, so
 * CockroachDB's serialization failures (SQLSTATE 40001) are retried rather than surfaced.
 */
export async function openPostgresStore(options: PostgresStoreOptions): Promise<Store> {
  const d = POSTGRES;
  const where = redactUrl(options.url);
  const pool = new pg.Pool({
    connectionString: toPgConnectionString(options.url),
    max: options.maxConnections ?? 10,
    application_name: 'rampart',
    types,
  });
  pool.on('error', (error) => options.onIdleError?.(error));

  const fail = (operation: string, error: unknown): never => {
    if (error instanceof RampartError) throw error;
    const e = error as Error & { code?: string };
    throw new RampartError(
      'RAMPART_E_STORE',
      `state store (${where}): ${operation} failed: ${e.message}`,
      {
        sqlstate: e.code,
      },
      { cause: error },
    );
  };

  const tx = async <T>(operation: string, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> => {
    try {
      return await withRetry(pool, fn);
    } catch (error) {
      return fail(operation, error);
    }
  };
  const rows = (operation: string, text: string, params: readonly unknown[] = []): Promise<Row[]> =>
    tx(operation, async (c) => (await c.query(numberPlaceholders(text), params as unknown[])).rows as Row[]);
  const change = (operation: string, text: string, params: readonly unknown[] = []): Promise<number> =>
    tx(operation, async (c) => (await c.query(numberPlaceholders(text), params as unknown[])).rowCount ?? 0);

  // Ids come from a sequence, allocated at INSERT but visible at COMMIT: two concurrent appends could
  // become visible out of id order, and a tailer reading `afterId` would skip the earlier one for good.
  // Appending one at a time (per store; one daemon owns the state) keeps visibility in id order.
  let appendQueue: Promise<unknown> = Promise.resolve();

  const migrate = async (): Promise<void> => {
    try {
      await pool.query(SQL.createMigrationsTable);
    } catch (error) {
      // Two daemons creating the table at the same moment: one wins, the other sees it afterwards.
      if (!CONCURRENT_DDL.has((error as { code?: string }).code ?? '')) fail('migrate', error);
    }
    const applied = await rows('migrate', SQL.appliedVersions);
    const appliedVersions = new Set(applied.map((r) => Number(r.version)));
    const newest = Math.max(0, ...appliedVersions);
    if (newest > LATEST_VERSION) {
      throw new RampartError(
        'RAMPART_E_STORE',
        `the state store ${where} has schema version ${newest}, newer than this Rampart knows (${LATEST_VERSION})`,
        { fix: 'Upgrade Rampart to the version that last wrote this database.' },
      );
    }
    for (const migration of MIGRATIONS) {
      if (appliedVersions.has(migration.version)) continue;
      try {
        await withRetry(
          pool,
          async (c) => {
            const done = await c.query(numberPlaceholders(SQL.isApplied), [migration.version]);
            if ((done.rowCount ?? 0) > 0) return;
            // DDL before the bookkeeping INSERT: CockroachDB rejects a schema change that follows a
            // write in the same transaction. A concurrent migrator that loses the race on the catalog
            // (23505/42P07 on PostgreSQL, 40001 on CockroachDB) retries and then finds the version.
            for (const statement of migration.statements(d)) await c.query(statement);
            await c.query(numberPlaceholders(SQL.recordVersion), [
              migration.version,
              migration.name,
              Date.now(),
            ]);
          },
          {
            retryOn: (error) =>
              isRetryableError(error) || CONCURRENT_DDL.has((error as { code?: string }).code ?? ''),
          },
        );
      } catch (error) {
        fail('migrate', error);
      }
    }
  };

  let closed = false;
  return {
    migrate,
    close: async () => {
      if (closed) return;
      closed = true;
      await pool.end();
    },

    putDeployment: async (record, now) =>
      void (await change('putDeployment', SQL.putDeployment, deploymentParams(d, record, now))),
    getDeployment: async (environment) => {
      const [row] = await rows('getDeployment', SQL.getDeployment, [environment]);
      return row ? rowToDeployment(d, row) : undefined;
    },
    listDeployments: async () =>
      sortDeployments((await rows('listDeployments', SQL.listDeployments)).map((r) => rowToDeployment(d, r))),
    deleteDeployment: async (environment) =>
      void (await change('deleteDeployment', SQL.deleteDeployment, [environment])),

    putReplica: async (record) => void (await change('putReplica', SQL.putReplica, replicaParams(d, record))),
    listReplicas: async (environment) => {
      const found =
        environment === undefined
          ? await rows('listReplicas', SQL.listReplicas)
          : await rows('listReplicas', SQL.listReplicasOf, [environment]);
      return sortReplicas(found.map((r) => rowToReplica(d, r)));
    },
    deleteReplica: async (key) =>
      void (await change('deleteReplica', SQL.deleteReplica, [
        key.environment,
        key.namespace,
        key.service,
        key.index,
      ])),
    deleteReplicas: async (environment) =>
      void (await change('deleteReplicas', SQL.deleteReplicas, [environment])),

    putSecret: async (record, now) =>
      void (await change('putSecret', SQL.putSecret, secretParams(record, now))),
    listSecrets: async (environment, owner) => {
      const found =
        owner === undefined
          ? await rows('listSecrets', SQL.listSecrets, [environment])
          : await rows('listSecrets', SQL.listSecretsOf, [environment, owner]);
      return sortSecrets(found.map(rowToSecret));
    },
    deleteSecrets: async (environment) =>
      void (await change('deleteSecrets', SQL.deleteSecrets, [environment])),

    putDocument: async (record, now) =>
      void (await change('putDocument', SQL.putDocument, documentParams(d, record, now))),
    getDocument: async (kind, environment, key) => {
      const [row] = await rows('getDocument', SQL.getDocument, [kind, environment, key]);
      return row ? rowToDocument(d, row) : undefined;
    },
    listDocuments: async (kind, environment) =>
      (await rows('listDocuments', SQL.listDocuments, [kind, environment])).map((r) => rowToDocument(d, r)),
    deleteDocument: async (kind, environment, key) =>
      (await change('deleteDocument', SQL.deleteDocument, [kind, environment, key])) > 0,
    deleteDocuments: async (environment, kind) =>
      void (kind === undefined
        ? await change('deleteDocuments', SQL.deleteDocuments, [environment])
        : await change('deleteDocuments', SQL.deleteDocumentsOfKind, [environment, kind])),

    appendEvent: (event) => {
      const next = appendQueue.then(async () => {
        const [row] = await rows('appendEvent', SQL.appendEvent, eventParams(d, event));
        return Number((row as Row).id);
      });
      appendQueue = next.catch(() => undefined);
      return next;
    },
    listEvents: async (query) => {
      const { text, params } = eventsQuery(query);
      return (await rows('listEvents', text, params)).map((r) => rowToEvent(d, r));
    },
    pruneEvents: (beforeTime) => change('pruneEvents', SQL.pruneEvents, [beforeTime]),
  };
}

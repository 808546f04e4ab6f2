export type {
  DeploymentRecord,
  EventQuery,
  EventRecord,
  ReplicaRecord,
  SecretRecord,
  Store,
} from './types.ts';
export { STATE_DB_FILE, openStore } from './open.ts';
export type { OpenStoreOptions } from './open.ts';
export { openSqliteStore } from './sqlite.ts';
export type { SqliteStoreOptions } from './sqlite.ts';
export { openPostgresStore } from './postgres.ts';
export type { PostgresStoreOptions } from './postgres.ts';
export { SECRET_KEY_FILE, decryptSecret, encryptSecret, loadOrCreateSecretKey } from './secrets.ts';

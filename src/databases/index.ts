export { SERIALIZATION_FAILURE, isRetryableError, withRetry } from './retry.ts';
export type { RetryOptions, TransactionClient, TransactionPool } from './retry.ts';
export {
  PG_HBA_FILE,
  POSTGRES_BIN_DIR,
  POSTGRES_MAJOR,
  POSTGRES_SUPERUSER,
  POSTGRES_USER,
  asUser,
  assertPostgresInstalled,
  postgresServerCommand,
  preparePostgresData,
  renderPgHba,
  writePgHba,
} from './postgres.ts';
export type {
  HbaGrant,
  PgHbaOptions,
  PostgresServerCommandOptions,
  PreparePostgresDataOptions,
} from './postgres.ts';
export { provisionPostgres, roleNameFor, scramVerifier } from './provision.ts';
export type { ProvisionPostgresOptions, ProvisionedUser } from './provision.ts';
export { COCKROACH_BINARY, cockroachServerCommand, findCockroach } from './cockroach.ts';
export type { CockroachServerCommandOptions } from './cockroach.ts';

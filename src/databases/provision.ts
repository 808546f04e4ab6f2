import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import pg from 'pg';
import { RampartError } from '../platform/errors.ts';
import { POSTGRES_SUPERUSER } from './postgres.ts';
import { withRetry } from './retry.ts';

/** Role names a service may not take: they are, or would shadow, built-in roles. */
const RESERVED_ROLES = new Set([
  POSTGRES_SUPERUSER,
  'public',
  'none',
  'current_user',
  'session_user',
  'current_role',
  'root',
  'admin',
]);
const NAME = /^[a-z0-9_][a-z0-9_-]*$/;

/** The database role (and schema) of a service: its name with `-` turned into `_`. */
export function roleNameFor(service: string): string {
  const role = service.replaceAll('-', '_');
  if (!NAME.test(role) || role.length > 63) {
    throw new RampartError('RAMPART_E_DATABASE', `service '${service}' cannot name a database role`);
  }
  if (RESERVED_ROLES.has(role) || role.startsWith('pg_') || role.startsWith('crdb_')) {
    throw new RampartError(
      'RAMPART_E_DATABASE',
      `service '${service}' would get the reserved database role '${role}'`,
      {
        fix: `Rename the service; '${role}' is a built-in role of PostgreSQL or CockroachDB.`,
      },
    );
  }
  return role;
}

export interface ProvisionPostgresOptions {
  /** Host name the services use (it goes into DATABASE_URL), e.g. the database's service name. */
  host: string;
  port: number;
  superuserPassword: string;
  database: string;
  users: readonly { service: string; password: string }[];
  /**
   * Where the control plane connects: an address, or an absolute path to the server's unix socket
   * directory (preferred: pg_hba then needs no TCP superuser line). @default host
   */
  connectHost?: string;
}

export interface ProvisionedUser {
  service: string;
  role: string;
  /** `postgres://<role>:<password>@<host>:<port>/<database>`; the schema comes from the role's search_path. */
  databaseUrl: string;
}

/**
 * Makes the database match the stack, idempotently: the database, one LOGIN role per service (its
 * password reset every time, so rotation is a re-run), one schema per role owned by it and first on
 * its search_path, and nothing for PUBLIC: no CONNECT/TEMP on the database, no USAGE on `public`, so
 * a service sees only its own schema. Finally reloads the config so a rewritten pg_hba.conf applies.
 * Run one provisioner at a time (the daemon lock ensures it); role creation is check-then-create.
 */
export async function provisionPostgres(options: ProvisionPostgresOptions): Promise<ProvisionedUser[]> {
  const { database } = options;
  if (
    !NAME.test(database) ||
    database.length > 63 ||
    RESERVED_ROLES.has(database) ||
    database.startsWith('pg_')
  ) {
    throw new RampartError('RAMPART_E_DATABASE', `'${database}' cannot be a database name`);
  }
  const users = options.users.map((u) => ({ ...u, role: roleNameFor(u.service) }));
  const id = pg.escapeIdentifier;
  const connect = (db: string) =>
    new pg.Pool({
      host: options.connectHost ?? options.host,
      port: options.port,
      user: POSTGRES_SUPERUSER,
      password: options.superuserPassword,
      database: db,
      max: 1,
      application_name: 'rampart-provision',
    });
  const fail = (error: unknown): never => {
    if (error instanceof RampartError) throw error;
    const e = error as Error & { code?: string };
    throw new RampartError(
      'RAMPART_E_DATABASE',
      `provisioning database '${database}' failed: ${e.message}`,
      { sqlstate: e.code },
      { cause: error },
    );
  };

  const admin = connect('postgres');
  admin.on('error', () => undefined);
  try {
    const exists = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [database]);
    if (exists.rowCount === 0) {
      // CREATE DATABASE cannot run inside a transaction block.
      await admin.query(`CREATE DATABASE ${id(database)}`).catch((error: { code?: string }) => {
        if (error.code !== '42P04') throw error; // duplicate_database: created meanwhile
      });
    }
    for (const user of users) {
      const attributes = `LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION PASSWORD ${pg.escapeLiteral(scramVerifier(user.password))}`;
      await withRetry(admin, async (c) => {
        const role = await c.query('SELECT 1 FROM pg_roles WHERE rolname = $1', [user.role]);
        await c.query(`${role.rowCount === 0 ? 'CREATE' : 'ALTER'} ROLE ${id(user.role)} ${attributes}`);
      });
    }
  } catch (error) {
    fail(error);
  } finally {
    await admin.end();
  }

  const target = connect(database);
  target.on('error', () => undefined);
  try {
    await withRetry(target, async (c) => {
      await c.query(`REVOKE ALL ON DATABASE ${id(database)} FROM PUBLIC`);
      await c.query('REVOKE ALL ON SCHEMA public FROM PUBLIC');
      for (const { role } of users) {
        await c.query(`GRANT CONNECT ON DATABASE ${id(database)} TO ${id(role)}`);
        await c.query(`CREATE SCHEMA IF NOT EXISTS ${id(role)} AUTHORIZATION ${id(role)}`);
        // The schema may predate the role's ownership (created by hand, or the role was recreated).
        await c.query(`ALTER SCHEMA ${id(role)} OWNER TO ${id(role)}`);
        await c.query(`REVOKE ALL ON SCHEMA ${id(role)} FROM PUBLIC`);
        await c.query(`ALTER ROLE ${id(role)} IN DATABASE ${id(database)} SET search_path TO ${id(role)}`);
      }
    });
    await target.query('SELECT pg_reload_conf()');
  } catch (error) {
    fail(error);
  } finally {
    await target.end();
  }

  return users.map(({ service, role, password }) => ({
    service,
    role,
    databaseUrl: `postgres://${encodeURIComponent(role)}:${encodeURIComponent(password)}@${options.host}:${options.port}/${encodeURIComponent(database)}`,
  }));
}

/**
 * The SCRAM-SHA-256 verifier PostgreSQL would store for `password` (RFC 5802/7677), computed here
 * so the plaintext never travels in a statement the server might log (log_min_error_statement).
 * Non-ASCII passwords would need SASLprep first; those are sent as they are and hashed by the server.
 */
export function scramVerifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  if (!/^[\x20-\x7e]*$/.test(password)) return password;
  const salted = pbkdf2Sync(password, salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

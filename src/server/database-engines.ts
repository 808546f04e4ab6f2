import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import {
  COCKROACH_BINARY,
  findCockroach,
  postgresServerCommand,
  preparePostgresData,
  provisionPostgres,
  roleNameFor,
  writePgHba,
} from '../databases/index.ts';
import type { DatabaseEngines } from '../orchestrator/index.ts';
import { databaseName } from '../orchestrator/index.ts';
import type { Exec } from '../platform/exec.ts';
import { SERVICE_USER } from '../platform/names.ts';
import pg from 'pg';

/**
 * An `--insecure` single node has no passwords: one database, one user per service with rights on
 * it. Isolation rests on the namespace and the firewall (development stacks only; not run here, as no
 * cockroach binary can be installed on this machine).
 */
async function provisionCockroach(opts: {
  address: string;
  port: number;
  database: string;
  services: readonly string[];
}): Promise<void> {
  const client = new pg.Client({
    connectionString: `postgresql://root@${opts.address}:${opts.port}/defaultdb?sslmode=disable`,
  });
  await client.connect();
  try {
    await client.query(`CREATE DATABASE IF NOT EXISTS ${opts.database}`);
    for (const service of opts.services) {
      const role = roleNameFor(service);
      await client.query(`CREATE USER IF NOT EXISTS ${role}`);
      await client.query(`GRANT ALL ON DATABASE ${opts.database} TO ${role}`);
    }
  } finally {
    await client.end();
  }
}

/**
 * The controller's view of managed databases, over databases/: a PostgreSQL data directory and
 * socket per environment and database under `<dataDir>/<env>/<db>`, kept across `down`/`up`.
 */
export function createDatabaseEngines(opts: { exec: Exec; dataDir: string }): DatabaseEngines {
  const dirs = (environment: string, db: string) => {
    const root = join(opts.dataDir, environment, db);
    return { root, data: join(root, 'pgdata'), socket: join(root, 'run'), store: join(root, 'cockroach') };
  };
  return {
    async prepare({ environment, db, superuserPassword, dbSubnet, users }) {
      const d = dirs(environment, db.name);
      if (db.engine === 'cockroachdb') {
        await findCockroach(opts.exec);
        await mkdir(d.root, { recursive: true, mode: 0o711 });
        await mkdir(d.store, { recursive: true, mode: 0o700 });
        // The node runs as the unprivileged service user, which must own its store.
        await opts.exec(['chown', '-R', `${SERVICE_USER}:${SERVICE_USER}`, d.store]);
        return;
      }
      await mkdir(d.root, { recursive: true, mode: 0o711 });
      await preparePostgresData({ exec: opts.exec, dataDir: d.data, socketDir: d.socket, superuserPassword });
      await writePgHba({
        dataDir: d.data,
        dbSubnet,
        grants: users.map((service) => ({ database: databaseName(db.name), role: roleNameFor(service) })),
      });
    },

    command({ environment, db, address }) {
      const d = dirs(environment, db.name);
      if (db.engine === 'cockroachdb') {
        return {
          argv: [
            COCKROACH_BINARY,
            'start-single-node',
            '--insecure',
            `--listen-addr=${address}:${db.port}`,
            `--store=${d.store}`,
            `--http-addr=${address}:0`,
          ],
          user: SERVICE_USER,
          cwd: d.root,
        };
      }
      const cmd = postgresServerCommand({
        dataDir: d.data,
        listenAddress: address,
        port: db.port,
        socketDir: d.socket,
        parameters: db.parameters,
      });
      return { argv: cmd.argv, user: cmd.user, cwd: d.root };
    },

    async provision({ environment, db, address, superuserPassword, users }) {
      const d = dirs(environment, db.name);
      if (db.engine === 'cockroachdb') {
        await provisionCockroach({
          address,
          port: db.port,
          database: databaseName(db.name),
          services: users.map((u) => u.service),
        });
        return;
      }
      // The port answers before the server accepts sessions (first start, crash recovery): retry
      // while PostgreSQL says it is starting up (SQLSTATE 57P03) or the socket is not there yet.
      const deadline = Date.now() + 60_000;
      for (;;) {
        try {
          await provisionPostgres({
            host: `${db.name}.${db.namespace}`,
            port: db.port,
            superuserPassword,
            database: databaseName(db.name),
            users,
            connectHost: d.socket,
          });
          return;
        } catch (error) {
          const text = `${(error as Error).message} ${String((error as { cause?: { code?: string } }).cause?.code ?? '')}`;
          if (Date.now() > deadline || !/starting up|57P03|ECONNREFUSED|ENOENT/.test(text)) throw error;
          await new Promise((r) => setTimeout(r, 200));
        }
      }
    },
  };
}

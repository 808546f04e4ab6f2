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
import type { DatabaseEngines } from '../orchestrator/controller.ts';
import { databaseName } from '../orchestrator/plan.ts';
import type { Exec } from '../platform/exec.ts';

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
        await mkdir(d.store, { recursive: true, mode: 0o700 });
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
          argv: [COCKROACH_BINARY, 'start-single-node', '--insecure', `--listen-addr=${address}:${db.port}`, `--store=${d.store}`, `--http-addr=${address}:0`],
          user: 'nobody',
          cwd: d.root,
        };
      }
      const cmd = postgresServerCommand({ dataDir: d.data, listenAddress: address, port: db.port, socketDir: d.socket });
      return { argv: cmd.argv, user: cmd.user, cwd: d.root };
    },

    async provision({ environment, db, superuserPassword, users }) {
      const d = dirs(environment, db.name);
      await provisionPostgres({
        host: `${db.name}.${db.namespace}`,
        port: db.port,
        superuserPassword,
        database: databaseName(db.name),
        users,
        connectHost: db.engine === 'postgres' ? d.socket : undefined,
      });
    },
  };
}

import { constants } from 'node:fs';
import { access, chmod, mkdir, mkdtemp, readFile, readdir, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { Exec } from '../platform/exec.ts';
import { RampartError } from '../platform/errors.ts';

/** Debian's PostgreSQL 15 server binaries (package postgresql-15). */
export const POSTGRES_BIN_DIR = '/usr/lib/postgresql/15/bin';
export const POSTGRES_MAJOR = '15';
/** The OS user the server runs as: PostgreSQL refuses to run as root. */
export const POSTGRES_USER = 'postgres';
/** The superuser role created by initdb. */
export const POSTGRES_SUPERUSER = 'postgres';
export const PG_HBA_FILE = 'pg_hba.conf';

/** Prefixes `argv` so it runs as `user` (and its primary group only) through the Exec seam. */
export function asUser(user: string, argv: readonly string[]): string[] {
  return ['setpriv', `--reuid=${user}`, `--regid=${user}`, '--clear-groups', '--', ...argv];
}

export async function assertPostgresInstalled(binDir: string = POSTGRES_BIN_DIR): Promise<void> {
  try {
    await access(join(binDir, 'postgres'), constants.X_OK);
    await access(join(binDir, 'initdb'), constants.X_OK);
  } catch {
    throw new RampartError(
      'RAMPART_E_DATABASE_ENGINE',
      `engine postgres needs the PostgreSQL ${POSTGRES_MAJOR} server in ${binDir}`,
      {
        fix: `apt-get install postgresql-${POSTGRES_MAJOR} (or rampart doctor --fix)`,
      },
    );
  }
}

export interface PreparePostgresDataOptions {
  exec: Exec;
  /** Created owned by postgres, mode 0700; missing parents are created mode 0711. */
  dataDir: string;
  superuserPassword: string;
  /** Also created owned by postgres, mode 0700, when given: where the server puts its unix socket. */
  socketDir?: string;
  /** @default POSTGRES_BIN_DIR */
  binDir?: string;
}

/**
 * Initialises a cluster in `dataDir` unless one is there already (`PG_VERSION` exists), so data
 * survives `down` / `up`. Authentication is scram-sha-256 everywhere from the first start: the
 * superuser password comes from a temporary file only postgres can read, never from argv.
 */
export async function preparePostgresData(
  options: PreparePostgresDataOptions,
): Promise<{ created: boolean }> {
  const { exec, dataDir } = options;
  const binDir = options.binDir ?? POSTGRES_BIN_DIR;
  if (options.socketDir) await makeOwnedDir(exec, options.socketDir);

  const version = await readFile(join(dataDir, 'PG_VERSION'), 'utf8').catch(() => undefined);
  if (version !== undefined) {
    if (version.trim() !== POSTGRES_MAJOR) {
      throw new RampartError(
        'RAMPART_E_DATABASE',
        `${dataDir} holds a PostgreSQL ${version.trim()} cluster; this host runs PostgreSQL ${POSTGRES_MAJOR}`,
        {
          file: dataDir,
          fix: `Upgrade the cluster with pg_upgrade, or install postgresql-${version.trim()}.`,
        },
      );
    }
    return { created: false };
  }
  const leftovers = await readdir(dataDir).catch(() => []);
  if (leftovers.length > 0) {
    throw new RampartError(
      'RAMPART_E_DATABASE',
      `${dataDir} is not empty but holds no PostgreSQL cluster (no PG_VERSION)`,
      {
        file: dataDir,
        fix: `Move ${dataDir} away (it may be a half-finished initdb) and run the command again.`,
      },
    );
  }
  await assertPostgresInstalled(binDir);
  await makeOwnedDir(exec, dataDir);

  // mkdtemp gives 0700 root:root; hand it to postgres so initdb can read the password file inside.
  const secretDir = await mkdtemp(join(tmpdir(), 'rampart-initdb-'));
  try {
    const pwfile = join(secretDir, 'pwfile');
    await writeFile(pwfile, `${options.superuserPassword}\n`, { mode: 0o600 });
    await exec(['chown', '-R', `${POSTGRES_USER}:${POSTGRES_USER}`, secretDir]);
    await exec(
      asUser(POSTGRES_USER, [
        join(binDir, 'initdb'),
        '-D',
        dataDir,
        '-U',
        POSTGRES_SUPERUSER,
        '--auth-local=scram-sha-256',
        '--auth-host=scram-sha-256',
        `--pwfile=${pwfile}`,
        // C collation: byte order, identical on every host, no dependency on installed locales.
        '--encoding=UTF8',
        '--locale=C',
      ]),
      // postgres cannot read root's working directory; initdb warns and may fail on it.
      { cwd: '/' },
    );
  } finally {
    await rm(secretDir, { recursive: true, force: true });
  }
  return { created: true };
}

/** mkdir -p with traversable (0711) parents, then the leaf owned by postgres with mode 0700. */
async function makeOwnedDir(exec: Exec, dir: string): Promise<void> {
  await mkdir(dirname(dir), { recursive: true, mode: 0o711 });
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  await exec(['chown', `${POSTGRES_USER}:${POSTGRES_USER}`, dir]);
  // Parents that existed before (e.g. /root, mode 0700) may still block the postgres user: ask it.
  const probe = await exec(asUser(POSTGRES_USER, ['test', '-x', dir]), { allowFailure: true, cwd: '/' });
  if (probe.code !== 0) {
    throw new RampartError(
      'RAMPART_E_DATABASE_ENGINE',
      `the ${POSTGRES_USER} user cannot reach ${dir}: a parent directory is not searchable by it`,
      {
        file: dir,
        fix: `Let it traverse the parents (chmod o+x on each, or setfacl -m u:${POSTGRES_USER}:x), or move the state directory (RAMPART_HOME) outside a private home such as /root.`,
      },
    );
  }
}

export interface PostgresServerCommandOptions {
  dataDir: string;
  /** The one address the server listens on (the database's address on the db network). */
  listenAddress: string;
  port: number;
  socketDir: string;
  /** @default POSTGRES_BIN_DIR */
  binDir?: string;
  /** The stack's `parameters`: postgresql.conf settings, as `-c name=value`. */
  parameters?: Readonly<Record<string, string>>;
}

/** The server process for the supervisor to run (in the database's namespace) as `user`. */
export function postgresServerCommand(options: PostgresServerCommandOptions): {
  argv: string[];
  user: string;
} {
  return {
    argv: [
      join(options.binDir ?? POSTGRES_BIN_DIR, 'postgres'),
      '-D',
      options.dataDir,
      '-c',
      `listen_addresses=${options.listenAddress}`,
      '-p',
      String(options.port),
      '-c',
      `unix_socket_directories=${options.socketDir}`,
      '-c',
      `hba_file=${join(options.dataDir, PG_HBA_FILE)}`,
      // The stack's settings (the stack file refuses the ones above).
      ...Object.entries(options.parameters ?? {}).flatMap(([name, value]) => ['-c', `${name}=${value}`]),
    ],
    user: POSTGRES_USER,
  };
}

export interface HbaGrant {
  database: string;
  role: string;
}

export interface PgHbaOptions {
  dataDir: string;
  /** CIDR of the environment's db network: the only place service connections may come from. */
  dbSubnet: string;
  grants: readonly HbaGrant[];
  /**
   * Addresses (CIDR) from which the superuser may connect over TCP, e.g. the control plane's address
   * on the db bridge. Empty by default: provision over the unix socket instead.
   */
  superuserFrom?: readonly string[];
}

/** Plain names only: no quotes, commas, `+group`, `@file` or whitespace can reach the file. */
const HBA_TOKEN = /^[a-z0-9_][a-z0-9_-]*$/;
const IPV4_CIDR = /^(\d{1,3}\.){3}\d{1,3}\/\d{1,2}$/;

/**
 * pg_hba.conf as text. The first matching line wins and no match means rejection, so listing only
 * what is allowed denies everything else: the superuser over the local socket (password required),
 * each (database, role) pair from the db subnet, all with scram-sha-256.
 */
export function renderPgHba(options: Omit<PgHbaOptions, 'dataDir'>): string {
  const cidrs = [options.dbSubnet, ...(options.superuserFrom ?? [])];
  for (const cidr of cidrs) {
    if (!IPV4_CIDR.test(cidr))
      throw new RampartError('RAMPART_E_DATABASE', `pg_hba.conf: '${cidr}' is not an IPv4 CIDR`);
  }
  for (const { database, role } of options.grants) {
    // Names reach the file verbatim; anything else could smuggle in a line or a keyword like `all`.
    for (const name of [database, role]) {
      if (
        !HBA_TOKEN.test(name) ||
        name === 'all' ||
        name === 'sameuser' ||
        name === 'samerole' ||
        name === 'replication'
      ) {
        throw new RampartError(
          'RAMPART_E_DATABASE',
          `pg_hba.conf: '${name}' is not a plain database or role name`,
        );
      }
    }
  }
  const lines = [
    '# Written by Rampart; rewritten on every deploy. Anything not listed here is rejected.',
    '# TYPE  DATABASE  USER  ADDRESS  METHOD',
    `local all ${POSTGRES_SUPERUSER} scram-sha-256`,
    ...(options.superuserFrom ?? []).map((cidr) => `host all ${POSTGRES_SUPERUSER} ${cidr} scram-sha-256`),
    ...options.grants.map(
      ({ database, role }) => `host ${database} ${role} ${options.dbSubnet} scram-sha-256`,
    ),
  ];
  return `${lines.join('\n')}\n`;
}

/**
 * Writes `<dataDir>/pg_hba.conf` atomically (readable by postgres, which reads it on start and on
 * reload; it holds no secrets). A running server picks up changes on `pg_reload_conf()`, which
 * `provisionPostgres` calls.
 */
export async function writePgHba(options: PgHbaOptions): Promise<void> {
  const file = join(options.dataDir, PG_HBA_FILE);
  const temporary = `${file}.rampart.tmp`;
  await writeFile(temporary, renderPgHba(options), { mode: 0o644 });
  await chmod(temporary, 0o644);
  await rename(temporary, file);
}

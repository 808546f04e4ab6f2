import { randomBytes } from 'node:crypto';
import { chmod, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { POSTGRES_BIN_DIR, POSTGRES_USER, asUser, preparePostgresData } from '../databases/index.ts';
import { realExec, type Exec } from '../platform/exec.ts';

export interface TestPostgres {
  /** `postgres://postgres:<password>@127.0.0.1:<port>/postgres` (the superuser). */
  url: string;
  host: string;
  port: number;
  superuserPassword: string;
  /** Where the server's unix socket is (`host` for a socket connection). */
  socketDir: string;
  /** Stops the server (fast shutdown) and removes its directory; safe to call twice. */
  stop(): Promise<void>;
}

export interface StartPostgresForTestOptions {
  /** @default realExec */
  exec?: Exec;
  /** @default POSTGRES_BIN_DIR */
  binDir?: string;
}

/** A port that was free a moment ago (bind 127.0.0.1:0, read, close). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

/** Why a PostgreSQL-backed test cannot run here, or undefined if it can (needs root and the server). */
export function postgresTestSkipReason(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root (the server runs as the postgres user)';
  return undefined;
}

/**
 * A real PostgreSQL 15 server for tests: a fresh cluster in a temp dir, run as the `postgres` OS
 * user (the server refuses root), listening on 127.0.0.1 on a free port with its socket in the same
 * dir. fsync is off: the data is thrown away. Must run as root.
 */
export async function startPostgresForTest(options: StartPostgresForTestOptions = {}): Promise<TestPostgres> {
  const exec = options.exec ?? realExec;
  const binDir = options.binDir ?? POSTGRES_BIN_DIR;
  const dir = await mkdtemp(join(tmpdir(), 'rampart-pg-'));
  // mkdtemp makes it 0700 root: postgres must be able to traverse it to reach its data and socket.
  await chmod(dir, 0o711);
  const dataDir = join(dir, 'data');
  const socketDir = join(dir, 'run');
  const logFile = join(socketDir, 'server.log');
  const superuserPassword = randomBytes(18).toString('base64url');
  const pgctl = (args: string[], allowFailure = false) =>
    exec(asUser(POSTGRES_USER, [join(binDir, 'pg_ctl'), '-D', dataDir, ...args]), {
      cwd: '/',
      allowFailure,
      timeoutMs: 60_000,
    });

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    await pgctl(['stop', '-m', 'fast', '-w'], true);
    await rm(dir, { recursive: true, force: true });
  };

  try {
    await preparePostgresData({ exec, dataDir, socketDir, superuserPassword, binDir });
    // Another process may take the port between freePort() and the bind: try a few.
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const serverOptions = `-c listen_addresses=127.0.0.1 -p ${port} -c unix_socket_directories=${socketDir} -c fsync=off`;
      const started = await pgctl(
        ['start', '-w', '-t', '60', '-l', logFile, '-o', serverOptions],
        attempt < 3,
      );
      if (started.code === 0) {
        const host = '127.0.0.1';
        return {
          url: `postgres://postgres:${encodeURIComponent(superuserPassword)}@${host}:${port}/postgres`,
          host,
          port,
          superuserPassword,
          socketDir,
          stop,
        };
      }
    }
  } catch (error) {
    await stop();
    throw error;
  }
}

import type { Exec } from '../platform/exec.ts';
import { RampartError } from '../platform/errors.ts';

export const COCKROACH_BINARY = 'cockroach';

const MISSING_FIX =
  'Install CockroachDB so that `cockroach` is on the PATH of the Rampart daemon ' +
  '(https://www.cockroachlabs.com/docs/stable/install-cockroachdb-linux: unpack the release tarball and copy ' +
  'cockroach to /usr/local/bin), then run `cockroach version` to check; or set `engine: postgres` for this database.';

/** Checks that `cockroach` runs here and returns its version line. */
export async function findCockroach(exec: Exec): Promise<{ binary: string; version: string }> {
  let result;
  try {
    result = await exec([COCKROACH_BINARY, 'version', '--build-tag'], {
      allowFailure: true,
      timeoutMs: 10_000,
    });
  } catch (error) {
    throw new RampartError(
      'RAMPART_E_DATABASE_ENGINE',
      'engine cockroachdb needs the cockroach binary on PATH, and there is none',
      { binary: COCKROACH_BINARY, fix: MISSING_FIX },
      { cause: error },
    );
  }
  if (result.code !== 0) {
    throw new RampartError(
      'RAMPART_E_DATABASE_ENGINE',
      `engine cockroachdb: \`cockroach version\` exited with ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`,
      { binary: COCKROACH_BINARY, fix: MISSING_FIX },
    );
  }
  return { binary: COCKROACH_BINARY, version: result.stdout.trim() };
}

export interface CockroachServerCommandOptions {
  exec: Exec;
  /** The node's store directory (its data survives down / up like a PostgreSQL data directory). */
  storeDir: string;
  listenAddress: string;
  port: number;
}

/**
 * A single-node CockroachDB for the supervisor to run in the database's namespace. `--insecure`
 * means no TLS and no password authentication: isolation rests on the namespace and the firewall
 * alone, so this engine is for development stacks. The HTTP console gets a random port.
 */
export async function cockroachServerCommand(
  options: CockroachServerCommandOptions,
): Promise<{ argv: string[] }> {
  const { binary } = await findCockroach(options.exec);
  return {
    argv: [
      binary,
      'start-single-node',
      '--insecure',
      `--listen-addr=${options.listenAddress}:${options.port}`,
      `--store=${options.storeDir}`,
      `--http-addr=${options.listenAddress}:0`,
    ],
  };
}

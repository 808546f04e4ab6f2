import { resolve } from 'node:path';
import { RampartError } from '../platform/errors.ts';
import { resolveVulnConfig, type ResolvedVulnConfig } from '../vuln/config.ts';

/** The control plane's settings, resolved once at the edge from the environment. */
export interface ResolvedDaemonConfig {
  /** State directory: store, token, secret key, logs, database data. @default /var/lib/rampart */
  readonly stateDir: string;
  /** The API listens here only; never on a public address. @default 127.0.0.1 */
  readonly host: string;
  /** @default 7420; 0 picks a free port (tests) */
  readonly port: number;
  /** PostgreSQL/CockroachDB URL for the state store; embedded SQLite when absent. */
  readonly databaseUrl: string | undefined;
  /** Advisory source and polling (RAMPART_ADVISORIES, RAMPART_ADVISORIES_URL, RAMPART_VULN_POLL...). */
  readonly vuln: ResolvedVulnConfig;
  /**
   * The daemon's environment, from which a stack's `ci:` rule takes its `${VAR}` secrets (a GitLab
   * trigger token, a webhook key); read here once, never from `process.env` deeper down.
   */
  readonly secretsEnv: Readonly<Record<string, string | undefined>>;
}

export const DEFAULT_STATE_DIR = '/var/lib/rampart';
export const DEFAULT_PORT = 7420;

export function resolveDaemonConfig(env: Readonly<Record<string, string | undefined>>): ResolvedDaemonConfig {
  const portText = env.RAMPART_PORT ?? String(DEFAULT_PORT);
  const port = Number(portText);
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    throw new RampartError('RAMPART_E_BAD_REQUEST', `RAMPART_PORT=${portText} is not a port`, {
      field: 'RAMPART_PORT',
      fix: 'set RAMPART_PORT to an integer 0..65535',
    });
  }
  return Object.freeze({
    stateDir: resolve(env.RAMPART_HOME ?? DEFAULT_STATE_DIR),
    host: '127.0.0.1',
    port,
    databaseUrl: env.RAMPART_DATABASE_URL || undefined,
    vuln: resolveVulnConfig(env),
    secretsEnv: Object.freeze({ ...env }),
  });
}

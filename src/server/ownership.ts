import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RampartError } from '../platform/errors.ts';

/**
 * Environment names are global to the host (bridges, namespaces and nft tables carry them), while
 * several daemons with different state directories may run on one host (a developer's and a test's).
 * A claim file `<dir>/<env>` holds the state directory that owns the environment, so one daemon's
 * crash cleanup never removes another daemon's environment. /run is emptied at boot, as are the
 * kernel objects the claims describe.
 */
export const DEFAULT_OWNERS_DIR = '/run/rampart/environments';

export class EnvironmentOwnership {
  constructor(
    private readonly dir: string,
    private readonly stateDir: string,
  ) {}

  /** Claims `env` for this state directory; refuses one another state directory owns. */
  claim(env: string): void {
    const owner = this.owner(env);
    if (owner !== undefined && owner !== this.stateDir) {
      throw new RampartError(
        'RAMPART_E_CONFLICT',
        `environment ${env} belongs to the Rampart state directory ${owner}`,
        {
          field: 'environment',
          fix: `use another environment name (--env), or run \`rampart down\` with RAMPART_HOME=${owner}`,
        },
      );
    }
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    writeFileSync(join(this.dir, env), this.stateDir, { mode: 0o600 });
  }

  release(env: string): void {
    if (this.owner(env) === this.stateDir) rmSync(join(this.dir, env), { force: true });
  }

  owner(env: string): string | undefined {
    try {
      return readFileSync(join(this.dir, env), 'utf8');
    } catch {
      return undefined;
    }
  }

  /** Environments claimed by other state directories: never ours to clean up. */
  foreign(): Set<string> {
    let names: string[] = [];
    try {
      names = readdirSync(this.dir);
    } catch {
      return new Set();
    }
    return new Set(names.filter((env) => this.owner(env) !== this.stateDir));
  }
}

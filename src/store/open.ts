import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { RampartError } from '../platform/errors.ts';
import { openPostgresStore, redactUrl } from './postgres.ts';
import { openSqliteStore } from './sqlite.ts';
import type { Store } from './types.ts';

export interface OpenStoreOptions {
  /** RAMPART_DATABASE_URL; when absent the embedded store is used. */
  url?: string;
  /** The state directory (RAMPART_HOME); the embedded store lives in `<stateDir>/state.db`. */
  stateDir: string;
}

export const STATE_DB_FILE = 'state.db';
const POSTGRES_SCHEMES = ['postgres:', 'postgresql:', 'cockroachdb:'];

/**
 * Picks the driver: a `postgres://`, `postgresql://` or `cockroachdb://` URL selects PostgreSQL /
 * CockroachDB, no URL the embedded SQLite file. Does not migrate: call `store.migrate()` next.
 */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  const url = options.url?.trim();
  if (url) {
    let scheme: string;
    try {
      scheme = new URL(url).protocol;
    } catch {
      throw new RampartError('RAMPART_E_STORE', `RAMPART_DATABASE_URL is not a URL: ${redactUrl(url)}`, {
        fix: 'Use postgres://user:password@host:5432/database (or cockroachdb://…), or unset it for the embedded store.',
      });
    }
    if (!POSTGRES_SCHEMES.includes(scheme)) {
      throw new RampartError(
        'RAMPART_E_STORE',
        `RAMPART_DATABASE_URL has the unsupported scheme '${scheme}'`,
        {
          fix: 'Use postgres://, postgresql:// or cockroachdb://, or unset it for the embedded store.',
        },
      );
    }
    return openPostgresStore({ url });
  }
  mkdirSync(options.stateDir, { recursive: true, mode: 0o700 });
  return openSqliteStore({ file: join(options.stateDir, STATE_DB_FILE) });
}

import { randomBytes } from 'node:crypto';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from 'node:fs';
import { join } from 'node:path';
import { RampartError } from '../platform/errors.ts';
import { processStartTime } from '../runtime/index.ts';

/**
 * Layout of the state directory:
 *   token         API token (0600)          daemon.json   where the daemon listens, its pid
 *   daemon.lock   pid of the daemon that owns this directory
 *   state.db      embedded store            secret.key    key for secrets at rest (0600)
 *   logs/<env>/<namespace>/<service>-<i>.{out,err}.log, .journal.jsonl
 *   data/<env>/<database>/  database files (survive `down`)
 *   releases/<service>/<id>/  immutable release copies replicas run from; releases/_deps/<hash>/
 *                           node_modules hard-linked per lockfile (docs/decisions/0005-releases.md)
 */
export function ensureStateDir(stateDir: string): void {
  mkdirSync(stateDir, { recursive: true, mode: 0o711 });
  // Traversable (not readable) by the service and postgres users, who need their own subfolders.
  chmodSync(stateDir, 0o711);
}

export function loadOrCreateToken(stateDir: string): string {
  const file = join(stateDir, 'token');
  if (existsSync(file)) return readFileSync(file, 'utf8').trim();
  const token = randomBytes(32).toString('base64url');
  writeFileSync(file, `${token}\n`, { mode: 0o600, flag: 'wx' });
  return token;
}

export function readToken(stateDir: string): string | undefined {
  try {
    return readFileSync(join(stateDir, 'token'), 'utf8').trim();
  } catch {
    return undefined;
  }
}

/**
 * One daemon per state directory (two would fight over the same kernel objects and, with the
 * embedded store, corrupt it). A lock left by a dead daemon is taken over.
 */
export function acquireLock(stateDir: string): () => void {
  const file = join(stateDir, 'daemon.lock');
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600);
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(file, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (pid && pid !== process.pid && processStartTime(pid) !== undefined) {
        throw new RampartError(
          'RAMPART_E_STATE_LOCKED',
          `state directory ${stateDir} is in use by daemon pid ${pid}`,
          { pid },
        );
      }
      rmSync(file, { force: true });
    }
  }
  throw new RampartError('RAMPART_E_STATE_LOCKED', `cannot lock ${file}`);
}

export interface DaemonInfo {
  url: string;
  pid: number;
  startedAt: number;
}

export function writeDaemonInfo(stateDir: string, info: DaemonInfo): void {
  writeFileSync(join(stateDir, 'daemon.json'), JSON.stringify(info), { mode: 0o600 });
}

export function readDaemonInfo(stateDir: string): DaemonInfo | undefined {
  try {
    return JSON.parse(readFileSync(join(stateDir, 'daemon.json'), 'utf8')) as DaemonInfo;
  } catch {
    return undefined;
  }
}

export function removeDaemonInfo(stateDir: string): void {
  rmSync(join(stateDir, 'daemon.json'), { force: true });
}

import { readFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { RampartError } from '../platform/errors.ts';
import { parsePackageLock } from './lockfile-npm.ts';
import { parsePnpmLock } from './lockfile-pnpm.ts';
import { parseYarnLock, type RootManifest } from './lockfile-yarn.ts';
import type { Inventory } from './types.ts';

/** Lockfile names in the order they are looked for in a folder. */
export const LOCKFILE_NAMES = [
  'npm-shrinkwrap.json',
  'package-lock.json',
  'pnpm-lock.yaml',
  'yarn.lock',
] as const;

/** Pure: reads a lockfile's text by its file name. */
export function parseLockfile(text: string, file: string, manifest?: RootManifest): Inventory {
  const name = basename(file);
  if (name.endsWith('.json')) return parsePackageLock(text, file);
  if (name === 'pnpm-lock.yaml') return parsePnpmLock(text, file);
  if (name === 'yarn.lock') return parseYarnLock(text, file, manifest);
  throw new RampartError('RAMPART_E_LOCKFILE', `${file}: not a lockfile Rampart reads`, {
    file,
    fix: `give one of ${LOCKFILE_NAMES.join(', ')}`,
  });
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
}

/**
 * Finds the lockfile of a folder (or of the nearest parent up to `stopAt`, for a workspace member) and
 * reads it. A path to a lockfile itself is read directly.
 */
export async function readInventory(path: string, opts: { stopAt?: string } = {}): Promise<Inventory> {
  if ((LOCKFILE_NAMES as readonly string[]).includes(basename(path))) return readLockfileAt(path);
  let dir = path;
  for (;;) {
    for (const name of LOCKFILE_NAMES) {
      const file = join(dir, name);
      const text = await readIfExists(file);
      if (text !== undefined) return parseWithManifest(text, file);
    }
    const parent = dirname(dir);
    if (parent === dir || dir === opts.stopAt) break;
    dir = parent;
  }
  throw new RampartError(
    'RAMPART_E_LOCKFILE',
    `no lockfile in ${path}${opts.stopAt ? ` or above up to ${opts.stopAt}` : ''}`,
    {
      file: path,
      fix: `run \`npm install\` there to write package-lock.json (Rampart reads ${LOCKFILE_NAMES.join(', ')})`,
    },
  );
}

async function readLockfileAt(file: string): Promise<Inventory> {
  const text = await readIfExists(file);
  if (text === undefined)
    throw new RampartError('RAMPART_E_LOCKFILE', `${file} does not exist`, { file, fix: 'check the path' });
  return parseWithManifest(text, file);
}

async function parseWithManifest(text: string, file: string): Promise<Inventory> {
  let manifest: RootManifest | undefined;
  if (basename(file) === 'yarn.lock') {
    const pkg = await readIfExists(join(dirname(file), 'package.json'));
    try {
      manifest = pkg === undefined ? undefined : (JSON.parse(pkg) as RootManifest);
    } catch {
      manifest = undefined;
    }
  }
  return parseLockfile(text, file, manifest);
}
